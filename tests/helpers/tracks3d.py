"""Argoverse 2 ground-truth cuboids perturbed like single-sweep 3D pre-labels, for the track refinement test
(``tests/lidar/test_tracks.py``) and ``benchmarks/bench_tracks3d.py``.

The shared data has too few consecutive LiDAR sweeps to track real pre-labels, so the vehicles
(``REGULAR_VEHICLE``) of each annotated timestamp get the errors ``bench_lidar3d`` measured on KITTI: centre sd
0.3 m, length sd 0.4 m, width/height sd 0.1 m, yaw sd 0.14 rad, 41 % flipped front-to-back; 10 % are dropped and
5 % (at least one a timestamp) false boxes added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

Boxes = npt.NDArray[np.float64]  # N x 7: x, y, z, length, width, height, yaw


@dataclass
class PerturbedLog:
    """What :func:`prelabel.lidar.tracks.track` takes, and the truth to score it against."""

    frames: list[tuple[Boxes, list[str], list[float]]] = field(default_factory=list)  # ego-frame boxes, classes, scores
    world: list[npt.NDArray[np.float64]] = field(default_factory=list)  # world_from_ego (4 x 4) of each timestamp
    times: list[float] = field(default_factory=list)  # s
    truth: list[Boxes] = field(default_factory=list)  # world-frame true boxes; row i is frames[t][0][i] unperturbed

    @property
    def boxes(self) -> int:
        """How many true (kept) boxes there are."""
        return sum(len(t) for t in self.truth)


def perturb_av2_log(log: Path, seed: int = 0, limit: int | None = None) -> PerturbedLog:
    """The vehicles of the first ``limit`` annotated timestamps of the log (all by default), perturbed with
    ``np.random.default_rng(seed)``; the false boxes come after the true ones in each timestamp's boxes."""
    from prelabel import formats
    from prelabel.core.geometry import boxes3d as b3
    from prelabel.core.geometry import transforms as tf
    from prelabel.sources.scenes.av2 import read_ego_poses

    recs = list(formats.read("av2", str(log)))[:limit]
    poses = read_ego_poses(log)
    rng = np.random.default_rng(seed)
    out = PerturbedLog()
    for r in recs:
        g = np.array(
            [b3.from_box3d(lb.box3d) for lb in r.labels if lb.category == "REGULAR_VEHICLE" and lb.box3d is not None]
        ).reshape(-1, 7)
        src = np.nonzero(rng.random(len(g)) > 0.1)[0]
        p = g[src].copy()
        n = len(p)
        p[:, :2] += rng.normal(0, 0.3, (n, 2))
        p[:, 3] += rng.normal(0, 0.4, n)
        p[:, 4:6] += rng.normal(0, 0.1, (n, 2))
        p[:, 6] += rng.normal(0, 0.14, n) + np.pi * (rng.random(n) < 0.41)
        nf = max(1, int(0.05 * n))
        fake = np.c_[
            rng.uniform(-40, 40, (nf, 2)), np.full(nf, 0.8), np.tile([4.0, 1.8, 1.5], (nf, 1)), rng.uniform(-3, 3, nf)
        ]
        out.frames.append((np.r_[p, fake], ["car"] * (n + nf), [0.9] * n + [0.3] * nf))
        world = poses.nearest(int(r.frame.timestamp_ns or 0))[0].matrix()
        out.world.append(world)
        out.times.append((r.frame.timestamp_ns or 0) / 1e9)
        out.truth.append(tf.transform_boxes(world, g[src]) if n else np.zeros((0, 7)))
    return out


def box_errors(log: PerturbedLog, get: Callable[[int, int], Boxes]) -> dict[str, float]:
    """Mean errors over the true boxes of ``get(t, i)``, the world-frame box given for box ``i`` of timestamp ``t``:
    centre (m), length (m), yaw modulo pi (rad) and the share flipped front-to-back."""
    from prelabel.core.geometry import boxes3d as b3

    c, length, yaw, flip = [], [], [], []
    for t, truth in enumerate(log.truth):
        for i, g in enumerate(truth):
            p = get(t, i)
            c.append(np.hypot(*(p[:2] - g[:2])))
            length.append(abs(p[3] - g[3]))
            d = abs(float(b3.wrap_angle(p[6] - g[6])))
            yaw.append(min(d, np.pi - d))
            flip.append(d > np.pi / 2)
    return {
        "centre_m": float(np.mean(c)),
        "length_m": float(np.mean(length)),
        "yaw_rad": float(np.mean(yaw)),
        "flipped": float(np.mean(flip)),
    }


def unrefined(log: PerturbedLog) -> Callable[[int, int], Boxes]:
    """The perturbed boxes themselves, in the world frame (the errors before refinement)."""
    from prelabel.core.geometry import transforms as tf

    return lambda t, i: tf.transform_boxes(log.world[t], log.frames[t][0][i])[0]
