"""COCO-style average precision on numpy arrays, matching pycocotools' ``COCOeval`` (bbox, area range "all").

Per image and class, detections (best score first, at most ``max_dets``) are matched greedily to ground truth at
each IoU threshold (.50:.05:.95): a detection takes the unmatched, not-ignored ground-truth box it overlaps most
(IoU >= threshold); failing that, an ignored box (ignore flag or crowd) — and then the detection is ignored, neither
true nor false positive. Crowd boxes may absorb many detections, and their overlap is intersection over the
detection's area. Unmatched detections flagged ``dt_ignore`` (e.g. below a minimum height) are ignored too.
Precision is made monotone and read at 101 recall points (0, .01, ..., 1); AP is their mean. A class with no
non-ignored ground truth has no AP (``None``) and is left out of the mean, as in COCO.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

IOU_THRESHOLDS: npt.NDArray[np.float64] = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS: npt.NDArray[np.float64] = np.linspace(0.0, 1.0, 101)
MAX_DETS = 100

F64 = npt.NDArray[np.float64]
BoolArr = npt.NDArray[np.bool_]


def overlap_matrix(dt: F64, gt: F64, gt_crowd: BoolArr) -> F64:
    """IoU (len(dt), len(gt)); for crowd ground truth, intersection over the detection's area (COCO's rule)."""
    dt = np.asarray(dt, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    if len(dt) == 0 or len(gt) == 0:
        return np.zeros((len(dt), len(gt)))
    iw = np.minimum(dt[:, None, 2], gt[None, :, 2]) - np.maximum(dt[:, None, 0], gt[None, :, 0])
    ih = np.minimum(dt[:, None, 3], gt[None, :, 3]) - np.maximum(dt[:, None, 1], gt[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    a_dt = (dt[:, 2] - dt[:, 0]) * (dt[:, 3] - dt[:, 1])
    a_gt = (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1])
    union = np.where(np.asarray(gt_crowd, bool)[None, :], a_dt[:, None], a_dt[:, None] + a_gt[None, :] - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


@dataclass
class ImageMatch:
    """Matching of one image and one class. Detection arrays are in score order (best first), cut at max_dets."""

    det_index: npt.NDArray[np.int64]  # (D,) index of each detection in the caller's input order
    scores: F64  # (D,)
    matched: BoolArr  # (T, D) matched a ground-truth box (ignored or not) at threshold t
    ignored: BoolArr  # (T, D) neither true nor false positive at threshold t
    gt_match: npt.NDArray[np.int64]  # (T, G) matched detection (input index) per ground-truth box, -1 if none
    n_gt: int  # ground-truth boxes that count (not ignored)


def match_image(
    gt: F64,
    dt: F64,
    scores: F64,
    *,
    gt_ignore: BoolArr | None = None,
    gt_crowd: BoolArr | None = None,
    dt_ignore: BoolArr | None = None,
    iou_thresholds: Sequence[float] | F64 = IOU_THRESHOLDS,
    max_dets: int = MAX_DETS,
) -> ImageMatch:
    """Greedy COCO matching for one image and one class (see the module docstring)."""
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    dt = np.asarray(dt, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    g, thr = len(gt), np.asarray(iou_thresholds, dtype=np.float64)
    crowd = np.zeros(g, bool) if gt_crowd is None else np.asarray(gt_crowd, bool)
    ign = crowd.copy() if gt_ignore is None else (np.asarray(gt_ignore, bool) | crowd)
    d_ign_in = np.zeros(len(dt), bool) if dt_ignore is None else np.asarray(dt_ignore, bool)
    order = np.argsort(-scores, kind="mergesort")[:max_dets]
    dt, scores, d_ign_in = dt[order], scores[order], d_ign_in[order]
    gorder = np.argsort(ign, kind="mergesort")  # counted ground truth first, ignored last
    gt, crowd, ign = gt[gorder], crowd[gorder], ign[gorder]
    ious = overlap_matrix(dt, gt, crowd)
    t_n, d_n = len(thr), len(dt)
    gtm = np.full((t_n, g), -1, dtype=np.int64)
    dtm = np.full((t_n, d_n), -1, dtype=np.int64)
    dt_ig = np.zeros((t_n, d_n), bool)
    for ti, t in enumerate(thr):
        for di in range(d_n):
            best = min(float(t), 1 - 1e-10)
            m = -1
            for gi in range(g):
                if gtm[ti, gi] >= 0 and not crowd[gi]:
                    continue
                if m > -1 and not ign[m] and ign[gi]:
                    break
                if ious[di, gi] < best:
                    continue
                best = float(ious[di, gi])
                m = gi
            if m == -1:
                continue
            dt_ig[ti, di] = ign[m]
            dtm[ti, di] = m
            gtm[ti, m] = di
    matched = dtm >= 0
    ignored = dt_ig | (~matched & d_ign_in[None, :])
    gt_match = np.full((t_n, g), -1, dtype=np.int64)
    if d_n:
        gt_match[:, gorder] = np.where(gtm >= 0, order[np.clip(gtm, 0, None)], -1)
    return ImageMatch(
        det_index=order.astype(np.int64),
        scores=scores,
        matched=matched,
        ignored=ignored,
        gt_match=gt_match,
        n_gt=int((~ign).sum()),
    )


@dataclass
class ClassCurve:
    """Accumulated result for one class over all images."""

    name: str
    n_gt: int
    n_det: int
    iou_thresholds: F64
    precision: F64  # (T, R) interpolated precision at the recall thresholds; -1 where undefined (no ground truth)
    recall: F64  # (T,) final recall; -1 without ground truth
    score_at: F64  # (T, R) detection score where each recall threshold is reached (0 if never)
    raw_precision: list[F64] = field(default_factory=list)  # per threshold, precision after each detection
    raw_recall: list[F64] = field(default_factory=list)
    raw_scores: F64 = field(default_factory=lambda: np.zeros(0))

    @property
    def ap(self) -> float | None:
        return None if self.n_gt == 0 else float(self.precision.mean())

    def ap_at(self, iou: float) -> float | None:
        if self.n_gt == 0:
            return None
        hit = np.flatnonzero(np.isclose(self.iou_thresholds, iou))
        if not len(hit):
            raise ValueError(f"IoU {iou} was not evaluated; thresholds: {self.iou_thresholds.round(2).tolist()}")
        return float(self.precision[int(hit[0])].mean())


def accumulate(
    name: str, matches: Sequence[ImageMatch], iou_thresholds: Sequence[float] | F64 = IOU_THRESHOLDS
) -> ClassCurve:
    """COCOeval.accumulate for one class: all images' detections pooled and sorted by score."""
    thr = np.asarray(iou_thresholds, dtype=np.float64)
    n_thresholds = len(thr)
    r_n = len(RECALL_THRESHOLDS)
    n_gt = sum(m.n_gt for m in matches)
    if matches:
        scores = np.concatenate([m.scores for m in matches])
        matched = np.concatenate([m.matched for m in matches], axis=1)
        ignored = np.concatenate([m.ignored for m in matches], axis=1)
    else:
        scores = np.zeros(0)
        matched = ignored = np.zeros((n_thresholds, 0), bool)
    order = np.argsort(-scores, kind="mergesort")
    scores, matched, ignored = scores[order], matched[:, order], ignored[:, order]
    if n_gt == 0:
        neg = -np.ones((n_thresholds, r_n))
        n_det = int((~ignored[0]).sum()) if len(ignored) else 0
        return ClassCurve(name, 0, n_det, thr, neg, -np.ones(n_thresholds), np.zeros_like(neg))
    tps = matched & ~ignored
    fps = ~matched & ~ignored
    tp_sum = np.cumsum(tps, axis=1).astype(np.float64)
    fp_sum = np.cumsum(fps, axis=1).astype(np.float64)
    precision = np.zeros((n_thresholds, r_n))
    score_at = np.zeros((n_thresholds, r_n))
    recall = np.zeros(n_thresholds)
    raw_p: list[F64] = []
    raw_r: list[F64] = []
    for t in range(n_thresholds):
        tp, fp = tp_sum[t], fp_sum[t]
        nd = len(tp)
        rc = tp / n_gt
        pr = tp / (fp + tp + np.spacing(1))
        raw_p.append(pr.copy())
        raw_r.append(rc.copy())
        recall[t] = rc[-1] if nd else 0.0
        if nd:
            pr = np.maximum.accumulate(pr[::-1])[::-1]  # precision envelope
        inds = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
        ok = inds < nd
        precision[t, ok] = pr[inds[ok]]
        score_at[t, ok] = scores[inds[ok]]
    return ClassCurve(
        name,
        n_gt,
        int((~ignored[0]).sum()) if len(ignored) else 0,
        thr,
        precision,
        recall,
        score_at,
        raw_p,
        raw_r,
        scores,
    )


def mean_ap(curves: Sequence[ClassCurve], iou: float | None = None) -> float | None:
    """Mean over classes that have ground truth (COCO's overall AP); ``iou`` picks one threshold (0.5, 0.75)."""
    vals = [c.ap if iou is None else c.ap_at(iou) for c in curves]
    kept = [v for v in vals if v is not None]
    return float(np.mean(kept)) if kept else None
