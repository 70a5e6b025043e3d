"""Tracking metrics on :class:`FrameRecord` s: CLEAR MOT (MOTA, MOTP, FP, FN, ID switches, MT/PT/ML,
fragmentations), IDF1 and HOTA, per class, per super-category and overall.

The rules are Scalabel's (``scalabel/eval/mot.py``, itself on py-motmetrics 1.4) so that its reference figures
are reproduced exactly; they are written out here because motmetrics 1.4 does not run on numpy 2:

- boxes are compared as ``[x1, y1, x2 - x1 + 1, y2 - y1 + 1]`` (Scalabel's inclusive pixels; ``inclusive_pixels``)
  in float32, a pair counts when IoU >= ``iou_threshold`` (distance 1 - IoU);
- one accumulator per (sequence, class); frames pair by id and run in sequence order;
- per frame: pairs matched in the previous frame are kept while still close enough, the rest is a min-cost
  assignment; a match that contradicts an object's previous hypothesis is an ID switch;
- ground truth marked ``crowd`` or ``ignored`` (or of a class in ``ignore_categories``, KITTI ``DontCare``) becomes
  an ignore region for every class; an unmatched prediction
  covering more than ``ignore_iof_threshold`` of its own area with such a region is dropped;
- IDF1 is the global min-cost id assignment of each accumulator; "overall" sums the accumulators of the leaf
  classes; a super-category (BDD ``human`` = pedestrian + rider, ...) sums those of its members; "average" is the
  mean over leaf classes (missing counted as 0) and the sum of counts.

HOTA follows TrackEval (``hota.py``: alphas 0.05..0.95, global alignment score), on the same accumulators after
the ignore filtering.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.labels import FrameRecord
from prelabel.core.sequences import check_track_ids, group_sequences
from prelabel.quality.evaluate import ClassMapLike, mapper, pair_records
from prelabel.quality.hota import HotaCounts, hota_sequence

F64 = npt.NDArray[np.float64]

BDD_TRACK_CLASSES = ("pedestrian", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
BDD_SUPER_CLASSES: dict[str, tuple[str, ...]] = {
    "human": ("pedestrian", "rider"),
    "vehicle": ("car", "truck", "bus", "train"),
    "bike": ("motorcycle", "bicycle"),
}
_IGNORE_KEYS = ("crowd", "ignored")
COUNT_METRICS = ("FP", "FN", "IDSw", "MT", "PT", "ML", "FM", "GT", "matches")
RATE_METRICS = ("MOTA", "MOTP", "IDF1", "HOTA", "DetA", "AssA")


@dataclass
class MOTConfig:
    classes: Sequence[str] | None = None  # evaluated leaf classes; default: every ground-truth class
    super_classes: Mapping[str, Sequence[str]] = field(default_factory=dict)
    class_map: ClassMapLike | None = None  # prediction category -> evaluated class (None drops)
    gt_class_map: ClassMapLike | None = None
    ignore_categories: Sequence[str] = ("DontCare",)  # ground-truth classes that are ignore regions (KITTI)
    iou_threshold: float = 0.5
    ignore_iof_threshold: float = 0.5
    inclusive_pixels: bool = True  # Scalabel/BDD: x2/y2 are the last pixel inside the box


def bdd_config(**kw: Any) -> MOTConfig:
    """BDD100K box tracking: 8 leaf classes, super-categories human / vehicle / bike (Scalabel's config)."""
    return MOTConfig(classes=BDD_TRACK_CLASSES, super_classes=BDD_SUPER_CLASSES, **kw)


def lsa(costs: F64) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Min-cost assignment where non-finite entries are forbidden pairs (motmetrics' rule: most pairs first)."""
    from scipy.optimize import linear_sum_assignment

    if costs.size == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    valid = np.isfinite(costs)
    if not valid.any():
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    finite = costs
    if not valid.all():
        c = float(np.abs(costs[valid]).max()) + 1
        finite = np.where(valid, costs, 2 * min(costs.shape) * c + 1)
    rows, cols = linear_sum_assignment(finite)
    keep = valid[rows, cols]
    return rows[keep], cols[keep]


def xywh(boxes: Sequence[tuple[float, float, float, float]], inclusive: bool) -> F64:
    plus = 1.0 if inclusive else 0.0
    arr = [[x1, y1, x2 - x1 + plus, y2 - y1 + plus] for x1, y1, x2, y2 in boxes]
    return np.asarray(np.asarray(arr, dtype=np.float32).reshape(-1, 4), dtype=np.float64)


def iou_xywh(a: F64, b: F64) -> F64:
    """Pairwise IoU of ``[x, y, w, h]`` boxes, shape (len(a), len(b))."""
    amin, amax = a[:, None, :2], a[:, None, :2] + a[:, None, 2:]
    bmin, bmax = b[None, :, :2], b[None, :, :2] + b[None, :, 2:]
    wh = np.clip(np.minimum(amax, bmax) - np.maximum(amin, bmin), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = (a[:, None, 2] * a[:, None, 3]) + (b[None, :, 2] * b[None, :, 3]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def _iof(preds: F64, regions: F64) -> F64:
    """Intersection over the prediction's own area (float32, as Scalabel)."""
    out = np.zeros((len(preds), len(regions)), dtype=np.float32)
    for i, p in enumerate(preds):
        for j, g in enumerate(regions):
            w = min(p[0] + p[2], g[0] + g[2]) - max(p[0], g[0])
            h = min(p[1] + p[3], g[1] + g[3]) - max(p[1], g[1])
            out[i][j] = max(w, 0) * max(h, 0) / float(p[2] * p[3])
    return np.asarray(out, dtype=np.float64)


class ClearAccumulator:
    """CLEAR MOT and ID counts of one (sequence, class), event rules as py-motmetrics 1.4's ``MOTAccumulator``."""

    def __init__(self) -> None:
        self.matches = self.switches = self.fp = self.misses = 0
        self.dist_sum = 0.0
        self.m: dict[str, str] = {}  # object -> last hypothesis
        self.tracked: dict[str, list[bool]] = defaultdict(list)  # object -> per appearance: matched?
        self.ocs: dict[str, int] = defaultdict(int)  # frames each object appears in
        self.hcs: dict[str, int] = defaultdict(int)
        self.tps: dict[tuple[str, str], int] = defaultdict(int)  # frames a pair is within the threshold
        self.updates = 0

    def update(self, oids: Sequence[str], hids: Sequence[str], dists: F64) -> None:
        self.updates += 1
        dists = dists.reshape(len(oids), len(hids)).copy()
        for o in oids:
            self.ocs[o] += 1
        for h in hids:
            self.hcs[h] = self.hcs[h] + 1
        for i, j in zip(*np.nonzero(np.isfinite(dists)), strict=True):
            self.tps[(oids[i], hids[j])] += 1
        omask = np.zeros(len(oids), dtype=bool)
        hmask = np.zeros(len(hids), dtype=bool)
        matched: dict[int, bool] = {}
        if len(oids) and len(hids):
            hidx = {h: j for j, h in enumerate(hids)}
            for i, o in enumerate(oids):
                j = hidx.get(self.m[o]) if o in self.m else None
                if j is not None and not hmask[j] and np.isfinite(dists[i, j]):
                    omask[i] = hmask[j] = True
                    self.matches += 1
                    self.dist_sum += float(dists[i, j])
                    matched[i] = True
            dists[omask, :] = np.nan
            dists[:, hmask] = np.nan
            for i, j in zip(*lsa(dists), strict=True):
                o, h = oids[i], hids[j]
                if o in self.m and self.m[o] != h:
                    self.switches += 1
                else:
                    self.matches += 1
                self.dist_sum += float(dists[i, j])
                omask[i] = hmask[j] = True
                matched[i] = True
                self.m[o] = h
        self.misses += int((~omask).sum())
        self.fp += int((~hmask).sum())
        for i, o in enumerate(oids):
            self.tracked[o].append(matched.get(i, False))

    # derived counts
    @property
    def detections(self) -> int:
        return self.matches + self.switches

    @property
    def objects(self) -> int:
        return self.detections + self.misses

    @property
    def predictions(self) -> int:
        return self.detections + self.fp

    def idtp(self) -> int:
        """ID true positives of the global min-cost id assignment (motmetrics ``id_global_assignment``)."""
        oids, hids = sorted(self.ocs), sorted(self.hcs)
        no, nh = len(oids), len(hids)
        if no == 0 or nh == 0:
            return 0
        fpm = np.zeros((no + nh, no + nh))
        fnm = np.zeros((no + nh, no + nh))
        fpm[no:, :nh] = np.nan
        fnm[:no, nh:] = np.nan
        oi = {o: r for r, o in enumerate(oids)}
        hi = {h: c for c, h in enumerate(hids)}
        for o, n in self.ocs.items():
            fnm[oi[o], :nh] = n
            fnm[oi[o], nh + oi[o]] = n
        for h, n in self.hcs.items():
            fpm[:no, hi[h]] = n
            fpm[hi[h] + no, hi[h]] = n
        for (o, h), n in self.tps.items():
            fpm[oi[o], hi[h]] -= n
            fnm[oi[o], hi[h]] -= n
        rows, cols = lsa(fpm + fnm)
        idfn = float(fnm[rows, cols].sum())
        return round(self.objects - idfn)

    def track_states(self) -> tuple[int, int, int, int]:
        """(mostly tracked, partially tracked, mostly lost, fragmentations)."""
        mt = pt = ml = fm = 0
        for states in self.tracked.values():
            ratio = sum(states) / len(states)
            if ratio >= 0.8:
                mt += 1
            elif ratio >= 0.2:
                pt += 1
            else:
                ml += 1
            hits = [k for k, s in enumerate(states) if s]
            if hits:
                span = states[hits[0] : hits[-1] + 1]
                fm += sum(1 for a, b in itertools.pairwise(span) if a and not b)
        return mt, pt, ml, fm


def _combine(accs: Sequence[ClearAccumulator], hotas: Sequence[HotaCounts]) -> dict[str, float | int | None]:
    """Metrics over several accumulators: counts summed, rates from the summed counts (motmetrics' overall)."""
    fp = sum(a.fp for a in accs)
    fn = sum(a.misses for a in accs)
    sw = sum(a.switches for a in accs)
    n_obj = sum(a.objects for a in accs)
    n_pred = sum(a.predictions for a in accs)
    n_det = sum(a.detections for a in accs)
    idtp = sum(a.idtp() for a in accs)
    states = [a.track_states() for a in accs]
    dist = sum(a.dist_sum for a in accs)
    hota = HotaCounts.total(hotas)
    return {
        "MOTA": None if n_obj == 0 else 1.0 - (fn + sw + fp) / n_obj,
        "MOTP": None if n_det == 0 else 1.0 - dist / n_det,
        "IDF1": None if n_obj + n_pred == 0 else 2 * idtp / (n_obj + n_pred),
        "HOTA": hota.hota(),
        "DetA": hota.deta(),
        "AssA": hota.assa(),
        "FP": fp,
        "FN": fn,
        "IDSw": sw,
        "MT": sum(s[0] for s in states),
        "PT": sum(s[1] for s in states),
        "ML": sum(s[2] for s in states),
        "FM": sum(s[3] for s in states),
        "GT": n_obj,
        "matches": n_det,
    }


@dataclass
class TrackEvalResult:
    rows: dict[str, dict[str, float | int | None]]  # class / super-category / "average" / "overall" -> metrics
    classes: list[str]
    super_classes: list[str]
    sequences: int
    frames: int
    unmatched_prediction_frames: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, float | int | None]:
        return dict(self.rows["overall"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequences": self.sequences,
            "frames": self.frames,
            "summary": self.summary(),
            "rows": self.rows,
            "unmatched_prediction_frames": self.unmatched_prediction_frames,
        }


Box = tuple[float, float, float, float]


def _split(
    rec: FrameRecord | None,
    classes: Sequence[str],
    cmap: Callable[[str], str | None],
    unknown: set[str],
    ignore: Sequence[str] = (),
) -> tuple[dict[str, list[tuple[Box, str]]], list[Box]]:
    """Boxes of one frame by class as (box, track id), and the ignore regions (crowd/ignored of any class)."""
    by_class: dict[str, list[tuple[Box, str]]] = defaultdict(list)
    regions: list[Box] = []
    if rec is None:
        return by_class, regions
    for lab in rec.labels:
        if lab.box is None:
            continue
        name = cmap(lab.category)
        if name is None:
            continue
        if name in ignore:
            regions.append(lab.box.xyxy)
            continue
        if name not in classes:
            unknown.add(name)
            continue
        if any(bool(lab.attributes.get(k)) for k in _IGNORE_KEYS):
            regions.append(lab.box.xyxy)
        else:
            by_class[name].append((lab.box.xyxy, lab.track_id or lab.attributes.get("scalabel_id") or lab.id))
    return by_class, regions


def evaluate_tracking(
    predictions: Iterable[FrameRecord], ground_truth: Iterable[FrameRecord], config: MOTConfig | None = None
) -> TrackEvalResult:
    """Score tracked predictions against tracked ground truth (see the module doc for the rules)."""
    cfg = config or MOTConfig()
    gts = list(ground_truth)
    preds = list(predictions)
    check_track_ids(gts, "ground truth")
    check_track_ids(preds, "predictions")
    pairs, unmatched = pair_records(preds, gts)
    pred_of = {id(g): p for p, g in pairs}
    gmap, pmap = mapper(cfg.gt_class_map), mapper(cfg.class_map)
    classes = (
        list(cfg.classes)
        if cfg.classes
        else sorted(
            {n for g in gts for lab in g.labels if (n := gmap(lab.category)) is not None} - set(cfg.ignore_categories)
        )
    )
    seqs = group_sequences(gts)
    accs: dict[str, list[ClearAccumulator]] = {c: [] for c in classes}
    hotas: dict[str, list[HotaCounts]] = {c: [] for c in classes}
    unknown_gt: set[str] = set()
    unknown_pred: set[str] = set()
    max_dist = 1.0 - cfg.iou_threshold
    for frames in seqs.values():
        per_class = {c: ClearAccumulator() for c in classes}
        hframes: dict[str, list[tuple[list[str], list[str], F64]]] = {c: [] for c in classes}
        for g in frames:
            gby, regions = _split(g, classes, gmap, unknown_gt, cfg.ignore_categories)
            pby, _ = _split(pred_of[id(g)], classes, pmap, unknown_pred, cfg.ignore_categories)
            rbox = xywh(regions, cfg.inclusive_pixels)
            for c in classes:
                gl, pl = gby.get(c, []), pby.get(c, [])
                if not gl and not pl:
                    continue
                gb = xywh([b for b, _ in gl], cfg.inclusive_pixels)
                pb = xywh([b for b, _ in pl], cfg.inclusive_pixels)
                oids, hids = [t for _, t in gl], [t for _, t in pl]
                iou = iou_xywh(gb, pb) if gl and pl else np.zeros((len(gl), len(pl)))
                dists = np.where(1.0 - iou > max_dist, np.nan, 1.0 - iou)
                if len(rbox) and pl:
                    fps = np.ones(len(pl), dtype=bool)
                    _, hit = lsa(dists)
                    fps[hit] = False
                    ignored = (_iof(pb, rbox) > cfg.ignore_iof_threshold).any(axis=1)
                    keep = ~(fps & ignored)
                    hids = [h for h, k in zip(hids, keep, strict=True) if k]
                    dists, iou = dists[:, keep], iou[:, keep]
                if not oids and not hids:
                    continue
                per_class[c].update(oids, hids, dists)
                hframes[c].append((oids, hids, iou))
        for c in classes:
            if per_class[c].updates:
                accs[c].append(per_class[c])
                hotas[c].append(hota_sequence(hframes[c]))
    for what, names in (("ground truth", unknown_gt), ("predicted", unknown_pred)):
        if names:
            warnings.warn(
                f"{what} classes {sorted(names)} are not among the evaluated classes {classes}; not scored",
                stacklevel=2,
            )
    rows: dict[str, dict[str, float | int | None]] = {c: _combine(accs[c], hotas[c]) for c in classes}
    for sup, members in cfg.super_classes.items():
        ms = [m for m in members if m in accs]
        rows[sup] = _combine([a for m in ms for a in accs[m]], [h for m in ms for h in hotas[m]])
    avg: dict[str, float | int | None] = {}
    for k in RATE_METRICS:
        vals = [rows[c][k] for c in classes]
        avg[k] = float(np.mean([0.0 if v is None or math.isnan(float(v)) else float(v) for v in vals]))
    for k in COUNT_METRICS:
        avg[k] = int(sum(int(rows[c][k] or 0) for c in classes))
    rows["average"] = avg
    rows["overall"] = _combine([a for c in classes for a in accs[c]], [h for c in classes for h in hotas[c]])
    return TrackEvalResult(
        rows=rows,
        classes=classes,
        super_classes=list(cfg.super_classes),
        sequences=len(seqs),
        frames=len(gts),
        unmatched_prediction_frames=unmatched,
    )
