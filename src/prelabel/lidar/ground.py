"""Ground segmentation: a RANSAC plane over the lowest points, refined by least squares, plus local heights.

The plane is ``n · p + d = 0`` with the unit normal ``n`` pointing up (+z of the LiDAR frame), so ``n · p + d`` is a
point's height above the ground in metres. A single plane bends away from the road on hills; :func:`local_height`
reads the ground near a spot from the ground points around it instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Ground:
    normal: F64  # (3,) unit, up
    offset: float  # d in n · p + d = 0
    points: F64  # (G, 3) the ground points (inliers), for local heights

    def height(self, points: npt.ArrayLike) -> F64:
        """Heights above the plane (m) of ``(N, >=3)`` points."""
        p = np.asarray(points, dtype=np.float64)[:, :3]
        return p @ self.normal + self.offset

    def z_at(self, x: float, y: float) -> float:
        """The plane's z below the spot (x, y)."""
        nx, ny, nz = self.normal
        return float(-(self.offset + nx * x + ny * y) / nz)


def fit_ground(
    points: npt.ArrayLike,
    *,
    threshold: float = 0.15,
    iterations: int = 60,
    max_tilt_deg: float = 10.0,
    seed: int = 0,
) -> Ground:
    """Fit the ground plane of a sweep (LiDAR frame, z up). Deterministic for a given ``seed``."""
    p = np.asarray(points, dtype=np.float64)[:, :3]
    near = p[np.hypot(p[:, 0], p[:, 1]) < 40.0]
    if len(near) < 50:
        near = p
    if len(near) < 3:
        raise ValueError(f"a ground plane needs at least 3 points; got {len(near)}")
    # candidates: the lowest 40 % of the points within 40 m, so walls and cars do not vote
    cand = near[near[:, 2] <= np.percentile(near[:, 2], 40)]
    rng = np.random.default_rng(seed)
    cos_tilt = np.cos(np.radians(max_tilt_deg))
    best_n, best_d, best_count = np.array([0.0, 0.0, 1.0]), -float(np.median(cand[:, 2])), -1
    for _ in range(iterations):
        a, b, c = cand[rng.choice(len(cand), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-9:
            continue
        n = n / norm
        if n[2] < 0:
            n = -n
        if n[2] < cos_tilt:
            continue
        d = -float(n @ a)
        count = int((np.abs(cand @ n + d) < threshold).sum())
        if count > best_count:
            best_n, best_d, best_count = n, d, count
    inl = near[np.abs(near @ best_n + best_d) < threshold]
    if len(inl) >= 3:  # least-squares refinement z = ax + by + c on the inliers
        A = np.c_[inl[:, 0], inl[:, 1], np.ones(len(inl))]
        (a, b, c), *_ = np.linalg.lstsq(A, inl[:, 2], rcond=None)
        n = np.array([-a, -b, 1.0])
        s = np.linalg.norm(n)
        best_n, best_d = n / s, -c / s
    ground = p[np.abs(p @ best_n + best_d) < threshold]
    return Ground(normal=best_n, offset=float(best_d), points=ground)


def local_height(ground: Ground, x: float, y: float, radius: float = 4.0, min_points: int = 8) -> float:
    """Ground z near (x, y): the median z of ground points within ``radius`` m, else the plane's z."""
    g = ground.points
    if len(g):
        sel = (np.abs(g[:, 0] - x) < radius) & (np.abs(g[:, 1] - y) < radius)
        if sel.sum() >= min_points:
            return float(np.median(g[sel, 2]))
    return ground.z_at(x, y)
