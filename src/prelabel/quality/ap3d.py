"""3D detection metrics: KITTI-style BEV and 3D AP, nuScenes-style centre-distance AP, and box-error figures.

KITTI rules (``devkit_object/cpp/evaluate_object.cpp``): per class, a ground-truth box counts when it meets the
difficulty (2D height >= ``min_height`` px, occlusion <= ``max_occlusion``, truncation <= ``max_truncation``);
boxes of the class that miss it, boxes of the neighbouring class (Van for Car, Person_sitting for Pedestrian) are
*ignored*: a detection matched to one is neither true nor false positive. So is an unmatched detection whose 2D box is
lower than ``min_height`` or lies mostly (intersection over its area > 0.5) in a ``DontCare`` region. Detections
are matched greedily, best score first, each to the unmatched counting box it overlaps most (IoU >= threshold), else
to an ignored one. Precision is made monotone and read at 40 recall points (1/40 ... 1): AP|R40.

nuScenes rules (``nuscenes.eval.detection``): matching by centre distance on the ground (0.5, 1, 2, 4 m), precision
read at 101 recall points, AP = mean over recall >= 0.1 of max(precision - 0.1, 0) / 0.9.

Boxes are arrays in the ``boxes3d`` layout (z-up); the caller brings ground truth and detections into one frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from prelabel.core.geometry import boxes3d as b3

F64 = npt.NDArray[np.float64]
KITTI_RECALLS = np.linspace(1.0 / 40.0, 1.0, 40)
NUSC_RECALLS = np.linspace(0.0, 1.0, 101)
NEIGHBOURS = {"Car": ("Van",), "Pedestrian": ("Person_sitting",)}
DIFFICULTY = {"easy": (40.0, 0, 0.15), "moderate": (25.0, 1, 0.3), "hard": (25.0, 2, 0.5)}


@dataclass
class FrameBoxes:
    """One frame's boxes for evaluation, all in the same z-up frame."""

    gt_boxes: F64  # (G, 7)
    gt_classes: list[str]
    gt_height_px: F64  # (G,) 2D box height; inf when unknown
    gt_occluded: npt.NDArray[np.int64]  # (G,)
    gt_truncated: F64  # (G,)
    det_boxes: F64  # (D, 7)
    det_classes: list[str]
    det_scores: F64  # (D,)
    det_height_px: F64  # (D,) 2D height of the detection; inf when unknown
    det_in_dontcare: npt.NDArray[np.bool_]  # (D,)


@dataclass
class Curve:
    """Matches of one class at one threshold over all frames."""

    scores: list[float] = field(default_factory=list)
    tp: list[bool] = field(default_factory=list)
    n_gt: int = 0
    pairs: list[tuple[F64, F64]] = field(default_factory=list)  # (gt box, det box) of true positives

    def precision_at(self, recalls: F64) -> F64:
        if self.n_gt == 0:
            return np.zeros(len(recalls))
        order = np.argsort(-np.asarray(self.scores), kind="stable")
        tp = np.asarray(self.tp, dtype=bool)[order]
        ctp = np.cumsum(tp)
        cfp = np.cumsum(~tp)
        rec = ctp / self.n_gt
        prec = ctp / np.maximum(ctp + cfp, 1)
        prec = np.maximum.accumulate(prec[::-1])[::-1] if len(prec) else prec  # monotone
        out = np.zeros(len(recalls))
        for i, r in enumerate(recalls):
            idx = np.searchsorted(rec, r - 1e-12, side="left")
            out[i] = prec[idx] if idx < len(prec) else 0.0
        return out

    def ap_r40(self) -> float | None:
        return None if self.n_gt == 0 else float(self.precision_at(KITTI_RECALLS).mean())

    def ap_nuscenes(self, min_recall: float = 0.1, min_precision: float = 0.1) -> float | None:
        if self.n_gt == 0:
            return None
        prec = self.precision_at(NUSC_RECALLS)[min_recall - 1e-12 <= NUSC_RECALLS]
        return float(np.mean(np.clip(prec - min_precision, 0.0, None)) / (1.0 - min_precision))


def _gt_state(f: FrameBoxes, cls: str, difficulty: tuple[float, int, float]) -> tuple[list[int], list[int]]:
    """Indices of counting and of ignored ground truth for ``cls``."""
    min_h, max_occ, max_trunc = difficulty
    counting: list[int] = []
    ignored: list[int] = []
    for i, c in enumerate(f.gt_classes):
        if c == cls:
            ok = f.gt_height_px[i] >= min_h and f.gt_occluded[i] <= max_occ and f.gt_truncated[i] <= max_trunc
            (counting if ok else ignored).append(i)
        elif c in NEIGHBOURS.get(cls, ()):
            ignored.append(i)
    return counting, ignored


