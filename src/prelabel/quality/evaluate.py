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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.labels import FrameRecord
from prelabel.core.labelset import LabelSet
from prelabel.quality.ap import IOU_THRESHOLDS, MAX_DETS, ClassCurve, accumulate_arrays, match_batch, mean_ap

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


def _crowd_flags(ls: LabelSet) -> npt.NDArray[np.bool_]:
    return np.fromiter((any(bool(a.get(k)) for k in _CROWD_KEYS) if a else False for a in ls.attributes), bool, len(ls))


def evaluate(
    predictions: Iterable[FrameRecord],
    ground_truth: Iterable[FrameRecord],
    config: EvalConfig | None = None,
) -> EvalResult:
    """COCO-style evaluation of ``predictions`` against ``ground_truth`` (see the module docstring)."""
    pairs, unmatched = pair_records(predictions, ground_truth)
    if unmatched:
        warnings.warn(
            f"{len(unmatched)} predicted frames have no ground truth and were skipped "
            f"(first: {unmatched[:3]}); frames pair by id or file stem",
            stacklevel=2,
        )
    frames = [
        FramePair(
            frame_id=p.frame.id if p is not None else g.frame.id,
            prediction=None if p is None or p.status != "ok" else LabelSet.from_labels(p.labels),
            ground_truth=LabelSet.from_labels(g.labels),
            gt_frame_id=g.frame.id,
            has_prediction=p is not None,
        )
        for p, g in pairs
    ]
    res = evaluate_sets(frames, config)
    res.unmatched_prediction_frames = unmatched
    return res


@dataclass
class FramePair:
    """One ground-truth frame and its prediction (None: the model failed on it or it has no record)."""

    frame_id: str  # the predicted frame's id (the ground truth's when there is no prediction)
    prediction: LabelSet | None
    ground_truth: LabelSet
    gt_frame_id: str = ""
    has_prediction: bool = True


@dataclass
class _Rows:
    """Flat evaluation rows of every frame: one row per box, with its frame and evaluated-class code."""

    frame: list[npt.NDArray[np.int64]] = field(default_factory=list)
    name: list[npt.NDArray[np.int64]] = field(default_factory=list)  # code in the mapped-name vocabulary
    box: list[npt.NDArray[np.float64]] = field(default_factory=list)
    extra: list[npt.NDArray[np.float64]] = field(default_factory=list)  # GT: crowd flag; DT: score
    region: list[npt.NDArray[np.bool_]] = field(default_factory=list)

    def cat(self) -> tuple[Any, ...]:
        def c(parts: list[Any], dtype: Any, shape: tuple[int, ...] = ()) -> Any:
            return np.concatenate(parts) if parts else np.zeros((0, *shape), dtype)

        return (
            c(self.frame, np.int64),
            c(self.name, np.int64),
            c(self.box, np.float64, (4,)),
            c(self.extra, np.float64),
            c(self.region, bool),
        )


def evaluate_sets(frames: Sequence[FramePair], config: EvalConfig | None = None) -> EvalResult:
    """:func:`evaluate` on columnar label sets (records already turned into :class:`LabelSet` s where read)."""
    cfg = config or EvalConfig()
    m = match_sets(frames, cfg)
    thr = np.asarray(cfg.iou_thresholds, dtype=np.float64)
    curves = {c: accumulate_arrays(c, *m.per_class[c], m.n_gt[c], thr) for c in m.classes}
    return EvalResult(
        curves=curves,
        frames=len(frames),
        config=cfg,
        frames_without_predictions=[fp.gt_frame_id or fp.frame_id for fp in frames if not fp.has_prediction],
        outcomes=m.outcomes,
    )


@dataclass
class Matched:
    """Detections of some frames matched to their ground truth, per evaluated class, before accumulation: the
    columns a streaming evaluation concatenates frame block after frame block (see ``quality.evalstream``)."""

    classes: list[str]
    # class -> (scores (D,), matched (T, D), ignored (T, D)), in frame order then score order
    per_class: dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]]
    n_gt: dict[str, int]  # counted ground truth per class
    outcomes: dict[tuple[str, str], bool | None]


