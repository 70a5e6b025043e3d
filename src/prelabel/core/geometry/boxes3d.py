"""Oriented 3D boxes as arrays: corners, points inside, rotated bird's-eye-view and 3D overlap.

Boxes are ``(N, 7)`` float arrays ``x y z length width height yaw`` in a right-handed **z-up** frame (the LiDAR,
ego and world frames of docs/schema.md): centre in metres, ``length`` along the heading, ``width`` across it,
``height`` along z, ``yaw`` in radians about +z, counter-clockwise seen from above, 0 along +x.

Boxes in the KITTI rectified ``camera`` frame (y down, yaw about -y) go through :func:`camera_to_zup` first: it
writes them in the axes ``(x, z, -y)`` of that same camera, which are z-up and right-handed, so overlaps computed
there are those of the camera frame. Overlaps are exact: the BEV intersection clips one convex rectangle by the
other (Sutherland-Hodgman), no rasterising.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from prelabel.core.labels import Box3D

Array = npt.NDArray[np.float64]

# corner order: bottom face counter-clockwise from front-left seen from above, then the top face in the same order
_UNIT = np.array(
    [
        [0.5, 0.5, -0.5],
        [-0.5, 0.5, -0.5],
        [-0.5, -0.5, -0.5],
        [0.5, -0.5, -0.5],
        [0.5, 0.5, 0.5],
        [-0.5, 0.5, 0.5],
        [-0.5, -0.5, 0.5],
        [0.5, -0.5, 0.5],
    ]
)
# the 12 edges as corner index pairs (bottom ring, top ring, pillars)
EDGES = ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7))


def as_boxes(boxes: npt.ArrayLike) -> Array:
    """``(N, 7)`` float64 from one box or many; raises ValueError on another shape or non-finite values."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim == 1:
        b = b[None, :]
    if b.ndim != 2 or b.shape[1] != 7:
        raise ValueError(f"expected boxes of shape (N, 7) as x y z length width height yaw; got {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError("boxes must be finite numbers")
    return b


def from_box3d(box: Box3D) -> Array:
    """One :class:`Box3D` as a ``(7,)`` z-up row (camera-frame boxes converted with :func:`camera_to_zup`)."""
    row = np.array([box.x, box.y, box.z, box.length, box.width, box.height, box.yaw], dtype=np.float64)
    return camera_to_zup(row)[0] if box.frame == "camera" else row


def camera_to_zup(boxes: npt.ArrayLike) -> Array:
    """KITTI camera-frame boxes (x right, y down, z forward; yaw about -y, 0 along +x) in axes ``(x, z, -y)``."""
    b = as_boxes(boxes).copy()
    out = b.copy()
    out[:, 1] = b[:, 2]
    out[:, 2] = -b[:, 1]
    return out


def yaw_rotation(yaw: float) -> Array:
    """3x3 rotation about +z by ``yaw`` radians."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def corners(boxes: npt.ArrayLike) -> Array:
    """``(N, 8, 3)`` corners; order: bottom face (front-left, rear-left, rear-right, front-right), then top."""
    b = as_boxes(boxes)
    local = _UNIT[None, :, :] * b[:, None, 3:6]
    c, s = np.cos(b[:, 6]), np.sin(b[:, 6])
    x = local[..., 0] * c[:, None] - local[..., 1] * s[:, None]
    y = local[..., 0] * s[:, None] + local[..., 1] * c[:, None]
    return np.stack([x, y, local[..., 2]], axis=-1) + b[:, None, :3]


def bev_corners(boxes: npt.ArrayLike) -> Array:
    """``(N, 4, 2)`` footprint corners (x, y), counter-clockwise seen from above."""
    return corners(boxes)[:, :4, :2]


def to_local(points: npt.ArrayLike, box: npt.ArrayLike) -> Array:
    """Points ``(M, >=3)`` in the box's own axes: x along its length, y along its width, z up, origin the centre."""
    b = as_boxes(box)[0]
    p = np.asarray(points, dtype=np.float64)[:, :3] - b[:3]
    c, s = np.cos(b[6]), np.sin(b[6])
    return np.stack([p[:, 0] * c + p[:, 1] * s, -p[:, 0] * s + p[:, 1] * c, p[:, 2]], axis=1)


def points_in_box(points: npt.ArrayLike, box: npt.ArrayLike, margin: float = 0.0) -> npt.NDArray[np.bool_]:
    """Which of ``(M, >=3)`` points lie inside one box (``margin`` metres added on every side)."""
    b = as_boxes(box)[0]
    loc = to_local(points, b)
    half = b[3:6] / 2.0 + margin
    return np.all(np.abs(loc) <= half, axis=1)


def _clip(subject: list[tuple[float, float]], clip: Array) -> list[tuple[float, float]]:
    """Sutherland-Hodgman: the part of convex polygon ``subject`` inside convex CCW polygon ``clip``."""
    out = subject
    n = len(clip)
    for i in range(n):
        ax, ay = clip[i]
        bx, by = clip[(i + 1) % n]
        inp, out = out, []
        if not inp:
            break

        def side(p: tuple[float, float], ax: float = ax, ay: float = ay, bx: float = bx, by: float = by) -> float:
            return (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax)

        prev = inp[-1]
        for cur in inp:
            sc, sp = side(cur), side(prev)
            if sc >= 0:
                if sp < 0:
                    out.append(_cross(prev, cur, sp, sc))
                out.append(cur)
            elif sp >= 0:
                out.append(_cross(prev, cur, sp, sc))
            prev = cur
    return out


def _cross(p: tuple[float, float], q: tuple[float, float], sp: float, sq: float) -> tuple[float, float]:
    t = sp / (sp - sq)
    return (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))


