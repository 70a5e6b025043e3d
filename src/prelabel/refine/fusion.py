"""Fuse the label sets of several models into one: weighted box fusion, NMS, or voting.

Each input is one model's labels for the same frames. Categories go through a per-model class map first (a name
mapped to ``None`` is dropped), scores below ``skip_score`` are dropped, and each model's scores are multiplied by
its weight. Then, per frame and class, boxes are clustered best score first:

- ``wbf`` (Solovyev et al., weighted box fusion): a box joins the cluster whose *fused* box it overlaps most
  (IoU > ``iou_threshold``); the fused box is the score-weighted mean of its members; the fused score
  (``score_mode="mean"``) is the sum of each member model's best weighted score divided by the sum of all model
  weights, so a box every model found outranks one only a single model found. ``"max"`` keeps the best member's
  score; ``"noisy-or"`` is 1 - prod(1 - s) over the member models.
- ``nms``: a box joins the cluster whose *leader* (best box) it overlaps; the leader is kept as it is.
- ``vote``: clusters as ``wbf``; only clusters found by at least ``min_votes`` distinct models survive (default:
  a majority).

Every fused label has source ``fused`` and keeps its provenance in ``attributes``: ``fused_from`` (the distinct
sources that agreed), ``agreement`` (how many), ``members`` (the member label ids), ``method``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.geometry.boxes2d import greedy_cluster, greedy_cluster_rows
from prelabel.core.labels import FrameRecord, Label, checked_box, checked_label, make_label_id
from prelabel.core.labelset import LabelSet, object_column
from prelabel.errors import FormatError, PrelabelError, UnknownNameError

METHODS = ("wbf", "nms", "vote")
SCORE_MODES = ("mean", "max", "noisy-or")

F64 = npt.NDArray[np.float64]
ClassMapFn = Callable[[str], str | None]


@dataclass
class Cluster:
    box: F64  # (4,) fused xyxy
    score: float
    members: list[int]  # indices into the pooled boxes


def cluster_boxes(
    boxes: F64,
    scores: F64,
    models: npt.NDArray[np.int64],
    *,
    weights: Sequence[float],
    method: str = "wbf",
    iou_threshold: float = 0.55,
    score_mode: str = "mean",
) -> list[Cluster]:
    """Cluster one class's pooled boxes (already weight-scaled scores) and fuse each cluster.

    ``models[i]`` is the index of the model box ``i`` came from; ``weights`` has one weight per model.
    """
    if method not in METHODS:
        raise UnknownNameError("fusion method", method, METHODS)
    if score_mode not in SCORE_MODES:
        raise UnknownNameError("fusion score mode", score_mode, SCORE_MODES)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    cl = greedy_cluster(boxes, scores, iou_threshold=iou_threshold, reference="leader" if method == "nms" else "mean")
    members, ref = cl.members, cl.boxes
    total_w = float(sum(weights)) or 1.0
    out: list[Cluster] = []
    for j, idx in enumerate(members):
        if method == "nms":
            top = max(weights) or 1.0
            out.append(Cluster(box=boxes[idx[0]].copy(), score=min(1.0, float(scores[idx[0]]) / top), members=idx))
            continue
        # a model's several boxes in one cluster count once (its best), so one model cannot outvote the others
        best_per_model: dict[int, float] = {}
        for i in idx:
            m = int(models[i])
            best_per_model[m] = max(best_per_model.get(m, 0.0), float(scores[i]))
        vals = np.fromiter(best_per_model.values(), dtype=np.float64)
        if score_mode == "mean":
            score = min(1.0, float(vals.sum()) / total_w)
        elif score_mode == "max":
            score = min(1.0, float(vals.max()) / max(weights))
        else:  # noisy-or: the chance that at least one model is right
            score = 1.0 - float(np.prod(1.0 - np.clip(vals / max(weights), 0.0, 1.0)))
        out.append(Cluster(box=ref[j].copy(), score=score, members=idx))
    return out


def _sources(records: Sequence[FrameRecord]) -> str | None:
    for r in records:
        for lab in r.labels:
            return lab.source
    return None


def fuse_records(
    label_sets: Sequence[Sequence[FrameRecord]],
    *,
    method: str = "wbf",
    weights: Sequence[float] | None = None,
    class_maps: Sequence[ClassMapFn | Mapping[str, str | None] | None] | None = None,
    iou_threshold: float = 0.55,
    skip_score: float = 0.0,
    min_votes: int | None = None,
    names: Sequence[str] | None = None,
    score_mode: str = "mean",
) -> list[FrameRecord]:
    """Fuse several models' label sets frame by frame (frames pair by id; see the module docstring).

    ``names`` labels each set in the provenance (default: the set's label source, e.g. ``model:ssd@1``).
    A frame a model failed on or lacks counts as that model finding nothing there; the fused record lists such
    models in ``frame.meta["fusion_missing"]``. Frames every model failed on stay failed.
    """
    if method not in METHODS:
        raise UnknownNameError("fusion method", method, METHODS)
    if score_mode not in SCORE_MODES:
        raise UnknownNameError("fusion score mode", score_mode, SCORE_MODES)
    n = len(label_sets)
    if n == 0:
        raise PrelabelError("fusion needs at least one label set")
    w = [1.0] * n if weights is None else [float(x) for x in weights]
    if len(w) != n:
        raise PrelabelError(f"got {len(w)} weights for {n} label sets; give one weight per set")
    if any(x < 0 or not math.isfinite(x) for x in w):
        raise PrelabelError(f"weights must be finite and >= 0; got {w}")
    maps: list[ClassMapFn] = []
    for cm in class_maps or [None] * n:
        if cm is None:
            maps.append(lambda c: c)
        elif isinstance(cm, Mapping):
            maps.append(lambda c, _m=cm: _m.get(c, c))  # type: ignore[misc]
        else:
            maps.append(cm)
    if len(maps) != n:
        raise PrelabelError(f"got {len(maps)} class maps for {n} label sets; give one per set (or none)")
    set_names = list(names) if names is not None else [(_sources(s) or f"set{i}") for i, s in enumerate(label_sets)]
    votes = min_votes if min_votes is not None else n // 2 + 1
    mapped: list[dict[str, str | None]] = [{} for _ in range(n)]  # per model: category -> class map's answer
    frames: dict[str, list[FrameRecord | None]] = {}
    for k, records in enumerate(label_sets):
        for r in records:
            slot = frames.setdefault(r.frame.id, [None] * n)
            if slot[k] is not None:
                raise PrelabelError(f"label set {set_names[k]} has frame {r.frame.id} twice")
            slot[k] = r
    out: list[FrameRecord] = []
    for fid, slot in frames.items():
        present = [r for r in slot if r is not None]
        ok = [r for r in present if r.status == "ok"]
        base = (ok or present)[0]
        missing = [set_names[k] for k, r in enumerate(slot) if r is None or r.status != "ok"]
        meta = dict(base.frame.meta)
        if missing:
            meta["fusion_missing"] = missing
        frame = base.frame.model_copy(update={"meta": meta})
        if not ok:
            errors = "; ".join(f"{set_names[k]}: {r.error}" for k, r in enumerate(slot) if r is not None)
            out.append(FrameRecord(frame=frame, status="failed", error=f"every model failed: {errors}", job=base.job))
            continue
        out.append(
            FrameRecord(
                frame=frame,
                labels=_fuse_frame(
                    fid, slot, maps, w, set_names, method, iou_threshold, skip_score, votes, score_mode, mapped
                ),
                job=base.job,
            )
        )
    return out


def _fuse_frame(
    fid: str,
    slot: Sequence[FrameRecord | None],
    maps: Sequence[ClassMapFn],
    weights: Sequence[float],
    names: Sequence[str],
    method: str,
    iou_threshold: float,
    skip_score: float,
    votes: int,
    score_mode: str = "mean",
    mapped: Sequence[dict[str, str | None]] | None = None,
) -> list[Label]:
    """One frame's records, pooled straight from their labels (no label set per model) and fused into records.
    ``mapped``: per model, the class map's answers so far (kept across frames)."""
    pool = _Pool(weights, skip_score)
    for k, r in enumerate(slot):
        if r is not None and r.status == "ok":
            pool.add_labels(k, r.labels, maps[k], {} if mapped is None else mapped[k])
    return _fuse_pool(fid, pool, len(slot), weights, names, method, iou_threshold, votes, score_mode).to_labels()


def fuse_sets(
    frame_id: str,
    sets: Sequence[LabelSet | None],
    *,
    maps: Sequence[ClassMapFn] | None = None,
    weights: Sequence[float] | None = None,
    names: Sequence[str] | None = None,
    method: str = "wbf",
    iou_threshold: float = 0.55,
    skip_score: float = 0.0,
    votes: int | None = None,
    score_mode: str = "mean",
) -> LabelSet:
    """One frame's fusion on columnar label sets (``None``: that model has nothing for the frame); see the module
    docstring. The fused labels come best score first."""
    n = len(sets)
    w = [1.0] * n if weights is None else [float(x) for x in weights]
    set_names = list(names) if names is not None else [f"set{k}" for k in range(n)]
    pool = _Pool(w, skip_score)
    for k, ls in enumerate(sets):
        if ls is not None and len(ls):
            pool.add_set(k, ls, None if maps is None else maps[k])
    n_votes = votes if votes is not None else n // 2 + 1
    return _fuse_pool(frame_id, pool, n, w, set_names, method, iou_threshold, n_votes, score_mode).to_set()


class _Pool:
    """One frame's boxes of every model, pooled model by model in plain Python (a frame holds tens of boxes: a
    numpy call per step would cost more than the arithmetic). Rows mapped to None, without a box or under
    ``skip_score`` are left out; scores are multiplied by their model's weight."""

    def __init__(self, weights: Sequence[float], skip_score: float) -> None:
        self.weights, self.skip = weights, skip_score
        self.vocab: dict[str, int] = {}  # mapped category -> code
        self.cat_rank: dict[int, int] = {}  # codes in order of first appearance among the pooled boxes
        self.boxes: list[list[float]] = []
        self.scores: list[float] = []
        self.codes: list[int] = []
        self.models: list[int] = []
        self.ids: list[str] = []

    def _code(self, category: str, fn: ClassMapFn | None, mapped: dict[str, str | None]) -> int:
        if category in mapped:
            m = mapped[category]
        else:
            m = mapped[category] = category if fn is None else fn(category)
            if m is not None and not (isinstance(m, str) and m):
                raise FormatError("fusion class map", f"maps {category!r} to {m!r}; expected a category name or None")
        return -1 if m is None else self.vocab.setdefault(m, len(self.vocab))

    def _add(self, k: int, box: list[float], raw: float, code: int, label_id: str) -> None:
        self.boxes.append(box)
        self.scores.append(raw * self.weights[k])
        self.codes.append(code)
        self.models.append(k)
        self.ids.append(label_id)
        if code not in self.cat_rank:
            self.cat_rank[code] = len(self.cat_rank)

    def add_set(self, k: int, ls: LabelSet, fn: ClassMapFn | None) -> None:
        mapped: dict[str, str | None] = {}
        remap = [self._code(c, fn, mapped) for c in ls.categories]  # the class map runs once per category
        skip = self.skip
        for box, raw, c, has, lid in zip(
            ls.xyxy.tolist(), ls.scores.tolist(), ls.class_codes.tolist(), ls.has_box.tolist(), ls.ids.tolist(),
            strict=True,
        ):  # fmt: skip
            code = remap[c]
            if raw != raw:  # NaN: no score, counts as 1
                raw = 1.0
            if has and code >= 0 and raw >= skip:
                self._add(k, box, raw, code, lid)

    def add_labels(self, k: int, labels: Sequence[Label], fn: ClassMapFn, mapped: dict[str, str | None]) -> None:
        skip = self.skip
        for lab in labels:
            b = lab.box
            if b is None:
                continue
            code = self._code(lab.category, fn, mapped)
            raw = 1.0 if lab.score is None else lab.score
            if code >= 0 and raw >= skip:
                self._add(k, [b.x1, b.y1, b.x2, b.y2], raw, code, lab.id)


@dataclass
class _Fused:
    """One frame's fused labels, best score first, as plain rows."""

    xyxy: list[list[float]]
    scores: list[float]
    categories: list[str]
    ids: list[str]
    attributes: list[dict[str, Any]]

    def to_set(self) -> LabelSet:
        m_n = len(self.ids)
        out_cats = tuple(dict.fromkeys(self.categories))
        code_of = {c: i for i, c in enumerate(out_cats)}
        return LabelSet.of_checked(
            xyxy=np.asarray(self.xyxy, dtype=np.float64).reshape(m_n, 4),
            scores=np.asarray(self.scores, dtype=np.float64),
            class_codes=np.asarray([code_of[c] for c in self.categories], np.int32),
            categories=out_cats,
            ids=object_column(self.ids),
            sources=object_column(["fused"] * m_n),
            review=np.zeros(m_n, np.int8),
            track_ids=object_column([None] * m_n),
            has_box=np.ones(m_n, bool),
            masks=[None] * m_n,
            attributes=self.attributes,
            origins=[None] * m_n,
        )

    def to_labels(self) -> list[Label]:
        """The rows as records: what ``to_set().to_labels()`` makes. Every row is checked by construction (finite
        boxes with x1 <= x2 and y1 <= y2, scores in [0, 1], non-empty ids and categories, source ``fused``), so
        each record is built without validating it again."""
        return [
            checked_label(lid, cat, "fused", score, checked_box(x1, y1, x2, y2), attrs)
            for (x1, y1, x2, y2), score, cat, lid, attrs in zip(
                self.xyxy, self.scores, self.categories, self.ids, self.attributes, strict=True
            )
        ]


def _fuse_pool(
    frame_id: str,
    pool: _Pool,
    n: int,
    w: Sequence[float],
    set_names: Sequence[str],
    method: str,
    iou_threshold: float,
    n_votes: int,
    score_mode: str,
) -> _Fused:
    """Cluster the pooled boxes class by class and fuse each cluster (see the module docstring)."""
    boxes, scores, codes, models, pool_ids = pool.boxes, pool.scores, pool.codes, pool.models, pool.ids
    if not boxes:
        return _Fused([], [], [], [], [])
    # best score first, ties in pooled order (a stable sort; the scores are finite)
    order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
    members, refs = greedy_cluster_rows(
        boxes, scores, iou_threshold=iou_threshold, groups=codes, reference="leader" if method == "nms" else "mean",
        order=order,
    )  # fmt: skip
    k_n = len(members)
    member_models = [[models[idx[0]]] if len(idx) == 1 else sorted({models[i] for i in idx}) for idx in members]
    top = max(w) if w else 1.0
    if method == "nms":
        d = top or 1.0
        fused_l = [min(1.0, scores[m[0]] / d) for m in members]  # np.minimum's answer, in Python floats
    else:
        # each model's best (weighted) score in each cluster, row-major (K, n): one model counts once
        best = [0.0] * (k_n * n)
        for j, idx in enumerate(members):
            row = j * n
            for i in idx:
                cell = row + models[i]
                if scores[i] > best[cell]:
                    best[cell] = scores[i]
        best_a = np.asarray(best, dtype=np.float64).reshape(k_n, n)
        if score_mode == "mean":
            fused = np.minimum(1.0, best_a.sum(axis=1) / (float(sum(w)) or 1.0))
        elif score_mode == "max":
            fused = np.minimum(1.0, best_a.max(axis=1) / top)
        else:  # noisy-or: the chance that at least one model is right
            fused = 1.0 - np.prod(1.0 - np.clip(best_a / top, 0.0, 1.0), axis=1)
        fused_l = fused.tolist()
    cluster_cat = [codes[m[0]] for m in members]
    # clusters category by category (first appearance), then as formed; then best score first (stable)
    cat_rank = pool.cat_rank
    order = sorted(range(k_n), key=lambda j: cat_rank[cluster_cat[j]])
    if method == "vote":
        order = [j for j in order if len(member_models[j]) >= n_votes]
    order.sort(key=lambda j: -fused_l[j])
    xyxy = []
    for j in order:
        r = refs[j]
        x1, y1, x2, y2 = round(r[0], 2), round(r[1], 2), round(r[2], 2), round(r[3], 2)
        xyxy.append([x1, y1, max(x1, x2), max(y1, y2)])  # as np.maximum: the first where equal
    categories = list(pool.vocab)
    cats = [categories[cluster_cat[j]] for j in order]
    attributes = []
    for j in order:
        mm = member_models[j]
        attributes.append(
            {
                "fused_from": [set_names[m] for m in mm],
                "agreement": len(mm),
                "members": [str(pool_ids[i]) for i in members[j]],
                "method": method,
            }
        )
    return _Fused(
        xyxy=xyxy,
        scores=[round(min(max(fused_l[j], 0.0), 1.0), 6) for j in order],
        categories=cats,
        ids=[make_label_id(frame_id, "fused", method, rank, cat) for rank, cat in enumerate(cats)],
        attributes=attributes,
    )
