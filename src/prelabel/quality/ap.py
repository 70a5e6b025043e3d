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

from prelabel.core.geometry.boxes2d import overlap_stacked

IOU_THRESHOLDS: npt.NDArray[np.float64] = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS: npt.NDArray[np.float64] = np.linspace(0.0, 1.0, 101)
MAX_DETS = 100

F64 = npt.NDArray[np.float64]
BoolArr = npt.NDArray[np.bool_]


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
    """Greedy COCO matching for one image and one class (see the module docstring): :func:`match_batch` on one."""
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    dt = np.asarray(dt, dtype=np.float64).reshape(-1, 4)
    g, d = len(gt), len(dt)
    crowd = np.zeros(g, bool) if gt_crowd is None else np.asarray(gt_crowd, bool)
    ign = crowd.copy() if gt_ignore is None else (np.asarray(gt_ignore, bool) | crowd)
    m = match_batch(
        np.zeros(g, np.int64),
        gt,
        ign,
        crowd,
        np.zeros(d, np.int64),
        dt,
        np.asarray(scores, dtype=np.float64).reshape(-1),
        np.zeros(d, bool) if dt_ignore is None else np.asarray(dt_ignore, bool),
        n_units=1,
        iou_thresholds=iou_thresholds,
        max_dets=max_dets,
    )
    return ImageMatch(
        det_index=m.det_index,
        scores=m.scores,
        matched=m.matched,
        ignored=m.ignored,
        gt_match=m.gt_match,
        n_gt=int(m.n_gt[0]),
    )


@dataclass
class BatchMatch:
    """Matching of many units (an image and a class each) at once. Detections are grouped by unit in unit order,
    best score first within a unit, cut at max_dets."""

    unit: npt.NDArray[np.int64]  # (D,) unit of each kept detection
    det_index: npt.NDArray[np.int64]  # (D,) index into the caller's detections
    scores: F64  # (D,)
    matched: BoolArr  # (T, D)
    ignored: BoolArr  # (T, D)
    gt_match: npt.NDArray[np.int64]  # (T, G) per caller's ground-truth row: matched detection index, -1 if none
    n_gt: npt.NDArray[np.int64]  # (n_units,) ground-truth boxes that count


