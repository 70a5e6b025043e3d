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

import numpy as np
import numpy.typing as npt

from prelabel.core.geometry.boxes2d import greedy_cluster, greedy_cluster_rows
from prelabel.core.labels import FrameRecord, Label, make_label_id
from prelabel.core.labelset import LabelSet, object_column
from prelabel.errors import PrelabelError, UnknownNameError

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
                labels=_fuse_frame(fid, slot, maps, w, set_names, method, iou_threshold, skip_score, votes, score_mode),
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
) -> list[Label]:
    sets = [None if r is None or r.status != "ok" else LabelSet.from_labels(r.labels) for r in slot]
    fused = fuse_sets(
        fid,
        sets,
        maps=maps,
        weights=weights,
        names=names,
        method=method,
        iou_threshold=iou_threshold,
        skip_score=skip_score,
        votes=votes,
        score_mode=score_mode,
    )
    return fused.to_labels()


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
    n_votes = votes if votes is not None else n // 2 + 1
    # the pooled rows, model by model, in plain Python (a frame holds tens of boxes: a numpy call per step would
    # cost more than the arithmetic); rows mapped to None, without a box or under skip_score are left out
    vocab: dict[str, int] = {}
    cat_rank: dict[int, int] = {}  # categories in order of first appearance among the pooled boxes
    boxes: list[list[float]] = []
    scores: list[float] = []
    codes: list[int] = []
    models: list[int] = []
    pool_ids: list[str] = []
    for k, ls in enumerate(sets):
        if ls is None or not len(ls):
            continue
        # class maps run once per category
        mapped = [maps[k](c) for c in ls.categories] if maps is not None else list(ls.categories)
        remap = [-1 if m is None else vocab.setdefault(m, len(vocab)) for m in mapped]
        wk = w[k]
        for box, raw, c, has, lid in zip(
            ls.xyxy.tolist(), ls.scores.tolist(), ls.class_codes.tolist(), ls.has_box.tolist(), ls.ids.tolist(),
            strict=True,
        ):  # fmt: skip
            code = remap[c]
            if raw != raw:  # NaN: no score, counts as 1
                raw = 1.0
            if has and code >= 0 and raw >= skip_score:
                boxes.append(box)
                scores.append(raw * wk)
                codes.append(code)
                models.append(k)
                pool_ids.append(lid)
                if code not in cat_rank:
                    cat_rank[code] = len(cat_rank)
    if not boxes:
        return LabelSet.empty()
    members, refs = greedy_cluster_rows(
        boxes, scores, iou_threshold=iou_threshold, groups=codes, reference="leader" if method == "nms" else "mean"
    )
    k_n = len(members)
    # each model's best (weighted) score in each cluster, row-major (K, n): one model counts once
    best = [0.0] * (k_n * n)
    for j, idx in enumerate(members):
        row = j * n
        for i in idx:
            cell = row + models[i]
            if scores[i] > best[cell]:
                best[cell] = scores[i]
    member_models = [sorted({models[i] for i in idx}) for idx in members]
    top = max(w) if w else 1.0
    if method == "nms":
        fused = np.minimum(1.0, np.asarray([scores[m[0]] for m in members]) / (top or 1.0))
    else:
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
    order = sorted(range(k_n), key=lambda j: cat_rank[cluster_cat[j]])
    if method == "vote":
        order = [j for j in order if len(member_models[j]) >= n_votes]
    order.sort(key=lambda j: -fused_l[j])
    m_n = len(order)
    out_xyxy = np.asarray([[round(v, 2) for v in refs[j]] for j in order], dtype=np.float64).reshape(m_n, 4)
    out_xyxy[:, 2] = np.maximum(out_xyxy[:, 0], out_xyxy[:, 2])
    out_xyxy[:, 3] = np.maximum(out_xyxy[:, 1], out_xyxy[:, 3])
    categories = list(vocab)
    cats = [categories[cluster_cat[j]] for j in order]
    out_cats = tuple(dict.fromkeys(cats))
    code_of = {c: i for i, c in enumerate(out_cats)}
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
    return LabelSet.of_checked(
        xyxy=out_xyxy,
        scores=np.asarray([round(min(max(fused_l[j], 0.0), 1.0), 6) for j in order], dtype=np.float64),
        class_codes=np.asarray([code_of[c] for c in cats], np.int32),
        categories=out_cats,
        ids=object_column([make_label_id(frame_id, "fused", method, rank, cat) for rank, cat in enumerate(cats)]),
        sources=object_column(["fused"] * m_n),
        review=np.zeros(m_n, np.int8),
        track_ids=object_column([None] * m_n),
        has_box=np.ones(m_n, bool),
        masks=[None] * m_n,
        attributes=attributes,
        origins=[None] * m_n,
    )