def match_frame(
    f: FrameBoxes,
    cls: str,
    overlap: Callable[[F64, F64], F64],
    threshold: float,
    curve: Curve,
    *,
    difficulty: tuple[float, int, float] = DIFFICULTY["moderate"],
    higher_is_better: bool = True,
) -> None:
    """Add one frame's matches for ``cls`` to ``curve``; ``overlap`` gives (D, G) scores (IoU or distance)."""
    counting, ignored = _gt_state(f, cls, difficulty)
    dets = [i for i, c in enumerate(f.det_classes) if c == cls]
    curve.n_gt += len(counting)
    if not dets:
        return
    dets.sort(key=lambda i: -f.det_scores[i])
    gts = counting + ignored
    ov = overlap(f.det_boxes[dets], f.gt_boxes[gts]) if gts else np.zeros((len(dets), 0))
    if not higher_is_better:
        ov = -ov
        threshold = -threshold
    used = np.zeros(len(gts), dtype=bool)
    n_count = len(counting)
    for k, d in enumerate(dets):
        row = np.where(used, -np.inf, ov[k])
        best = -1
        if n_count and row[:n_count].max() >= threshold:
            best = int(np.argmax(row[:n_count]))
        elif len(gts) > n_count and row[n_count:].max() >= threshold:
            best = n_count + int(np.argmax(row[n_count:]))
        if best >= 0:
            used[best] = True
            if best < n_count:
                curve.scores.append(float(f.det_scores[d]))
                curve.tp.append(True)
                curve.pairs.append((f.gt_boxes[gts[best]], f.det_boxes[d]))
            continue
        if f.det_height_px[d] < difficulty[0] or f.det_in_dontcare[d]:
            continue  # ignored: too small or in a DontCare region
        curve.scores.append(float(f.det_scores[d]))
        curve.tp.append(False)


def kitti_ap(
    frames: Sequence[FrameBoxes], cls: str, iou: float, *, bev: bool, difficulty: str = "moderate"
) -> tuple[float | None, Curve]:
    """KITTI AP|R40 for one class at one IoU threshold, BEV or 3D."""
    curve = Curve()
    fn = b3.bev_iou if bev else b3.iou3d
    for f in frames:
        match_frame(f, cls, fn, iou, curve, difficulty=DIFFICULTY[difficulty])
    return curve.ap_r40(), curve


def nuscenes_ap(
    frames: Sequence[FrameBoxes], cls: str, distance: float, *, difficulty: str = "hard"
) -> tuple[float | None, Curve]:
    """nuScenes-style AP for one class at one centre-distance threshold (metres)."""
    curve = Curve()
    for f in frames:
        match_frame(f, cls, b3.centre_distance, distance, curve, difficulty=DIFFICULTY[difficulty],
                    higher_is_better=False)  # fmt: skip
    return curve.ap_nuscenes(), curve


def box_errors(pairs: Sequence[tuple[F64, F64]]) -> dict[str, float | None]:
    """Mean errors of matched (ground truth, detection) pairs: centre (m, ground plane), size (1 - IoU of the two
    boxes aligned on centre and yaw, as nuScenes' ASE), yaw (rad, modulo a full turn) and the flipped share (yaw
    off by more than 90 degrees: front and back swapped)."""
    if not pairs:
        return {"centre_m": None, "size_1_minus_iou": None, "yaw_rad": None, "flipped": None}
    g = np.array([p[0] for p in pairs])
    d = np.array([p[1] for p in pairs])
    centre = np.hypot(g[:, 0] - d[:, 0], g[:, 1] - d[:, 1])
    aligned = d.copy()
    aligned[:, [0, 1, 2, 6]] = g[:, [0, 1, 2, 6]]
    size = 1.0 - np.array([b3.iou3d(g[i], aligned[i])[0, 0] for i in range(len(g))])
    yaw = np.abs(b3.wrap_angle(d[:, 6] - g[:, 6]))
    return {
        "centre_m": float(centre.mean()),
        "size_1_minus_iou": float(size.mean()),
        "yaw_rad": float(np.minimum(yaw, np.pi - yaw).mean()),
        "flipped": float((yaw > np.pi / 2).mean()),
    }


def no_edit_share(frames: Sequence[FrameBoxes], cls: str, iou: float, min_height_px: float = 25.0) -> float | None:
    """Share of ground-truth boxes of ``cls`` (2D height >= ``min_height_px``) that some detection of the class
    overlaps at 3D IoU >= ``iou`` (one detection per box, best score first): the boxes a person need not edit."""
    hit = total = 0
    for f in frames:
        gts = [i for i, c in enumerate(f.gt_classes) if c == cls and f.gt_height_px[i] >= min_height_px]
        dets = sorted((i for i, c in enumerate(f.det_classes) if c == cls), key=lambda i: -f.det_scores[i])
        total += len(gts)
        if not gts or not dets:
            continue
        ov = b3.iou3d(f.det_boxes[dets], f.gt_boxes[gts])
        used = np.zeros(len(gts), dtype=bool)
        for k in range(len(dets)):
            row = np.where(used, -1.0, ov[k])
            j = int(np.argmax(row))
            if row[j] >= iou:
                used[j] = True
        hit += int(used.sum())
    return None if total == 0 else hit / total
