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

from prelabel.core.geometry.boxes2d import greedy_cluster
from prelabel.core.labels import FrameRecord, Label, make_label_id
from prelabel.core.labelset import LabelSet
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
    vocab: dict[str, int] = {}
    part_boxes, part_scores, part_codes, part_models, part_ids = [], [], [], [], []
    for k, ls in enumerate(sets):
        if ls is None or not len(ls):
            continue
        # class maps run once per category; rows mapped to None, without a box or under skip_score are left out
        mapped = [maps[k](c) for c in ls.categories] if maps is not None else list(ls.categories)
        remap = np.asarray([-1 if m is None else vocab.setdefault(m, len(vocab)) for m in mapped], np.int64)
        code = remap[ls.class_codes]
        raw = ls.scores_or(1.0)
        idx = np.flatnonzero(ls.has_box & (code >= 0) & (raw >= skip_score))
        part_boxes.append(ls.xyxy[idx])
        part_scores.append(raw[idx] * w[k])
        part_codes.append(code[idx])
        part_models.append(np.full(len(idx), k, np.int64))
        part_ids.append(ls.ids[idx])
    if not part_boxes or not sum(len(b) for b in part_boxes):
        return LabelSet.empty()
    xyxy = np.concatenate(part_boxes)
    scores = np.concatenate(part_scores)
    codes = np.concatenate(part_codes)
    models = np.concatenate(part_models)
    pool_ids = np.concatenate(part_ids).tolist()
    categories = list(vocab)
    # categories in order of first appearance among the pooled boxes (model by model)
    _, first = np.unique(codes, return_index=True)
    cat_rank = np.empty(len(categories), np.int64)
    cat_rank[codes[np.sort(first)]] = np.arange(len(first))
    cl = greedy_cluster(
        xyxy,
        scores,
        iou_threshold=iou_threshold,
        groups=codes,
        reference="leader" if method == "nms" else "mean",
    )
    k_n = len(cl)
    lab = np.empty(len(xyxy), np.int64)
    for j, members in enumerate(cl.members):
        lab[members] = j
    leaders = np.asarray([m[0] for m in cl.members], np.int64)
    best = np.zeros((k_n, n))  # each model's best (weighted) score in each cluster: one model counts once
    np.maximum.at(best, (lab, models), scores)
    present = np.zeros((k_n, n), bool)
    present[lab, models] = True
    agreement = present.sum(axis=1)
    top = max(w) if w else 1.0
    if method == "nms":
        fused = np.minimum(1.0, scores[leaders] / (top or 1.0))
    elif score_mode == "mean":
        fused = np.minimum(1.0, best.sum(axis=1) / (float(sum(w)) or 1.0))
    elif score_mode == "max":
        fused = np.minimum(1.0, best.max(axis=1) / top)
    else:  # noisy-or: the chance that at least one model is right
        fused = 1.0 - np.prod(1.0 - np.clip(best / top, 0.0, 1.0), axis=1)
    keep = np.ones(k_n, bool) if method != "vote" else agreement >= n_votes
    cluster_cat = codes[leaders]
    # clusters category by category (first appearance), then as formed; then best score first (stable)
    order = np.lexsort((np.arange(k_n), cat_rank[cluster_cat]))
    order = order[keep[order]]
    order = order[np.argsort(-fused[order], kind="stable")]
    boxes = np.asarray([[round(v, 2) for v in row] for row in cl.boxes[order].tolist()]).reshape(-1, 4)
    boxes[:, 2] = np.maximum(boxes[:, 0], boxes[:, 2])
    boxes[:, 3] = np.maximum(boxes[:, 1], boxes[:, 3])
    cats = [categories[c] for c in cluster_cat[order].tolist()]
    ids = [make_label_id(frame_id, "fused", method, rank, cat) for rank, cat in enumerate(cats)]
    present_rows = present.tolist()
    attributes = []
    for j in order.tolist():
        member_models = [m for m, here in enumerate(present_rows[j]) if here]
        attributes.append(
            {
                "fused_from": [set_names[m] for m in member_models],
                "agreement": len(member_models),
                "members": [str(pool_ids[i]) for i in cl.members[j]],
                "method": method,
            }
        )
    m_n = len(order)
    out_cats = tuple(dict.fromkeys(cats))
    code_of = {c: i for i, c in enumerate(out_cats)}
    return LabelSet(
        xyxy=boxes,
        scores=np.asarray([round(v, 6) for v in np.clip(fused[order], 0.0, 1.0).tolist()], dtype=np.float64),
        class_codes=np.asarray([code_of[c] for c in cats], np.int32),
        categories=out_cats,
        ids=np.asarray(ids, dtype=object).reshape(m_n),
        sources=np.full(m_n, "fused", dtype=object),
        review=np.zeros(m_n, np.int8),
        track_ids=np.full(m_n, None, dtype=object),
        has_box=np.ones(m_n, bool),
        attributes=attributes,
    )
