"""Multi-object tracking of pre-labels: every 2D box of a sequence gets a ``track_id``.

ByteTrack's association (Zhang et al., ECCV 2022), with a constant-velocity Kalman filter per track
(:mod:`prelabel.refine.kalman`) and Hungarian matching (scipy):

1. predict every live track to the new frame;
2. match confirmed and lost tracks to the **high**-score boxes (IoU >= ``match_iou``, IoU weighted by score);
3. match the tracks still unmatched and seen in the previous frame to the **low**-score boxes (IoU >=
   ``low_match_iou``): a weak detection continues a track instead of being dropped;
4. match tentative tracks (born one frame ago) to the high boxes left;
5. start a track from every high box left scoring >= ``new_track_score``; a track unseen for ``max_lost``
   frames ends.

Tracking runs per sequence (:func:`prelabel.core.sequences.group_sequences`) and per class group: by default each
class alone; ``class_groups`` lets classes a detector confuses share tracks (``pedestrian`` and ``rider``). Labels
no track takes (weak boxes, or boxes of a track that never got confirmed) still get an id of their own so that
every label carries one; ``attributes["track_hits"]`` says how many frames its track has.

Camera motion: where frames carry ``ego_pose`` and ``calibration.K``, predictions are first moved by the camera's
rotation between the frames (:func:`ego_rotation_homography`); otherwise new tracks start with the image motion
fitted to the frame's well-tracked boxes (:func:`fit_image_motion`).
Written here rather than taken from ``trackers``: the offline refinement (:mod:`prelabel.refine.offline`) needs
the per-frame association and the Kalman states, and the algorithm is short.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from prelabel.core.geometry.boxes2d import overlap
from prelabel.core.labels import Frame, FrameRecord, Label
from prelabel.core.sequences import group_sequences
from prelabel.refine.kalman import BoxKalman, to_cxcywh, to_xyxy

F64 = npt.NDArray[np.float64]


@dataclass
class TrackerConfig:
    high_score: float = 0.5
    low_score: float = 0.1
    new_track_score: float = 0.6
    match_iou: float = 0.2
    low_match_iou: float = 0.5
    tentative_iou: float = 0.3
    max_lost: int = 30  # frames a lost track waits to be found again
    fuse_score: bool = True  # first association on IoU x score
    buffer: float = 0.0  # boxes grown by this fraction of their size on each side before IoU (C-BIoU)
    group_scores: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # group -> (high, new track)
    motion_prior: bool = True  # new tracks start with the velocity of the frame's fitted image motion
    ego_motion: bool = True  # warp predictions by the camera rotation when frames carry ego poses and K
    class_groups: Mapping[str, str] = field(default_factory=dict)  # class -> group tracked together
    kalman: BoxKalman = field(default_factory=BoxKalman)


@dataclass
class _Track:
    tid: int
    mean: F64
    cov: F64
    hits: int = 1
    last: int = 0  # frame position last seen
    confirmed: bool = False
    members: list[tuple[int, int]] = field(default_factory=list)  # (frame position, label position)


def _assign(cost: F64, max_cost: float) -> list[tuple[int, int]]:
    from scipy.optimize import linear_sum_assignment

    if cost.size == 0:
        return []
    c = np.where(cost > max_cost, 1e6, cost)
    rows, cols = linear_sum_assignment(c)
    return [(int(r), int(k)) for r, k in zip(rows, cols, strict=True) if cost[r, k] <= max_cost]


def _grow(boxes: F64, b: float) -> F64:
    if b <= 0:
        return boxes
    wh = boxes[:, 2:] - boxes[:, :2]
    return np.concatenate([boxes[:, :2] - b * wh, boxes[:, 2:] + b * wh], axis=1)


class _GroupTracker:
    """ByteTrack over the boxes of one class group of one sequence."""

    def __init__(self, cfg: TrackerConfig, next_id: list[int], motion: list[float], group: str) -> None:
        self.cfg = cfg
        self.high, self.new_score = cfg.group_scores.get(group, (cfg.high_score, cfg.new_track_score))
        self.kf = cfg.kalman
        self.next_id = next_id
        self.motion = motion  # [s, tx, ty]: image velocity v = s * (cx, cy, w, h) + (tx, ty, 0, 0)
        self.live: list[_Track] = []
        self.done: list[_Track] = []

    def _new(self, t: int, j: int, box: tuple[float, float, float, float]) -> _Track:
        self.next_id[0] += 1
        z = to_cxcywh(box)
        mean, cov = self.kf.initiate(z)
        if self.cfg.motion_prior:
            sc, tx, ty = self.motion
            mean[4:] = [sc * z[0] + tx, sc * z[1] + ty, sc * z[2], sc * z[3]]
        return _Track(tid=self.next_id[0], mean=mean, cov=cov, last=t, confirmed=t == 0, members=[(t, j)])

    def _match(
        self, tracks: list[_Track], dets: list[int], boxes: F64, scores: F64, thr: float, fuse: bool
    ) -> tuple[list[tuple[_Track, int]], list[int], list[int]]:
        if not tracks or not dets:
            return [], list(range(len(tracks))), list(dets)
        pred = np.array([to_xyxy(tr.mean) for tr in tracks])
        iou = overlap(_grow(pred, self.cfg.buffer), _grow(boxes[dets], self.cfg.buffer), "iou")
        sim = iou * scores[dets][None, :] if fuse else iou
        cost = np.where(iou >= thr, 1.0 - sim, 2.0)
        pairs = _assign(cost, 1.0)
        mt = {a for a, _ in pairs}
        md = {b for _, b in pairs}
        return (
            [(tracks[a], dets[b]) for a, b in pairs],
            [a for a in range(len(tracks)) if a not in mt],
            [d for k, d in enumerate(dets) if k not in md],
        )

    def step(self, t: int, boxes: F64, scores: F64, idx: list[int], warp: F64 | None = None) -> None:
        """One frame: ``boxes``/``scores`` of this group; ``idx`` their label positions in the frame; ``warp`` the
        camera-rotation homography from the previous frame."""
        cfg = self.cfg
        for tr in self.live:
            tr.mean, tr.cov = self.kf.predict(tr.mean, tr.cov)
            if warp is not None:
                _warp(tr.mean, warp)
        high = [k for k in range(len(boxes)) if scores[k] >= self.high]
        low = [k for k in range(len(boxes)) if cfg.low_score <= scores[k] < self.high]
        pool = [tr for tr in self.live if tr.confirmed]
        tentative = [tr for tr in self.live if not tr.confirmed]
        matched, rest_t, rest_high = self._match(pool, high, boxes, scores, cfg.match_iou, cfg.fuse_score)
        recent = [pool[a] for a in rest_t if pool[a].last == t - 1]
        m2, _, _ = self._match(recent, low, boxes, scores, cfg.low_match_iou, False)
        m3, _, rest_high = self._match(tentative, rest_high, boxes, scores, cfg.tentative_iou, cfg.fuse_score)
        for tr, k in matched + m2 + m3:
            tr.mean, tr.cov = self.kf.update(tr.mean, tr.cov, to_cxcywh(boxes[k]))
            tr.hits += 1
            tr.last = t
            tr.confirmed = True
            tr.members.append((t, idx[k]))
        keep: list[_Track] = []
        for tr in self.live:
            if tr.last == t or (tr.confirmed and t - tr.last <= cfg.max_lost):
                keep.append(tr)
            else:
                self.done.append(tr)
        for k in rest_high:
            if scores[k] >= self.new_score:
                keep.append(self._new(t, idx[k], tuple(boxes[k])))
        self.live = keep

    def finish(self) -> list[_Track]:
        return self.done + self.live


# ego (x forward, y left, z up) -> camera (x right, y down, z forward): the default mounting of a forward camera
_CAM_FROM_EGO = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def ego_rotation_homography(prev: Frame, cur: Frame) -> F64 | None:
    """Pixel homography ``K R K^-1`` that the camera's rotation between two frames gives distant points, from
    ``ego_pose`` (world_from_ego), ``sensor_pose`` (ego_from_camera; default: a forward camera) and
    ``calibration.K``. None when either frame lacks a pose or intrinsics. Translation is left to the motion model
    (it needs depth)."""
    if prev.ego_pose is None or cur.ego_pose is None or cur.calibration is None:
        return None
    k = np.asarray(cur.calibration.K, dtype=np.float64)

    def world_from_cam(f: Frame) -> F64:
        assert f.ego_pose is not None
        r_we = f.ego_pose.matrix()[:3, :3]
        r_ec = f.sensor_pose.matrix()[:3, :3] if f.sensor_pose is not None else _CAM_FROM_EGO.T
        out: F64 = r_we @ r_ec
        return out

    r = world_from_cam(cur).T @ world_from_cam(prev)  # cam_cur_from_cam_prev
    h: F64 = k @ r @ np.linalg.inv(k)
    return h


def _warp(mean: F64, h: F64) -> None:
    """Move a track's predicted centre by a homography (size kept)."""
    p = h @ np.array([mean[0], mean[1], 1.0])
    if abs(p[2]) > 1e-9:
        mean[0], mean[1] = p[0] / p[2], p[1] / p[2]


