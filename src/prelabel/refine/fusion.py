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
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from prelabel.core.geometry.boxes2d import greedy_cluster
from prelabel.core.labels import Box2D, FrameRecord, Label, make_label_id
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
    pooled: dict[str, list[tuple[tuple[float, float, float, float], float, int, Label]]] = defaultdict(list)
    for k, r in enumerate(slot):
        if r is None or r.status != "ok":
            continue
        for lab in r.labels:
            if lab.box is None:
                continue
            cat = maps[k](lab.category)
            s = 1.0 if lab.score is None else float(lab.score)
            if cat is None or s < skip_score:
                continue
            pooled[cat].append((lab.box.xyxy, s * weights[k], k, lab))
    fused: list[tuple[float, str, Cluster, list[tuple[tuple[float, float, float, float], float, int, Label]]]] = []
    for cat, items in pooled.items():
        boxes = np.asarray([it[0] for it in items], dtype=np.float64)
        scores = np.asarray([it[1] for it in items], dtype=np.float64)
        models = np.asarray([it[2] for it in items], dtype=np.int64)
        clusters = cluster_boxes(
            boxes, scores, models, weights=weights, method=method, iou_threshold=iou_threshold, score_mode=score_mode
        )
        for c in clusters:
            agree = len({int(models[i]) for i in c.members})
            if method == "vote" and agree < votes:
                continue
            fused.append((c.score, cat, c, items))
    fused.sort(key=lambda t: -t[0])
    labels: list[Label] = []
    for rank, (score, cat, c, items) in enumerate(fused):
        member_models = sorted({items[i][2] for i in c.members})
        x1, y1, x2, y2 = (round(float(v), 2) for v in c.box)
        labels.append(
            Label(
                id=make_label_id(fid, "fused", method, rank, cat),
                category=cat,
                source="fused",
                score=round(min(max(score, 0.0), 1.0), 6),
                box=Box2D(x1=x1, y1=y1, x2=max(x1, x2), y2=max(y1, y2)),
                attributes={
                    "fused_from": [names[m] for m in member_models],
                    "agreement": len(member_models),
                    "members": [items[i][3].id for i in c.members],
                    "method": method,
                },
            )
        )
    return labels