def match_sets(frames: Sequence[FramePair], cfg: EvalConfig, *, outcomes: bool = True) -> Matched:
    """Match every frame's detections to its ground truth at each IoU threshold (no accumulation)."""
    pmap, gmap = mapper(cfg.class_map), mapper(cfg.gt_class_map)
    ignore_cats = set(cfg.ignore_categories)
    vocab: dict[str, int] = {}
    gt_rows, dt_rows = _Rows(), _Rows()
    dt_ids: list[npt.NDArray[np.object_]] = []
    for f, fp in enumerate(frames):
        g = fp.ground_truth
        if len(g):
            # class maps run once per category, not per label
            region_cat = np.asarray([c in ignore_cats for c in g.categories], bool)
            mapped = [gmap(c) for c in g.categories]
            code = np.asarray([-1 if m is None else vocab.setdefault(m, len(vocab)) for m in mapped], np.int64)
            region_cat |= np.asarray([m is not None and m in ignore_cats for m in mapped], bool)
            has = g.has_geometry2d
            reg = region_cat[g.class_codes] & has
            keep = has & (reg | (code[g.class_codes] >= 0))
            idx = np.flatnonzero(keep)
            gt_rows.frame.append(np.full(len(idx), f, np.int64))
            gt_rows.name.append(code[g.class_codes[idx]])
            gt_rows.box.append(g.xyxy[idx])
            gt_rows.extra.append(_crowd_flags(g)[idx].astype(np.float64))
            gt_rows.region.append(reg[idx])
        p = fp.prediction
        if p is not None and len(p):
            mapped = [pmap(c) for c in p.categories]
            code = np.asarray([-1 if m is None else vocab.setdefault(m, len(vocab)) for m in mapped], np.int64)
            idx = np.flatnonzero(p.has_geometry2d & (code[p.class_codes] >= 0))
            dt_rows.frame.append(np.full(len(idx), f, np.int64))
            dt_rows.name.append(code[p.class_codes[idx]])
            dt_rows.box.append(p.xyxy[idx])
            dt_rows.extra.append(p.scores_or(1.0)[idx])
            dt_rows.region.append(np.zeros(len(idx), bool))
            dt_ids.append(p.ids[idx])
    g_frame, g_name, g_box, g_crowd, g_region = gt_rows.cat()
    d_frame, d_name, d_box, d_score, _ = dt_rows.cat()
    g_crowd = g_crowd.astype(bool)
    names = list(vocab)
    if cfg.classes is not None:
        classes = list(cfg.classes)
    else:
        found = set(g_name[~g_region].tolist()) | set(d_name.tolist())
        classes = sorted(names[i] for i in found)
    c_n, f_n = len(classes), len(frames)
    class_of = np.full(len(names) + 1, -1, np.int64)  # mapped-name code -> evaluated class index
    for ci, c in enumerate(classes):
        if c in vocab:
            class_of[vocab[c]] = ci
    plus = 1.0 if cfg.inclusive_pixels else 0.0
    small = (g_box[:, 3] - g_box[:, 1]) < cfg.min_height
    if plus:
        g_box = g_box.copy()
        g_box[:, 2:] += plus
        d_box = d_box.copy()
        d_box[:, 2:] += plus
    # ground-truth rows per unit (frame, class): own class, then each neighbour class (ignored), then the ignore
    # regions (ignored crowd boxes), each in label order, as the per-image tables of COCO-style evaluators
    real = ~g_region
    own_cls = np.where(real, class_of[np.where(g_name >= 0, g_name, len(names))], -1)
    parts_idx: list[npt.NDArray[np.int64]] = []
    parts_cls: list[npt.NDArray[np.int64]] = []
    parts_block: list[npt.NDArray[np.int64]] = []
    parts_ign: list[npt.NDArray[np.bool_]] = []
    parts_crowd: list[npt.NDArray[np.bool_]] = []
    sel = np.flatnonzero(own_cls >= 0)
    parts_idx.append(sel)
    parts_cls.append(own_cls[sel])
    parts_block.append(np.zeros(len(sel), np.int64))
    parts_ign.append(small[sel])
    parts_crowd.append(g_crowd[sel])
    for ci, c in enumerate(classes):
        for j, nb in enumerate(cfg.neighbours.get(c, ())):
            if nb not in vocab:
                continue
            sel = np.flatnonzero(real & (g_name == vocab[nb]))
            parts_idx.append(sel)
            parts_cls.append(np.full(len(sel), ci, np.int64))
            parts_block.append(np.full(len(sel), 1 + j, np.int64))
            parts_ign.append(np.ones(len(sel), bool))
            parts_crowd.append(np.zeros(len(sel), bool))
    regions = np.flatnonzero(g_region)
    if len(regions) and c_n:
        parts_idx.append(np.tile(regions, c_n))
        parts_cls.append(np.repeat(np.arange(c_n, dtype=np.int64), len(regions)))
        parts_block.append(np.full(len(regions) * c_n, 1 << 30, np.int64))
        parts_ign.append(np.ones(len(regions) * c_n, bool))
        parts_crowd.append(np.ones(len(regions) * c_n, bool))
    u_idx = np.concatenate(parts_idx)
    u_unit = g_frame[u_idx] * c_n + np.concatenate(parts_cls)
    u_order = np.lexsort((u_idx, np.concatenate(parts_block), u_unit))
    u_idx, u_unit = u_idx[u_order], u_unit[u_order]
    u_crowd = np.concatenate(parts_crowd)[u_order]
    u_ign = np.concatenate(parts_ign)[u_order] | u_crowd
    d_cls = class_of[d_name]
    dsel = np.flatnonzero(d_cls >= 0)
    d_unit = d_frame[dsel] * c_n + d_cls[dsel]
    d_small = (d_box[dsel, 3] - d_box[dsel, 1]) < cfg.min_height if cfg.min_height else np.zeros(len(dsel), bool)
    thr = np.asarray(cfg.iou_thresholds, dtype=np.float64)
    m = match_batch(
        u_unit,
        g_box[u_idx],
        u_ign,
        u_crowd,
        d_unit,
        d_box[dsel],
        d_score[dsel],
        d_small,
        n_units=f_n * c_n,
        iou_thresholds=thr,
        max_dets=cfg.max_dets,
    )
    m_cls = m.unit % c_n if c_n else m.unit
    n_gt_cls = m.n_gt.reshape(f_n, c_n).sum(axis=0) if c_n else np.zeros(0, np.int64)
    per_class = {}
    for ci, c in enumerate(classes):
        k = m_cls == ci
        per_class[c] = (m.scores[k], m.matched[:, k], m.ignored[:, k])
    n_gt = {c: int(n_gt_cls[ci]) for ci, c in enumerate(classes)}
    if not outcomes:
        return Matched(classes, per_class, n_gt, {})
    t50 = int(np.argmin(np.abs(thr - 0.5)))
    src = dsel[m.det_index]
    frame_ids = [fp.frame_id for fp in frames]
    ids = np.concatenate(dt_ids)[src].tolist() if dt_ids else []
    keys = zip([frame_ids[f] for f in d_frame[src].tolist()], ids, strict=True)
    vals = [None if ig else hit for ig, hit in zip(m.ignored[t50].tolist(), m.matched[t50].tolist(), strict=True)]
    return Matched(classes, per_class, n_gt, dict(zip(keys, vals, strict=True)))
