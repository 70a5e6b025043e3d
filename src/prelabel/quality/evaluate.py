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

from prelabel.core.labels import FrameRecord, Label
from prelabel.core.labelset import LabelSet, object_column
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
    cfg = config or EvalConfig()
    cols = EvalColumns(cfg)
    for f, (p, g) in enumerate(pairs):
        cols.add_labels(f, g.labels, None if p is None or p.status != "ok" else p.labels)
    frame_ids = [g.frame.id if p is None else p.frame.id for p, g in pairs]
    res = _result(match_columns(cols, frame_ids, cfg), cfg, len(pairs))
    res.frames_without_predictions = [g.frame.id for p, g in pairs if p is None]
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

    @classmethod
    def of(cls, prediction: FrameRecord | None, ground_truth: FrameRecord) -> FramePair:
        """The pair for one of :func:`pair_records`'s (prediction or None, ground truth): labels as label sets; a
        failed prediction (status not ``ok``) has no labels, as in :func:`evaluate`."""
        gt = LabelSet.from_labels(ground_truth.labels)
        if prediction is None:
            return cls(ground_truth.frame.id, None, gt, ground_truth.frame.id, False)
        labels = None if prediction.status != "ok" else LabelSet.from_labels(prediction.labels)
        return cls(prediction.frame.id, labels, gt, ground_truth.frame.id, True)


class EvalColumns:
    """Every frame's evaluated boxes as flat columns (one row per box, with its frame and mapped-class code), fed
    frame by frame from label sets or straight from records. Class maps run once per category name; a ground-truth
    row is kept when its class maps to a name or it is an ignore region, a prediction when its class maps to a
    name; rows without 2D geometry are dropped (:meth:`arrays`)."""

    def __init__(self, cfg: EvalConfig) -> None:
        self.vocab: dict[str, int] = {}  # mapped name -> code
        self._pmap, self._gmap = mapper(cfg.class_map), mapper(cfg.gt_class_map)
        self._ignore = set(cfg.ignore_categories)
        self._gt_cat: dict[str, tuple[int, bool]] = {}  # category -> (code or -1, ignore region)
        self._dt_cat: dict[str, int] = {}
        self.g_frame: list[int] = []
        self.g_name: list[int] = []
        self.g_region: list[bool] = []
        self.g_crowd: list[bool] = []
        self.g_xyxy: list[float] = []  # flat x1, y1, x2, y2 per row
        self.d_frame: list[int] = []
        self.d_name: list[int] = []
        self.d_score: list[float] = []
        self.d_ids: list[str] = []
        self.d_xyxy: list[float] = []

    def _gt_code(self, category: str) -> tuple[int, bool]:
        got = self._gt_cat.get(category)
        if got is None:
            m = self._gmap(category)
            region = category in self._ignore or (m is not None and m in self._ignore)
            got = self._gt_cat[category] = (-1 if m is None else self.vocab.setdefault(m, len(self.vocab)), region)
        return got

    def _dt_code(self, category: str) -> int:
        got = self._dt_cat.get(category)
        if got is None:
            m = self._pmap(category)
            got = self._dt_cat[category] = -1 if m is None else self.vocab.setdefault(m, len(self.vocab))
        return got

    def add_labels(self, f: int, gt: Sequence[Label], pred: Sequence[Label] | None) -> None:
        """Frame ``f`` from records (``pred`` None: no prediction for it)."""
        for lab in gt:
            code, region = self._gt_code(lab.category)
            box = lab.box if lab.box is not None else lab.polygon.bounds() if lab.polygon is not None else None
            if box is None or (code < 0 and not region):
                continue
            self.g_frame.append(f)
            self.g_name.append(code)
            self.g_region.append(region)
            self.g_crowd.append(_is_crowd(lab.attributes))
            self.g_xyxy += (box.x1, box.y1, box.x2, box.y2)
        for lab in pred or ():
            code = self._dt_code(lab.category)
            box = lab.box if lab.box is not None else lab.polygon.bounds() if lab.polygon is not None else None
            if box is None or code < 0:
                continue
            self.d_frame.append(f)
            self.d_name.append(code)
            self.d_score.append(1.0 if lab.score is None else lab.score)
            self.d_ids.append(lab.id)
            self.d_xyxy += (box.x1, box.y1, box.x2, box.y2)

    def add_sets(self, f: int, gt: LabelSet, pred: LabelSet | None) -> None:
        """Frame ``f`` from label sets (``pred`` None: no prediction for it)."""
        if len(gt):
            info = [self._gt_code(c) for c in gt.categories]
            xyxy = gt.xyxy.tolist()
            for i, c in enumerate(gt.class_codes.tolist()):
                code, region = info[c]
                if code < 0 and not region:
                    continue
                self.g_frame.append(f)
                self.g_name.append(code)
                self.g_region.append(region)
                self.g_crowd.append(_is_crowd(gt.attributes[i]))
                self.g_xyxy += xyxy[i]
        if pred is not None and len(pred):
            codes = [self._dt_code(c) for c in pred.categories]
            xyxy, scores, ids = pred.xyxy.tolist(), pred.scores.tolist(), pred.ids.tolist()
            for i, c in enumerate(pred.class_codes.tolist()):
                code = codes[c]
                if code < 0:
                    continue
                self.d_frame.append(f)
                self.d_name.append(code)
                s = scores[i]
                self.d_score.append(1.0 if s != s else s)  # NaN: no score
                self.d_ids.append(ids[i])
                self.d_xyxy += xyxy[i]

    def arrays(self) -> tuple[Any, ...]:
        """(gt frame, name, box, crowd, region, det frame, name, box, score, ids) as arrays, rows with 2D geometry
        (a finite box) only."""
        g_box = np.asarray(self.g_xyxy, dtype=np.float64).reshape(-1, 4)
        d_box = np.asarray(self.d_xyxy, dtype=np.float64).reshape(-1, 4)
        g = np.isfinite(g_box).all(axis=1)
        d = np.isfinite(d_box).all(axis=1)
        ids = object_column(self.d_ids)
        return (
            np.asarray(self.g_frame, np.int64)[g], np.asarray(self.g_name, np.int64)[g], g_box[g],
            np.asarray(self.g_crowd, bool)[g], np.asarray(self.g_region, bool)[g],
            np.asarray(self.d_frame, np.int64)[d], np.asarray(self.d_name, np.int64)[d], d_box[d],
            np.asarray(self.d_score, np.float64)[d], ids[d],
        )  # fmt: skip


