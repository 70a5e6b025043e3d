"""Free space behind a one-sided view: how long an object can be, from the LiDAR rays that pass where it would be.

A car seen from behind shows only its rear; :func:`prelabel.lidar.fit.fit_box` then gives it the class's typical
length, growing it away from the sensor. Where the sensor *can* see past the car's far end (a car seen at an angle,
with road behind it), the rays that reach the road through the space the typical length would fill say the car
ends sooner: a solid body would have stopped them. :func:`free_length` shortens the box to the nearest such ray, but
never below the points it holds.

Only the solid part of a car counts: from ``low`` to ``high`` metres above its bottom (below the windows, above the
bumper's lower edge) and ``inset`` metres inside its sides (rounded corners), and a ray counts only up to ``margin``
metres before the point it hit (the point itself may be the car's own far surface). ``min_rays`` rays are needed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def free_length(
    box: npt.ArrayLike,
    cluster: npt.ArrayLike,
    sweep: npt.ArrayLike,
    *,
    sensor: tuple[float, float, float] = (0.0, 0.0, 0.0),
    low: float = 0.3,
    high: float = 0.9,
    inset: float = 0.2,
    margin: float = 0.3,
    min_rays: int = 2,
) -> float:
    """The longest length (m) of ``box`` (x y z l w h yaw, z up) that no ``min_rays`` rays from ``sensor`` to the
    ``sweep`` points pass through, keeping its end near the sensor; at least the extent of the ``cluster`` points
    along the box's length, at most the box's length."""
    b = np.asarray(box, dtype=np.float64).reshape(7)
    o = np.asarray(sensor, dtype=np.float64)
    c, s = np.cos(b[6]), np.sin(b[6])
    h = np.array([c, s])
    away = 1.0 if h @ (b[:2] - o[:2]) >= 0 else -1.0  # +1: the heading points away from the sensor

    def along(pts: F64) -> F64:
        """Distance from the near end along the length, away from the sensor, and across; z."""
        rel = pts[:, :3] - np.array([b[0], b[1], 0.0])
        a = away * (rel[:, 0] * c + rel[:, 1] * s) + b[3] / 2
        w = -rel[:, 0] * s + rel[:, 1] * c
        return np.stack([a, w, pts[:, 2]], axis=1)

    length = float(b[3])
    cl = np.asarray(cluster, dtype=np.float64)
    visible = float(np.clip(along(cl)[:, 0].max(), 0.0, length)) if len(cl) else 0.0
    if length - visible < 0.05:
        return length
    q = np.asarray(sweep, dtype=np.float64)[:, :3]
    # rays that can reach the box at all: within its azimuth span, ending beyond its nearest corner
    corners = np.array([[b[0] + dx * c - dy * s, b[1] + dx * s + dy * c] for dx, dy in _SIGNS * b[3:5] / 2])
    az = np.arctan2(corners[:, 1] - o[1], corners[:, 0] - o[0])
    qaz = np.arctan2(q[:, 1] - o[1], q[:, 0] - o[0])
    near = np.hypot(*(corners - o[:2]).T).min()
    keep = (qaz >= az.min()) & (qaz <= az.max()) & (np.hypot(q[:, 0] - o[0], q[:, 1] - o[1]) > near)
    if az.max() - az.min() > np.pi:  # never for a box in front of the sensor; be safe rather than wrong
        return length
    q = q[keep]
    if len(q) == 0:
        return length
    bottom = b[2] - b[5] / 2
    lo = np.array([visible, -b[4] / 2 + inset, bottom + low])
    hi = np.array([length, b[4] / 2 - inset, bottom + min(high, b[5])])
    if (hi <= lo).any():
        return length
    start = along(o[None])[0]
    end = along(q)
    d = end - start
    dist = np.linalg.norm(q - o, axis=1)
    t_max = np.clip(1.0 - margin / np.maximum(dist, 1e-9), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (lo - start) / d
        t2 = (hi - start) / d
    inside_slab = (start >= lo) & (start <= hi)  # a ray parallel to a slab: inside it or never
    t_lo = np.where(d == 0, np.where(inside_slab, -np.inf, np.inf), np.minimum(t1, t2))
    t_hi = np.where(d == 0, np.where(inside_slab, np.inf, -np.inf), np.maximum(t1, t2))
    enter = np.maximum(t_lo.max(axis=1), 0.0)
    leave = np.minimum(t_hi.min(axis=1), t_max)
    hit = enter < leave
    if hit.sum() < min_rays:
        return length
    # where along the length each such ray is nearest the near end (the car must end before it)
    u = np.minimum(start[0] + enter[hit] * d[hit, 0], start[0] + leave[hit] * d[hit, 0])
    limit = float(np.sort(u)[min_rays - 1])
    return float(np.clip(limit, visible, length))


def shorten(
    box: npt.ArrayLike, length: float, min_length: float = 0.0, *, sensor: tuple[float, float, float] = (0.0, 0.0, 0.0)
) -> F64:
    """``box`` cut to ``length`` (at least ``min_length``) from its far end from ``sensor`` (x y z, box frame)."""
    b = np.asarray(box, dtype=np.float64).reshape(7).copy()
    length = max(length, min_length)
    if length >= b[3]:
        return b
    h = np.array([np.cos(b[6]), np.sin(b[6])])
    away = 1.0 if h @ (b[:2] - np.asarray(sensor, dtype=np.float64)[:2]) >= 0 else -1.0
    b[:2] -= away * h * (b[3] - length) / 2
    b[3] = length
    return b


_SIGNS = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0]])
