"""LiDAR clusters that no 2D detection claimed, offered as low-score ``unknown`` objects (``--unknown-objects``).

The points between ``above_ground`` and ``max_height`` over the ground and within ``max_range`` of the sensor, less
those within ``margin`` of a box lifted from a 2D detection, are clustered on a bird's-eye-view grid
(:func:`prelabel.lidar.cluster.bev_clusters`). Each cluster of at least ``min_points`` points gets an oriented box
(L-shape fit, no size prior: the box is what the points show), except that a car-sized part of a car (height
1.2-2.2 m, one side 1.5-5.5 m, the other at most 2.1 m: one side or one end seen) is fitted again with the car size
prior, its hidden sides grown away from the sensor (``vehicle_prior``; on the Argoverse 2 sweeps here it moved the
vehicles found within 1 m from 63 to 71 %). Clusters that cannot be one road user are dropped:
a top under ``min_top`` over the ground (kerbs, low bushes), a footprint over ``max_length`` x ``max_width`` (walls,
buildings, hedges) or a base more than ``max_base`` over the ground (overhanging branches, signs).

Score (documented, deliberately low so that every 2D-backed box ranks first)::

    score = score_cap x min(1, n / full_points) x (1 if the size fits a road user else 0.5)

with ``n`` the cluster's points. The class is ``unknown``; ``attributes.size_guess`` says ``vehicle`` (length
2.5-12 m, width 1.2-3.2 m, height 1.0-4.5 m), ``pedestrian`` (both sides <= 1.2 m, height 1.0-2.2 m) or
``none``, a guess from size alone, marked as such (``inference: "cluster3d"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from prelabel.core.geometry import boxes3d as b3
from prelabel.core.labels import Box3D, Label
from prelabel.lidar.cluster import bev_clusters
from prelabel.lidar.fit import PRIORS, fit_box
from prelabel.lidar.ground import Ground, local_height

F64 = npt.NDArray[np.float64]
CATEGORY = "unknown"
SOURCE = "model:lidar-cluster3d@1"  # geometry only: no learned model


@dataclass
class UnknownOptions:
    above_ground: float = 0.3  # metres: points lower are ground
    max_height: float = 4.0  # metres: points higher are overhead (trees, bridges) and left out
    max_range: float = 80.0  # metres from the sensor, on the ground plane
    cell: float = 0.2  # clustering grid (m); finer than lifting's 0.3: parked cars in a row stay apart
    min_points: int = 5  # fewest points that make a box
    margin: float = 0.3  # points within this of a 2D-backed box belong to it (m)
    min_top: float = 0.5  # a cluster's top must be at least this over the ground (m)
    max_base: float = 1.0  # ... and its lowest point at most this over the ground (m)
    max_length: float = 12.0  # longer footprints are walls or buildings (m)
    max_width: float = 4.0
    score_cap: float = 0.3  # the best an unknown object scores
    full_points: int = 100  # clusters with this many points get the full score
    vehicle_prior: bool = True  # a car-sized part of a car is grown to a car away from the sensor


def size_guess(length: float, width: float, height: float) -> str:
    """``vehicle``, ``pedestrian`` or ``none`` from a box's size alone (see the module docstring)."""
    if 2.5 <= length <= 12.0 and 1.2 <= width <= 3.2 and 1.0 <= height <= 4.5:
        return "vehicle"
    if max(length, width) <= 1.2 and 1.0 <= height <= 2.2:
        return "pedestrian"
    return "none"


def _partial_vehicle(box: F64) -> bool:
    """A car seen from one side or one end: car height, a side of 1.5-5.5 m, the other at most a car's width."""
    return bool(1.2 <= box[5] <= 2.2 and 1.5 <= box[3] <= 5.5 and box[4] <= 2.1)


def unknown_boxes(
    points: npt.ArrayLike,
    ground: Ground,
    claimed: npt.ArrayLike | None = None,
    options: UnknownOptions | None = None,
    sensor: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> list[tuple[F64, float, int, str]]:
    """``(box, score, points, size guess)`` for the unclaimed clusters of a sweep (LiDAR frame, z up).

    ``claimed`` are ``(M, 7)`` boxes already lifted from 2D detections: their points are left out. ``sensor`` is
    where the LiDAR sits in the points' frame (range and growth away from it)."""
    opt = options or UnknownOptions()
    p = np.asarray(points, dtype=np.float64)[:, :3]
    h = ground.height(p)
    xy = (float(sensor[0]), float(sensor[1]))
    keep = (h > opt.above_ground) & (h < opt.max_height) & (np.hypot(p[:, 0] - xy[0], p[:, 1] - xy[1]) < opt.max_range)
    boxes = np.asarray(claimed if claimed is not None else np.zeros((0, 7)), dtype=np.float64).reshape(-1, 7)
    for box in boxes:
        grown = box.copy()
        grown[3:6] += 2 * opt.margin
        keep &= ~b3.points_in_box(p, grown)
    q = p[keep]
    if len(q) < opt.min_points:
        return []
    ids = bev_clusters(q, cell=opt.cell, min_points=opt.min_points)
    out = []
    for k in np.unique(ids[ids >= 0]):
        cp = q[ids == k]
        cx, cy = float(np.median(cp[:, 0])), float(np.median(cp[:, 1]))
        gz = local_height(ground, cx, cy)
        if cp[:, 2].max() - gz < opt.min_top or cp[:, 2].min() - gz > opt.max_base:
            continue
        box = fit_box(cp, gz, None, sensor=xy)
        if box[3] > opt.max_length or box[4] > opt.max_width:
            continue
        if opt.vehicle_prior and _partial_vehicle(box):
            box = fit_box(cp, gz, PRIORS["car"], sensor=xy)
        guess = size_guess(float(box[3]), float(box[4]), float(box[5]))
        score = opt.score_cap * min(1.0, len(cp) / opt.full_points) * (1.0 if guess != "none" else 0.5)
        out.append((box, float(score), len(cp), guess))
    return out


def to_labels(found: Sequence[tuple[F64, float, int, str]], frame_id: str, frame: str = "lidar") -> list[Label]:
    """``unknown`` labels with a ``box3d`` in ``frame`` (the sweep's LiDAR frame)."""
    from prelabel.core.labels import make_label_id

    labels = []
    for i, (box, score, n, guess) in enumerate(found):
        x, y, z, length, width, h, yaw = (float(v) for v in box)
        labels.append(
            Label(
                id=make_label_id("cluster3d", frame_id, i),
                category=CATEGORY,
                source=SOURCE,
                score=min(max(score, 0.0), 1.0),
                box3d=Box3D(x=x, y=y, z=z, length=length, width=width, height=h, yaw=yaw, frame=frame),
                attributes={"points": n, "size_guess": guess, "inference": "cluster3d"},
            )
        )
    return labels
