"""Offline refinement of tracked labels: the whole sequence is known, so use the future as well as the past.

Steps, in order, per sequence (every one optional through :class:`RefineConfig`):

1. **drop weak** tracks: a mean score below ``min_track_score`` (per class group: ``min_track_scores``);
2. **stitch**: a track that ends and a track of the same class group that starts within ``stitch_gap`` frames
   later, where the first one's motion carries it onto the second (IoU >= ``stitch_iou``), become one track;
3. **class vote**: a track takes the score-weighted majority class of its boxes (``category_before`` keeps a
   changed label's old class); tracks shorter than ``min_length`` boxes are dropped (dropped tracks and boxes
   are counted in :class:`RefineReport`; nothing else is removed);
4. **smooth**: a forward Kalman filter and a backward Rauch-Tung-Striebel pass over each track
   (:meth:`prelabel.refine.kalman.BoxKalman.smooth`) move its boxes ``smooth_weight`` of the way to the smoothed
   estimate;
5. **fill** gaps of at most ``max_gap`` frames inside a track with the smoothed box: new labels with
   ``attributes["interpolated"] = True``;
6. **rescore**: each box's score becomes ``(1 - track_weight) * own + track_weight * track mean``, so the weak
   frame of a consistent track rises and an isolated false positive falls (``score_before`` keeps the old one).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from prelabel.core.geometry.boxes2d import overlap
from prelabel.core.labels import Box2D, FrameRecord, Label, make_label_id
from prelabel.core.sequences import check_track_ids, group_sequences
from prelabel.refine.kalman import BoxKalman, to_cxcywh, to_xyxy


@dataclass
class RefineConfig:
    stitch_gap: int = 10
    stitch_iou: float = 0.1
    class_vote: bool = True
    class_groups: Mapping[str, str] = field(default_factory=dict)
    min_length: int = 3
    min_track_score: float = 0.45
    min_track_scores: Mapping[str, float] = field(default_factory=dict)  # per class group, overrides the above
    smooth_weight: float = 0.5
    max_gap: int = 1
    track_weight: float = 0.5
    kalman: BoxKalman = field(default_factory=lambda: BoxKalman(std_vel=0.1))


@dataclass
class RefineReport:
    tracks_in: int = 0
    tracks_out: int = 0
    stitched: int = 0
    dropped_tracks: int = 0
    dropped_labels: int = 0
    filled: int = 0
    relabelled: int = 0


@dataclass
class _T:
    key: str  # track id
    group: str
    items: list[tuple[int, Label]]  # (frame position, label), in frame order


def _tracks(frames: list[FrameRecord], cfg: RefineConfig) -> dict[str, _T]:
    out: dict[str, _T] = {}
    for t, rec in enumerate(frames):
        for lab in rec.labels:
            if lab.box is None or lab.track_id is None:
                continue
            tr = out.get(lab.track_id)
            if tr is None:
                tr = out[lab.track_id] = _T(lab.track_id, cfg.class_groups.get(lab.category, lab.category), [])
            tr.items.append((t, lab))
    return out


def _xyxy(lab: Label) -> tuple[float, float, float, float]:
    assert lab.box is not None
    return lab.box.xyxy


def _velocity(tr: _T, end: bool) -> np.ndarray:
    items = tr.items[-3:] if end else tr.items[:3]
    if len(items) < 2:
        return np.zeros(4)
    (t0, a), (t1, b) = items[0], items[-1]
    diff: np.ndarray = to_cxcywh(_xyxy(b)) - to_cxcywh(_xyxy(a))
    return diff / max(t1 - t0, 1)


def _stitch(tracks: dict[str, _T], cfg: RefineConfig) -> int:
    """Greedy: best-overlapping (end, start) pairs first, each track end and start used once."""
    cands: list[tuple[float, str, str]] = []
    ts = [tr for tr in tracks.values() if len(tr.items) >= max(2, cfg.min_length)]
    for a in ts:
        ta, la = a.items[-1]
        va = _velocity(a, end=True)
        ca = to_cxcywh(la.box.xyxy)  # type: ignore[union-attr]
        for b in ts:
            if b is a or b.group != a.group:
                continue
            tb, lb = b.items[0]
            gap = tb - ta
            if gap < 1 or gap > cfg.stitch_gap:
                continue
            cb = to_cxcywh(lb.box.xyxy)  # type: ignore[union-attr]
            fwd = np.array(to_xyxy(ca + va * gap))
            back = np.array(to_xyxy(cb - _velocity(b, end=False) * gap))
            iou = max(
                float(overlap(fwd, np.array(lb.box.xyxy), "iou")[0, 0]),  # type: ignore[union-attr]
                float(overlap(back, np.array(la.box.xyxy), "iou")[0, 0]),  # type: ignore[union-attr]
            )
            if iou >= cfg.stitch_iou:
                cands.append((iou / gap**0.5, a.key, b.key))
    cands.sort(reverse=True)
    parent: dict[str, str] = {}
    ended: set[str] = set()
    started: set[str] = set()
    n = 0

    def root(k: str) -> str:
        while k in parent:
            k = parent[k]
        return k

    for _, ka, kb in cands:
        if ka in ended or kb in started or root(ka) == root(kb):
            continue
        ended.add(ka)
        started.add(kb)
        parent[kb] = ka
        n += 1
    for kb in sorted(parent, key=lambda k: tracks[k].items[0][0]):
        r = root(kb)
        tracks[r].items.extend(tracks[kb].items)
        tracks[r].items.sort(key=lambda it: it[0])
        del tracks[kb]
    return n


def refine_sequence(
    frames: list[FrameRecord], config: RefineConfig | None = None
) -> tuple[list[FrameRecord], RefineReport]:
    """Refine one tracked sequence (records in frame order); returns new records and what was done."""
    cfg = config or RefineConfig()
    rep = RefineReport()
    tracks = _tracks(frames, cfg)
    rep.tracks_in = len(tracks)
    for key in list(tracks):
        weak = [1.0 if lab.score is None else lab.score for _, lab in tracks[key].items]
        if float(np.mean(weak)) < cfg.min_track_scores.get(tracks[key].group, cfg.min_track_score):
            rep.dropped_tracks += 1
            rep.dropped_labels += len(tracks.pop(key).items)
    if cfg.stitch_gap > 0:
        rep.stitched = _stitch(tracks, cfg)
    new_labels: dict[int, list[Label]] = defaultdict(list)  # frame position -> labels
    for tr in tracks.values():
        scores = [1.0 if lab.score is None else lab.score for _, lab in tr.items]
        if len(tr.items) < cfg.min_length:
            rep.dropped_tracks += 1
            rep.dropped_labels += len(tr.items)
            continue
        mean_score = float(np.mean(scores))
        category = tr.items[0][1].category
        if cfg.class_vote:
            votes: dict[str, float] = defaultdict(float)
            for s, (_, lab) in zip(scores, tr.items, strict=True):
                votes[lab.category] += s
            category = max(sorted(votes), key=lambda c: votes[c])
        t0, t1 = tr.items[0][0], tr.items[-1][0]
        obs: list[np.ndarray | None] = [None] * (t1 - t0 + 1)
        for t, lab in tr.items:
            obs[t - t0] = to_cxcywh(lab.box.xyxy)  # type: ignore[union-attr]
        smooth = cfg.kalman.smooth(obs) if (cfg.smooth_weight > 0 or cfg.max_gap > 0) else []
        by_t = dict(tr.items)
        gap_start = t0
        for k in range(t1 - t0 + 1):
            t = t0 + k
            got = by_t.get(t)
            if got is not None:
                lab = got
                gap_start = t
                upd: dict[str, object] = {"track_id": tr.key}
                attrs = dict(lab.attributes)
                if cfg.smooth_weight > 0:
                    mixed = (1 - cfg.smooth_weight) * obs[k] + cfg.smooth_weight * smooth[k]  # type: ignore[operator]
                    upd["box"] = Box2D.from_xyxy(to_xyxy(mixed))
                if category != lab.category:
                    attrs["category_before"] = lab.category
                    upd["category"] = category
                    rep.relabelled += 1
                if cfg.track_weight > 0 and lab.score is not None:
                    attrs["score_before"] = lab.score
                    upd["score"] = min(1.0, (1 - cfg.track_weight) * lab.score + cfg.track_weight * mean_score)
                attrs["track_length"] = len(tr.items)
                upd["attributes"] = attrs
                new_labels[t].append(lab.model_copy(update=upd))
                continue
            nxt = next(tt for tt in range(t + 1, t1 + 1) if tt in by_t)
            if nxt - gap_start - 1 > cfg.max_gap:
                continue
            src = by_t[gap_start]
            new_labels[t].append(
                Label(
                    id=make_label_id("interpolated", tr.key, t),
                    category=category,
                    source=src.source,
                    score=min(1.0, mean_score),
                    box=Box2D.from_xyxy(to_xyxy(smooth[k])),
                    track_id=tr.key,
                    attributes={"interpolated": True, "track_length": len(tr.items)},
                )
            )
            rep.filled += 1
    rep.tracks_out = rep.tracks_in - rep.stitched - rep.dropped_tracks
    out: list[FrameRecord] = []
    for t, rec in enumerate(frames):
        keep = [lab for lab in rec.labels if lab.box is None or lab.track_id is None]
        out.append(rec.model_copy(update={"labels": keep + new_labels.get(t, [])}))
    return out, rep


def refine_records(
    records: Iterable[FrameRecord], config: RefineConfig | None = None
) -> tuple[list[FrameRecord], RefineReport]:
    """Refine every sequence of tracked records; the result keeps the input's frame order."""
    recs = list(records)
    check_track_ids(recs, "tracked labels")
    position = {id(r): i for i, r in enumerate(recs)}
    done: dict[int, FrameRecord] = {}
    total = RefineReport()
    for frames in group_sequences(recs).values():
        new, rep = refine_sequence(frames, config)
        for src, r in zip(frames, new, strict=True):
            done[position[id(src)]] = r
        for k in vars(total):
            setattr(total, k, getattr(total, k) + getattr(rep, k))
    return [done[i] for i in range(len(recs))], total
