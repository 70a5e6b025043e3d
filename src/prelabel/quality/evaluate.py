"""Evaluate a label set against ground truth: COCO-style AP, AP50, AP75 per class on :class:`FrameRecord` s.

Predictions and ground truth are paired by frame id (falling back to the file stem of the frame's URI). Class
names are mapped first (``class_map`` for predictions, ``gt_class_map`` for ground truth; a name mapped to ``None``
is dropped). Ground-truth labels whose category is in ``ignore_categories`` (KITTI ``DontCare``) become ignore
regions for every class; labels with a truthy ``crowd``/``iscrowd``/``ignore`` attribute are crowd boxes of their
class. ``neighbours`` makes some ground-truth classes "don't care" for an evaluated class (KITTI counts neither a
hit nor a miss on a Van for Car). Boxes lower than ``min_height`` pixels are ignored: such ground truth is not
counted and such detections, if unmatched, are not false positives.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.labels import FrameRecord, Label
from prelabel.quality.ap import (
    IOU_THRESHOLDS,
    MAX_DETS,
    ClassCurve,
    ImageMatch,
    accumulate,
    match_image,
    mean_ap,
)

ClassMapLike = Mapping[str, str | None] | Callable[[str], str | None]

_CROWD_KEYS = ("crowd", "iscrowd", "ignore")

KITTI_CLASSES = ("Car", "Pedestrian", "Cyclist")
KITTI_NEIGHBOURS: dict[str, tuple[str, ...]] = {"Car": ("Van",), "Pedestrian": ("Person_sitting",)}
KITTI_MIN_HEIGHT = 25.0


@dataclass
class EvalConfig:
    classes: Sequence[str] | None = None  # evaluated classes; default: every mapped GT or prediction class
    class_map: ClassMapLike | None = None  # prediction category -> evaluated class (None drops)
    gt_class_map: ClassMapLike | None = None  # ground-truth category -> evaluated class (None drops)
    ignore_categories: Sequence[str] = ("DontCare",)
    neighbours: Mapping[str, Sequence[str]] = field(default_factory=dict)
    min_height: float = 0.0
    max_dets: int = MAX_DETS
    inclusive_pixels: bool = False  # x2/y2 are the last pixel inside the box (Scalabel/BDD): width = x2 - x1 + 1
    iou_thresholds: Sequence[float] = tuple(float(t) for t in IOU_THRESHOLDS)


def kitti_config(class_map: ClassMapLike | None = None) -> EvalConfig:
    """KITTI 2D: Car/Pedestrian/Cyclist, DontCare regions ignored, boxes under 25 px high ignored, Van and
    Person_sitting neither hits nor misses. Predictions go through ``class_map`` (default: the shipped
    ``coco80-to-kitti`` map)."""
    if class_map is None:
        from prelabel.core.classmap import ClassMap

        class_map = ClassMap.load("coco80-to-kitti").map
    return EvalConfig(
        classes=KITTI_CLASSES,
        class_map=class_map,
        ignore_categories=("DontCare",),
        neighbours=KITTI_NEIGHBOURS,
        min_height=KITTI_MIN_HEIGHT,
    )


@dataclass
class EvalResult:
    curves: dict[str, ClassCurve]
    frames: int
    config: EvalConfig
    unmatched_prediction_frames: list[str] = field(default_factory=list)  # predicted frames not in the ground truth
    frames_without_predictions: list[str] = field(default_factory=list)  # ground-truth frames with no record
    # per (predicted frame id, label id): matched to counted ground truth at the IoU threshold nearest 0.5 (True),
    # a false positive (False), or ignored (None)
    outcomes: dict[tuple[str, str], bool | None] = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return list(self.curves)

    def ap(self, name: str | None = None, iou: float | None = None) -> float | None:
        """AP in [0, 1]: over .50:.95 (``iou=None``) or at one threshold; one class or the mean over classes."""
        if name is None:
            return mean_ap(list(self.curves.values()), iou)
        c = self.curves[name]
        return c.ap if iou is None else c.ap_at(iou)

    def summary(self) -> dict[str, float | None]:
        return {"AP": self.ap(), "AP50": self.ap(iou=0.5), "AP75": self.ap(iou=0.75)}

    def rows(self) -> list[dict[str, Any]]:
        """One row per class plus ``all``: class, gt, det, AP, AP50, AP75 (fractions; None without ground truth)."""
        out = [
            {"class": n, "gt": c.n_gt, "det": c.n_det, "AP": c.ap, "AP50": c.ap_at(0.5), "AP75": c.ap_at(0.75)}
            for n, c in self.curves.items()
        ]
        s = self.summary()
        out.append(
            {
                "class": "all",
                "gt": sum(c.n_gt for c in self.curves.values()),
                "det": sum(c.n_det for c in self.curves.values()),
                **s,
            }
        )
        return out

    def pr_points(self, iou: float = 0.5) -> dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
        """Per class with ground truth: (recall, precision) after each detection in score order, precision made
        monotone (the curve AP integrates)."""
        out = {}
        for name, c in self.curves.items():
            if c.n_gt == 0 or not c.raw_recall:
                continue
            t = int(np.flatnonzero(np.isclose(c.iou_thresholds, iou))[0])
            rec, prec = c.raw_recall[t], c.raw_precision[t]
            env = np.maximum.accumulate(prec[::-1])[::-1] if len(prec) else prec
            out[name] = (np.concatenate([[0.0], rec]), np.concatenate([[env[0] if len(env) else 0.0], env]))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "summary": self.summary(),
            "classes": self.rows()[:-1],
            "unmatched_prediction_frames": self.unmatched_prediction_frames,
            "frames_without_predictions": self.frames_without_predictions,
        }


def mapper(m: ClassMapLike | None) -> Callable[[str], str | None]:
    """A class map as a function: dict (unlisted names kept), callable, or an object with ``map``/``get``."""
    if m is None:
        return lambda name: name
    if isinstance(m, Mapping):
        return lambda name: m.get(name, name)
    fn = getattr(m, "map", None)
    if callable(fn):
        return fn
    if callable(m):
        return m
    raise TypeError(f"class map must be a mapping or a callable; got {type(m).__name__}")


def _stem(uri: str) -> str:
    return Path(uri.split("?")[0]).stem


def pair_records(
    predictions: Iterable[FrameRecord], ground_truth: Iterable[FrameRecord]
) -> tuple[list[tuple[FrameRecord | None, FrameRecord]], list[str]]:
    """(prediction or None, ground truth) per ground-truth frame, and ids of predicted frames with no ground truth."""
    gts = list(ground_truth)
    by_id = {g.frame.id: i for i, g in enumerate(gts)}
    by_stem: dict[str, int] = {}
    for gi, g in enumerate(gts):
        by_stem.setdefault(_stem(g.frame.uri), gi)
        by_stem.setdefault(_stem(g.frame.id), gi)
    paired: list[FrameRecord | None] = [None] * len(gts)
    unmatched: list[str] = []
    for p in predictions:
        i: int | None = by_id.get(p.frame.id)
        if i is None:
            i = by_stem.get(_stem(p.frame.uri), by_stem.get(_stem(p.frame.id)))
        if i is None:
            unmatched.append(p.frame.id)
            continue
        if paired[i] is not None:
            raise ValueError(f"frame {gts[i].frame.id}: more than one prediction record pairs with it")
        paired[i] = p
    return list(zip(paired, gts, strict=True)), unmatched


def label_box(label: Label) -> tuple[float, float, float, float] | None:
    if label.box is not None:
        return label.box.xyxy
    if label.polygon is not None:
        return label.polygon.bounds().xyxy
    return None


def _is_crowd(label: Label) -> bool:
    return any(bool(label.attributes.get(k)) for k in _CROWD_KEYS)


@dataclass
class _FrameTables:
    gt: dict[str, list[tuple[tuple[float, float, float, float], bool, bool]]]  # class -> (box, ignore, crowd)
    regions: list[tuple[float, float, float, float]]  # ignore regions for all classes
    dt: dict[str, list[tuple[tuple[float, float, float, float], float, str]]]  # class -> (box, score, label id)


def _tables(
    pred: FrameRecord | None,
    gt: FrameRecord,
    cfg: EvalConfig,
    pmap: Callable[[str], str | None],
    gmap: Callable[[str], str | None],
) -> _FrameTables:
    t = _FrameTables(defaultdict(list), [], defaultdict(list))
    ignore_cats = set(cfg.ignore_categories)
    for lab in gt.labels:
        box = label_box(lab)
        if box is None:
            continue
        if lab.category in ignore_cats:
            t.regions.append(box)
            continue
        name = gmap(lab.category)
        if name is None:
            continue
        if name in ignore_cats:
            t.regions.append(box)
            continue
        small = (box[3] - box[1]) < cfg.min_height
        t.gt[name].append((box, small, _is_crowd(lab)))
    if pred is not None and pred.status == "ok":
        for lab in pred.labels:
            box = label_box(lab)
            if box is None:
                continue
            name = pmap(lab.category)
            if name is None:
                continue
            t.dt[name].append((box, 1.0 if lab.score is None else float(lab.score), lab.id))
    return t


def _arr(boxes: Sequence[tuple[float, float, float, float]], plus: float) -> npt.NDArray[np.float64]:
    a = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    if plus:
        a[:, 2:] += plus
    return a


def evaluate(
    predictions: Iterable[FrameRecord],
    ground_truth: Iterable[FrameRecord],
    config: EvalConfig | None = None,
) -> EvalResult:
    """COCO-style evaluation of ``predictions`` against ``ground_truth`` (see the module docstring)."""
    cfg = config or EvalConfig()
    pmap, gmap = mapper(cfg.class_map), mapper(cfg.gt_class_map)
    pairs, unmatched = pair_records(predictions, ground_truth)
    if unmatched:
        warnings.warn(
            f"{len(unmatched)} predicted frames have no ground truth and were skipped "
            f"(first: {unmatched[:3]}); frames pair by id or file stem",
            stacklevel=2,
        )
    tables = [(p, g, _tables(p, g, cfg, pmap, gmap)) for p, g in pairs]
    if cfg.classes is not None:
        classes = list(cfg.classes)
    else:
        found: set[str] = set()
        for _p, _g, t in tables:
            found.update(t.gt)
            found.update(t.dt)
        classes = sorted(found)
    plus = 1.0 if cfg.inclusive_pixels else 0.0
    thr = np.asarray(cfg.iou_thresholds, dtype=np.float64)
    t50 = int(np.argmin(np.abs(thr - 0.5)))
    per_class: dict[str, list[ImageMatch]] = {c: [] for c in classes}
    outcomes: dict[tuple[str, str], bool | None] = {}
    for p, g, t in tables:
        for c in classes:
            gt_rows = list(t.gt.get(c, []))
            for nb in cfg.neighbours.get(c, ()):
                gt_rows += [(b, True, False) for b, _s, _cr in t.gt.get(nb, [])]
            gt_rows += [(b, True, True) for b in t.regions]
            dts = t.dt.get(c, [])
            if not gt_rows and not dts:
                continue
            gt_boxes = _arr([r[0] for r in gt_rows], plus)
            dt_boxes = _arr([d[0] for d in dts], plus)
            dt_small = (dt_boxes[:, 3] - dt_boxes[:, 1]) < cfg.min_height if cfg.min_height else None
            m = match_image(
                gt_boxes,
                dt_boxes,
                np.asarray([d[1] for d in dts], dtype=np.float64),
                gt_ignore=np.asarray([r[1] for r in gt_rows], bool),
                gt_crowd=np.asarray([r[2] for r in gt_rows], bool),
                dt_ignore=dt_small,
                iou_thresholds=thr,
                max_dets=cfg.max_dets,
            )
            per_class[c].append(m)
            for j, di in enumerate(m.det_index):
                lid = dts[int(di)][2]
                outcomes[(p.frame.id if p is not None else g.frame.id, lid)] = (
                    None if m.ignored[t50, j] else bool(m.matched[t50, j])
                )
    curves = {c: accumulate(c, per_class[c], thr) for c in classes}
    return EvalResult(
        curves=curves,
        frames=len(pairs),
        config=cfg,
        unmatched_prediction_frames=unmatched,
        frames_without_predictions=[g.frame.id for p, g in pairs if p is None],
        outcomes=outcomes,
    )