def fit_image_motion(states: list[F64]) -> list[float]:
    """Least-squares image motion ``v = s * (cx, cy, w, h) + (tx, ty, 0, 0)`` from Kalman states of well-tracked
    boxes: the zoom and shift that ego motion gives every box (camera-motion compensation from the detections
    themselves, when no ego poses are known). Fewer than 3 states: no motion."""
    if len(states) < 3:
        return [0.0, 0.0, 0.0]
    rows: list[list[float]] = []
    rhs: list[float] = []
    for m in states:
        cx, cy, w, h, vx, vy, vw, vh = (float(v) for v in m)
        rows += [[cx, 1, 0], [cy, 0, 1], [w, 0, 0], [h, 0, 0]]
        rhs += [vx, vy, vw, vh]
    sol, *_ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    return [float(v) for v in sol]


def track_sequence(frames: list[FrameRecord], config: TrackerConfig | None = None) -> list[FrameRecord]:
    """Track the boxes of one sequence (records in frame order). Returns new records; labels get ``track_id``."""
    cfg = config or TrackerConfig()
    next_id = [0]
    motion = [0.0, 0.0, 0.0]
    groups: dict[str, _GroupTracker] = {}
    for t, rec in enumerate(frames):
        warp = ego_rotation_homography(frames[t - 1].frame, rec.frame) if t and cfg.ego_motion else None
        per: dict[str, list[int]] = defaultdict(list)
        for j, lab in enumerate(rec.labels):
            if lab.box is not None:
                per[cfg.class_groups.get(lab.category, lab.category)].append(j)
        for g in sorted(set(per) | set(groups)):
            tracker = groups.setdefault(g, _GroupTracker(cfg, next_id, motion, g))
            idx = per.get(g, [])
            boxes = np.array([rec.labels[j].box.xyxy for j in idx]).reshape(-1, 4)  # type: ignore[union-attr]
            scores = np.array([1.0 if rec.labels[j].score is None else rec.labels[j].score for j in idx])
            tracker.step(t, boxes, scores, idx, warp)
        steady = [tr.mean for gt in groups.values() for tr in gt.live if tr.last == t and tr.hits >= 3]
        motion[:] = fit_image_motion(steady)
    owner: dict[tuple[int, int], tuple[int, int]] = {}  # (frame, label) -> (track id, hits)
    for gt in groups.values():
        for tr in gt.finish():
            for m in tr.members:
                owner[m] = (tr.tid, len(tr.members))
    out: list[FrameRecord] = []
    for t, rec in enumerate(frames):
        labels: list[Label] = []
        for j, lab in enumerate(rec.labels):
            if (t, j) in owner:
                tid, hits = owner[(t, j)]
            else:
                next_id[0] += 1
                tid, hits = next_id[0], 1
            attrs = {**lab.attributes, "track_hits": hits}
            labels.append(lab.model_copy(update={"track_id": str(tid), "attributes": attrs}))
        out.append(rec.model_copy(update={"labels": labels}))
    return out


def track_records(records: Iterable[FrameRecord], config: TrackerConfig | None = None) -> list[FrameRecord]:
    """Track every sequence in ``records``; the result keeps the input's frame order. Track ids are unique per
    sequence (``"1"``, ``"2"``...)."""
    recs = list(records)
    tracked: dict[int, FrameRecord] = {}
    position = {id(r): i for i, r in enumerate(recs)}
    for frames in group_sequences(recs).values():
        for src, new in zip(frames, track_sequence(frames, config), strict=True):
            tracked[position[id(src)]] = new
    return [tracked[i] for i in range(len(recs))]