def _area(poly: list[tuple[float, float]]) -> float:
    if len(poly) < 3:
        return 0.0
    a = 0.0
    for i in range(len(poly)):
        x0, y0 = poly[i]
        x1, y1 = poly[(i + 1) % len(poly)]
        a += x0 * y1 - x1 * y0
    return abs(a) / 2.0


def bev_intersection(a: npt.ArrayLike, b: npt.ArrayLike) -> Array:
    """``(N, M)`` footprint intersection areas (m²) between boxes ``a`` and ``b``."""
    ba, bb = as_boxes(a), as_boxes(b)
    ca, cb = bev_corners(ba), bev_corners(bb)
    ra = np.hypot(ba[:, 3], ba[:, 4]) / 2.0
    rb = np.hypot(bb[:, 3], bb[:, 4]) / 2.0
    out = np.zeros((len(ba), len(bb)))
    for i in range(len(ba)):
        d = np.hypot(bb[:, 0] - ba[i, 0], bb[:, 1] - ba[i, 1])
        subject = [(float(x), float(y)) for x, y in ca[i]]
        for j in np.nonzero(d < ra[i] + rb + 1e-9)[0]:
            out[i, j] = _area(_clip(subject, cb[j]))
    return out


def bev_iou(a: npt.ArrayLike, b: npt.ArrayLike) -> Array:
    """``(N, M)`` rotated bird's-eye-view IoU (footprints on the ground plane)."""
    ba, bb = as_boxes(a), as_boxes(b)
    inter = bev_intersection(ba, bb)
    area_a = ba[:, 3] * ba[:, 4]
    area_b = bb[:, 3] * bb[:, 4]
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def iou3d(a: npt.ArrayLike, b: npt.ArrayLike) -> Array:
    """``(N, M)`` 3D IoU of z-up oriented boxes: footprint intersection times overlap along z."""
    ba, bb = as_boxes(a), as_boxes(b)
    inter = bev_intersection(ba, bb)
    lo = np.maximum((ba[:, 2] - ba[:, 5] / 2)[:, None], (bb[:, 2] - bb[:, 5] / 2)[None, :])
    hi = np.minimum((ba[:, 2] + ba[:, 5] / 2)[:, None], (bb[:, 2] + bb[:, 5] / 2)[None, :])
    inter3 = inter * np.clip(hi - lo, 0.0, None)
    va = ba[:, 3] * ba[:, 4] * ba[:, 5]
    vb = bb[:, 3] * bb[:, 4] * bb[:, 5]
    union = va[:, None] + vb[None, :] - inter3
    return np.where(union > 0, inter3 / np.maximum(union, 1e-12), 0.0)


def centre_distance(a: npt.ArrayLike, b: npt.ArrayLike) -> Array:
    """``(N, M)`` distances between box centres on the ground plane (m), as nuScenes matches detections."""
    ba, bb = as_boxes(a), as_boxes(b)
    return np.hypot(ba[:, None, 0] - bb[None, :, 0], ba[:, None, 1] - bb[None, :, 1])


def wrap_angle(a: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Angles wrapped into [-pi, pi)."""
    x = np.asarray(a, dtype=np.float64)
    return (x + np.pi) % (2 * np.pi) - np.pi
