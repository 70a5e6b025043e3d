"""3D tracks in the world frame, refined offline over the whole sequence (after Waymo's 3D Auto Labeling, simply).

1. **Track.** Boxes of each frame go to the world frame with the ego pose. A constant-velocity Kalman filter per track
   (state x y vx vy) predicts each track into the next frame; the Hungarian algorithm
   (``scipy.optimize.linear_sum_assignment``) matches class-consistent boxes within ``gate`` metres of the
   prediction. Unmatched boxes start tracks; tracks unseen for ``max_age`` frames end.
2. **Refine each track** (at least ``min_hits`` boxes; shorter tracks are left as they are, marked):
   - one size: the per-dimension median over the track;
   - static objects (the median centres travel less than ``static_m``): one centre and one yaw for every frame,
     its axis the mean of the fits modulo pi and its front the way most fits point;
   - moving objects: centres smoothed (a centred moving average, ``window`` frames), and the heading taken from the
     direction of motion wherever the object moves faster than ``min_speed`` (this fixes front/back flips, which
     one sweep cannot tell); the fitted yaw is kept modulo pi, turned to agree with the motion;
   - z: the median over the track's nearby frames.

Boxes are ``boxes3d`` rows; frames are lists of (boxes, classes, scores) with a ``world_from_ego`` 4x4 each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.geometry import transforms as tf
from prelabel.core.geometry.boxes3d import wrap_angle

F64 = npt.NDArray[np.float64]


@dataclass
class Track:
    id: int
    cls: str
    frames: list[int] = field(default_factory=list)
    boxes: list[F64] = field(default_factory=list)  # world frame
    scores: list[float] = field(default_factory=list)
    index: list[int] = field(default_factory=list)  # position of each box in its frame's input
    state: F64 = field(default_factory=lambda: np.zeros(4))  # x y vx vy
    cov: F64 = field(default_factory=lambda: np.eye(4))
    last: int = 0


def _predict(t: Track, dt: float, q: float = 1.0) -> None:
    f = np.eye(4)
    f[0, 2] = f[1, 3] = dt
    t.state = f @ t.state
    t.cov = f @ t.cov @ f.T + q * np.diag([dt**2, dt**2, dt, dt])


def _update(t: Track, xy: F64, r: float = 0.25) -> None:
    h = np.zeros((2, 4))
    h[0, 0] = h[1, 1] = 1.0
    s = h @ t.cov @ h.T + r * np.eye(2)
    k = t.cov @ h.T @ np.linalg.inv(s)
    t.state = t.state + k @ (xy - h @ t.state)
    t.cov = (np.eye(4) - k @ h) @ t.cov


def track(
    frames: Sequence[tuple[F64, Sequence[str], Sequence[float]]],
    world_from_ego: Sequence[npt.ArrayLike],
    times_s: Sequence[float],
    *,
    gate: float = 2.0,
    max_age: int = 3,
) -> list[Track]:
    """Tracks over the frames (boxes in each frame's ego frame) in the world frame."""
    from scipy.optimize import linear_sum_assignment

    tracks: list[Track] = []
    live: list[Track] = []
    for fi, ((boxes, classes, scores), pose) in enumerate(zip(frames, world_from_ego, strict=True)):
        world = tf.transform_boxes(pose, boxes) if len(boxes) else np.zeros((0, 7))
        dt = times_s[fi] - times_s[fi - 1] if fi else 0.1
        for t in live:
            _predict(t, dt)
        cost = np.full((len(live), len(world)), 1e6)
        for i, t in enumerate(live):
            for j in range(len(world)):
                if classes[j] == t.cls:
                    cost[i, j] = float(np.hypot(*(world[j, :2] - t.state[:2])))
        rows, cols = linear_sum_assignment(cost) if cost.size else (np.zeros(0, int), np.zeros(0, int))
        matched = set()
        for i, j in zip(rows, cols, strict=True):
            if cost[i, j] <= gate:
                t = live[i]
                _update(t, world[j, :2])
                t.frames.append(fi)
                t.boxes.append(world[j])
                t.scores.append(float(scores[j]))
                t.index.append(int(j))
                t.last = fi
                matched.add(int(j))
        for j in range(len(world)):
            if j not in matched:
                t = Track(
                    id=len(tracks),
                    cls=str(classes[j]),
                    frames=[fi],
                    index=[j],
                    boxes=[world[j]],
                    scores=[float(scores[j])],
                    last=fi,
                )
                t.state = np.r_[world[j, :2], 0.0, 0.0]
                t.cov = np.diag([0.5, 0.5, 10.0, 10.0])
                tracks.append(t)
                live.append(t)
        live = [t for t in live if fi - t.last < max_age]
    return tracks


def refine(
    t: Track,
    times_s: Sequence[float],
    *,
    min_hits: int = 3,
    static_m: float = 1.0,
    window: int = 5,
    min_speed: float = 1.0,
) -> list[F64]:
    """The track's boxes (world frame), refined as the module docstring says."""
    b = np.array(t.boxes)
    if len(b) < min_hits:
        return list(b)
    out = b.copy()
    out[:, 3:6] = np.median(b[:, 3:6], axis=0)
    span = float(np.hypot(*(np.median(b[-3:, :2], axis=0) - np.median(b[:3, :2], axis=0))))
    if span < static_m:
        out[:, :3] = np.median(b[:, :3], axis=0)
        # one yaw modulo pi: the circular mean of the doubled angles
        yaw = 0.5 * np.arctan2(np.sin(2 * b[:, 6]).mean(), np.cos(2 * b[:, 6]).mean())
        # front or back: the way most frames' fits point (each is right more often than not)
        if (np.abs(wrap_angle(b[:, 6] - yaw)) > np.pi / 2).mean() > 0.5:
            yaw += np.pi
        out[:, 6] = wrap_angle(yaw)
        return list(out)
    half = window // 2
    for i in range(len(b)):
        lo, hi = max(0, i - half), min(len(b), i + half + 1)
        out[i, :3] = b[lo:hi, :3].mean(axis=0)
    ts = np.asarray([times_s[f] for f in t.frames])
    for i in range(len(b)):
        lo, hi = max(0, i - half), min(len(b) - 1, i + half)
        if hi == lo or ts[hi] == ts[lo]:
            continue
        v = (out[hi, :2] - out[lo, :2]) / (ts[hi] - ts[lo])
        if np.hypot(*v) >= min_speed:
            heading = np.arctan2(v[1], v[0])
            yaw = b[i, 6]
            if abs(wrap_angle(yaw - heading)) > np.pi / 2:  # fitted yaw is modulo pi: turn it to the motion
                yaw += np.pi
            out[i, 6] = wrap_angle(yaw)
    return list(out)


def refine_records(records: Sequence[Any], *, dt_default: float = 0.1) -> list[Any]:
    """Track and refine the 3D labels of scene records, sequence by sequence (``frame.sequence``, then ``index``
    or time). Boxes in the LiDAR frame go through ``ego_pose · sensor_pose``, boxes in ``ego`` through
    ``ego_pose``; every frame needs its ego pose. Labels get ``track_id`` ``<sequence>:<n>`` and their refined box
    (same frame as before); ``attributes.track_refined`` says whether the track was long enough to refine."""
    from prelabel.core.labels import Box3D
    from prelabel.errors import PrelabelError

    out = [r.model_copy(deep=True) for r in records]
    groups: dict[str, list[Any]] = {}
    for r in out:
        if r.status == "ok":
            groups.setdefault(r.frame.sequence or "", []).append(r)
    for seq, recs in groups.items():
        recs.sort(key=lambda r: (r.frame.index if r.frame.index is not None else 0, r.frame.timestamp_ns or 0))
        frames, poses, times, labels = [], [], [], []
        for k, r in enumerate(recs):
            if r.frame.ego_pose is None:
                raise PrelabelError(
                    f"frame {r.frame.id}: refining 3D tracks needs the ego pose (world_from_ego) "
                    "of every frame; expected a scene from KITTI tracking, nuScenes or AV2"
                )
            ego = r.frame.ego_pose.matrix()
            lid = ego @ (r.frame.sensor_pose.matrix() if r.frame.sensor_pose is not None else np.eye(4))
            ls = [lb for lb in r.labels if lb.box3d is not None and lb.box3d.frame in ("lidar", "velodyne", "ego")]
            rows = []
            for lb in ls:
                b = lb.box3d
                row = np.array([b.x, b.y, b.z, b.length, b.width, b.height, b.yaw])
                # everything goes to the ego frame first, so one pose per frame serves all labels
                rows.append(tf.transform_boxes(np.linalg.inv(ego) @ lid, row)[0] if b.frame != "ego" else row)
            frames.append((np.array(rows).reshape(-1, 7), [lb.category for lb in ls], [lb.score or 1.0 for lb in ls]))
            poses.append(ego)
            ts = r.frame.timestamp_ns
            times.append(
                ts / 1e9 if ts is not None else (r.frame.index if r.frame.index is not None else k) * dt_default
            )
            labels.append((ls, lid, ego))
        for t in track(frames, poses, times):
            long_enough = len(t.boxes) >= 3
            for f, i, box in zip(t.frames, t.index, refine(t, times), strict=True):
                ls, lid, ego = labels[f]
                lb = ls[i]
                assert lb.box3d is not None
                target = np.linalg.inv(lid) if lb.box3d.frame != "ego" else np.linalg.inv(ego)
                x, y, z, length, w, h, yaw = (float(v) for v in tf.transform_boxes(target, box)[0])
                lb.box3d = Box3D(x=x, y=y, z=z, length=length, width=w, height=h, yaw=yaw, frame=lb.box3d.frame)
                lb.track_id = f"{seq}:{t.id}"
                lb.attributes["track_refined"] = long_enough
    return out