def _is_crowd(attributes: Mapping[str, Any]) -> bool:
    return bool(attributes) and any(bool(attributes.get(k)) for k in _CROWD_KEYS)


def _result(m: Matched, cfg: EvalConfig, n_frames: int) -> EvalResult:
    thr = np.asarray(cfg.iou_thresholds, dtype=np.float64)
    curves = {c: accumulate_arrays(c, *m.per_class[c], m.n_gt[c], thr) for c in m.classes}
    return EvalResult(curves=curves, frames=n_frames, config=cfg, outcomes=m.outcomes)


def evaluate_sets(frames: Sequence[FramePair], config: EvalConfig | None = None) -> EvalResult:
    """:func:`evaluate` on columnar label sets (records already turned into :class:`LabelSet` s where read)."""
    cfg = config or EvalConfig()
    res = _result(match_sets(frames, cfg), cfg, len(frames))
    res.frames_without_predictions = [fp.gt_frame_id or fp.frame_id for fp in frames if not fp.has_prediction]
    return res


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
    cols = EvalColumns(cfg)
    for f, fp in enumerate(frames):
        cols.add_sets(f, fp.ground_truth, fp.prediction)
    return match_columns(cols, [fp.frame_id for fp in frames], cfg, outcomes=outcomes)


def match_columns(cols: EvalColumns, frame_ids: Sequence[str], cfg: EvalConfig, *, outcomes: bool = True) -> Matched:
    """:func:`match_sets` on columns already fed (``frame_ids``: the predicted id of each frame, in feed order)."""
    g_frame, g_name, g_box, g_crowd, g_region, d_frame, d_name, d_box, d_score, d_ids = cols.arrays()
    vocab = cols.vocab
    names = list(vocab)
    if cfg.classes is not None:
        classes = list(cfg.classes)
    else:
        found = set(g_name[~g_region].tolist()) | set(d_name.tolist())
        classes = sorted(names[i] for i in found)
    c_n, f_n = len(classes), len(frame_ids)
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
    ids = d_ids[src].tolist()
    keys = zip([frame_ids[f] for f in d_frame[src].tolist()], ids, strict=True)
    vals = [None if ig else hit for ig, hit in zip(m.ignored[t50].tolist(), m.matched[t50].tolist(), strict=True)]
    return Matched(classes, per_class, n_gt, dict(zip(keys, vals, strict=True)))