def match_batch(
    gt_unit: npt.NDArray[np.int64],
    gt: F64,
    gt_ignore: BoolArr,
    gt_crowd: BoolArr,
    dt_unit: npt.NDArray[np.int64],
    dt: F64,
    scores: F64,
    dt_ignore: BoolArr,
    *,
    n_units: int,
    iou_thresholds: Sequence[float] | F64 = IOU_THRESHOLDS,
    max_dets: int = MAX_DETS,
) -> BatchMatch:
    """COCO's greedy matching for many units at once, vectorised over units, thresholds and ground truth.

    Per unit, detections are taken best score first (ties: input order); at each threshold a detection takes the
    counted ground-truth box it overlaps most (IoU >= threshold; ties: the later box) that is still free, failing
    that the best ignored one (crowd boxes stay free), exactly as ``COCOeval.evaluateImg``. ``gt_ignore`` must
    already include crowd boxes.
    """
    thr = np.asarray(iou_thresholds, dtype=np.float64)
    t_n = len(thr)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    dt = np.asarray(dt, dtype=np.float64).reshape(-1, 4)
    gt_unit, dt_unit = np.asarray(gt_unit, np.int64), np.asarray(dt_unit, np.int64)
    gt_ignore, gt_crowd = np.asarray(gt_ignore, bool), np.asarray(gt_crowd, bool)
    # detections: by unit, best score first (stable), at most max_dets per unit
    order = np.lexsort((-scores, dt_unit))
    d_start = np.searchsorted(dt_unit[order], np.arange(n_units + 1))
    rank = np.arange(len(order)) - d_start[dt_unit[order]]
    order = order[rank < max_dets]
    d_count = np.minimum(np.diff(d_start), max_dets)
    d_first = np.concatenate([[0], np.cumsum(d_count)])
    # ground truth: by unit, counted first, ignored last (stable)
    gorder = np.lexsort((gt_ignore, gt_unit))
    g_start = np.searchsorted(gt_unit[gorder], np.arange(n_units + 1))
    g_count = np.diff(g_start)
    n_gt = np.bincount(gt_unit[~gt_ignore], minlength=n_units).astype(np.int64)

    d_total = len(order)
    matched = np.zeros((t_n, d_total), bool)
    dt_ig = np.zeros((t_n, d_total), bool)
    gt_match = np.full((t_n, len(gt)), -1, dtype=np.int64)
    thr_eff = np.minimum(thr, 1 - 1e-10)
    # candidate pairs: each kept detection with each ground-truth box of its unit, overlapping enough at some
    # threshold (everything else can never match)
    d_unit_s = dt_unit[order]
    cnt = g_count[d_unit_s] if d_total else np.zeros(0, np.int64)
    pd = np.repeat(np.arange(d_total), cnt)
    pg = np.repeat(g_start[d_unit_s], cnt) + (np.arange(len(pd)) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    g_box, ign, crowd = gt[gorder], gt_ignore[gorder], gt_crowd[gorder]
    iou = overlap_stacked(dt[order][pd][:, None, :], g_box[pg][:, None, :], "crowd", crowd=crowd[pg][:, None])
    iou = iou.reshape(-1)
    keep = iou >= (thr_eff.min() if t_n else np.inf)
    pd, pg, iou = pd[keep], pg[keep], iou[keep]
    # per detection, the best candidate comes last: counted before ignored, then IoU, then the later box
    prank = (np.arange(d_total) - d_first[d_unit_s])[pd]
    srt = np.lexsort((pg, iou, ~ign[pg], pd, prank))
    pd, pg, iou, prank = pd[srt], pg[srt], iou[srt], prank[srt]
    gtm = np.full((t_n, len(gt)), -1, dtype=np.int64)  # detection that took each ground-truth box (sorted order)
    bounds = np.flatnonzero(np.diff(prank)) + 1
    for a, b in zip(np.concatenate([[0], bounds]).tolist(), np.concatenate([bounds, [len(pd)]]).tolist(), strict=True):
        if a == b:
            continue
        sd, sg, si = pd[a:b], pg[a:b], iou[a:b]
        # one rank at a time: detections of the same rank belong to different units and never compete
        elig = ((gtm[:, sg] < 0) | crowd[sg][None, :]) & (si[None, :] >= thr_eff[:, None])
        seg = np.concatenate([[0], np.flatnonzero(np.diff(sd)) + 1])
        last = np.maximum.reduceat(np.where(elig, np.arange(1, b - a + 1)[None, :], 0), seg, axis=1)
        ti, si_ = np.nonzero(last)
        pick = last[ti, si_] - 1
        g_pick, d_pick = sg[pick], sd[pick]
        gtm[ti, g_pick] = d_pick
        matched[ti, d_pick] = True
        dt_ig[ti, d_pick] = ign[g_pick]
    ti, gi = np.nonzero(gtm >= 0)
    gt_match[ti, gorder[gi]] = order[gtm[ti, gi]]
    d_ign = np.asarray(dt_ignore, bool)[order]
    ignored = dt_ig | (~matched & d_ign[None, :])
    return BatchMatch(
        unit=dt_unit[order],
        det_index=order.astype(np.int64),
        scores=np.asarray(scores, dtype=np.float64)[order],
        matched=matched,
        ignored=ignored,
        gt_match=gt_match,
        n_gt=n_gt,
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
    n_thresholds = len(np.asarray(iou_thresholds))
    if matches:
        scores = np.concatenate([m.scores for m in matches])
        matched = np.concatenate([m.matched for m in matches], axis=1)
        ignored = np.concatenate([m.ignored for m in matches], axis=1)
    else:
        scores = np.zeros(0)
        matched = ignored = np.zeros((n_thresholds, 0), bool)
    return accumulate_arrays(name, scores, matched, ignored, sum(m.n_gt for m in matches), iou_thresholds)


def accumulate_arrays(
    name: str,
    scores: F64,
    matched: BoolArr,
    ignored: BoolArr,
    n_gt: int,
    iou_thresholds: Sequence[float] | F64 = IOU_THRESHOLDS,
) -> ClassCurve:
    """:func:`accumulate` on pooled arrays: scores (D,), matched and ignored (T, D), counted ground truth."""
    thr = np.asarray(iou_thresholds, dtype=np.float64)
    n_thresholds = len(thr)
    r_n = len(RECALL_THRESHOLDS)
    order = np.argsort(-scores, kind="mergesort")
    scores, matched, ignored = scores[order], matched[:, order], ignored[:, order]
    if n_gt == 0:
        neg = -np.ones((n_thresholds, r_n))
        n_det = int((~ignored[0]).sum()) if len(ignored) else 0
        return ClassCurve(name, 0, n_det, thr, neg, -np.ones(n_thresholds), np.zeros_like(neg))
    precision = np.zeros((n_thresholds, r_n))
    score_at = np.zeros((n_thresholds, r_n))
    recall = np.zeros(n_thresholds)
    raw_p: list[F64] = []
    raw_r: list[F64] = []
    for t in range(n_thresholds):  # one threshold at a time: no (T, D) float temporaries on large sets
        counted = ~ignored[t]
        tp = np.cumsum(matched[t] & counted).astype(np.float64)
        fp = np.cumsum(~matched[t] & counted).astype(np.float64)
        nd = len(tp)
        rc = tp / n_gt
        pr = tp / (fp + tp + np.spacing(1))
        raw_p.append(pr)
        raw_r.append(rc)
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
