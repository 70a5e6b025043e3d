"""Rigid transforms between the LiDAR, ego, world and camera frames, and projection into a camera.

Matrices are 4x4 homogeneous ``a_from_b`` (``p_a = M @ p_b``), the convention of :class:`prelabel.core.scene.Pose`.
Camera frames are x right, y down, z forward; pixels u right, v down (docs/schema.md). A point projects only when
it lies in front of the image plane (depth >= ``near``); box edges that cross that plane are clipped there first,
so a box half behind the camera draws its visible half and nothing mirrored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from prelabel.core.geometry.boxes3d import EDGES, as_boxes, corners

if TYPE_CHECKING:
    from prelabel.core.scene import CameraView, Pose

Array = npt.NDArray[np.float64]
NEAR = 0.1  # metres: nearest depth that projects


def as_matrix(t: Pose | npt.ArrayLike) -> Array:
    """A 4x4 float64 matrix from a :class:`Pose`, a 4x4 or a 3x4 array."""
    if hasattr(t, "matrix"):
        return np.asarray(t.matrix(), dtype=np.float64)
    m = np.asarray(t, dtype=np.float64)
    if m.shape == (3, 4):
        m = np.vstack([m, [0.0, 0.0, 0.0, 1.0]])
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise ValueError(f"expected a finite 4x4 or 3x4 transform; got shape {m.shape}")
    return m


def invert(t: Pose | npt.ArrayLike) -> Array:
    """The inverse of a rigid transform (``b_from_a`` from ``a_from_b``)."""
    m = as_matrix(t)
    r, v = m[:3, :3], m[:3, 3]
    out = np.eye(4)
    out[:3, :3] = r.T
    out[:3, 3] = -r.T @ v
    return out


def chain(*ts: Pose | npt.ArrayLike) -> Array:
    """``chain(a_from_b, b_from_c, ...)`` = ``a_from_c``: the product left to right."""
    out = np.eye(4)
    for t in ts:
        out = out @ as_matrix(t)
    return out


def apply(t: Pose | npt.ArrayLike, points: npt.ArrayLike) -> Array:
    """``(N, 3)`` points moved by ``t`` (extra columns such as intensity are dropped)."""
    m = as_matrix(t)
    p = np.asarray(points, dtype=np.float64)[:, :3]
    return p @ m[:3, :3].T + m[:3, 3]


def transform_boxes(t: Pose | npt.ArrayLike, boxes: npt.ArrayLike) -> Array:
    """z-up boxes (``boxes3d`` layout) moved into another z-up frame: centre moved, yaw turned by ``t``'s heading.

    Both frames must share their up axis (LiDAR, ego and world frames do, to within a sensor's mounting tilt).
    """
    m = as_matrix(t)
    b = as_boxes(boxes).copy()
    b[:, :3] = apply(m, b[:, :3])
    b[:, 6] = b[:, 6] + np.arctan2(m[1, 0], m[0, 0])
    b[:, 6] = (b[:, 6] + np.pi) % (2 * np.pi) - np.pi
    return b


def kitti_rect_to_lidar_boxes(camera_boxes: npt.ArrayLike, lidar_from_rect: npt.ArrayLike) -> Array:
    """KITTI camera-frame boxes (Box3D ``camera`` layout: centre, l w h, yaw about -y) into the LiDAR frame.

    The centre goes through ``lidar_from_rect``; yaw_lidar = yaw_camera - pi/2 corrected by the transform's
    small heading offset (docs/schema.md).
    """
    b = as_boxes(camera_boxes)
    m = as_matrix(lidar_from_rect)
    out = b.copy()
    out[:, :3] = apply(m, b[:, :3])
    # heading vector in camera axes: (cos yaw, 0, sin yaw); map its direction through the rotation
    head = np.stack([np.cos(b[:, 6]), np.zeros(len(b)), np.sin(b[:, 6])], axis=1) @ m[:3, :3].T
    out[:, 6] = np.arctan2(head[:, 1], head[:, 0])
    return out


def lidar_to_kitti_rect_boxes(lidar_boxes: npt.ArrayLike, rect_from_lidar: npt.ArrayLike) -> Array:
    """The inverse of :func:`kitti_rect_to_lidar_boxes`: LiDAR boxes as KITTI camera-frame Box3D rows."""
    b = as_boxes(lidar_boxes)
    m = as_matrix(rect_from_lidar)
    out = b.copy()
    out[:, :3] = apply(m, b[:, :3])
    head = np.stack([np.cos(b[:, 6]), np.sin(b[:, 6]), np.zeros(len(b))], axis=1) @ m[:3, :3].T
    out[:, 6] = np.arctan2(head[:, 2], head[:, 0])
    return out


def project(
    K: npt.ArrayLike, camera_from_x: Pose | npt.ArrayLike, points: npt.ArrayLike, near: float = NEAR
) -> tuple[Array, Array, npt.NDArray[np.bool_]]:
    """Pixels ``(N, 2)``, depths ``(N,)`` and an in-front mask for points in frame ``x`` (e.g. the LiDAR).

    Pixels of points behind ``near`` are NaN: a point behind the camera has no image position.
    """
    k = np.asarray(K, dtype=np.float64)
    cam = apply(camera_from_x, points)
    depth = cam[:, 2]
    front = depth >= near
    uv = np.full((len(cam), 2), np.nan)
    if front.any():
        h = cam[front] @ k.T
        uv[front] = h[:, :2] / h[:, 2:3]
    return uv, depth, front


def in_image(uv: npt.ArrayLike, width: int, height: int) -> npt.NDArray[np.bool_]:
    """Which pixels fall inside a ``width`` x ``height`` image (NaN pixels do not)."""
    p = np.asarray(uv, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (p[:, 0] >= 0) & (p[:, 0] < width) & (p[:, 1] >= 0) & (p[:, 1] < height)


def project_to_camera(camera: CameraView, points: npt.ArrayLike) -> tuple[Array, Array, npt.NDArray[np.bool_]]:
    """LiDAR points into a scene camera: pixels, depths, and a mask of points in front and inside the image."""
    uv, depth, front = project(camera.K, camera.camera_from_lidar, points)
    ok = front.copy()
    if camera.width and camera.height:
        ok &= in_image(uv, camera.width, camera.height)
    return uv, depth, ok


def box_edges_2d(
    K: npt.ArrayLike, camera_from_x: Pose | npt.ArrayLike, box: npt.ArrayLike, near: float = NEAR
) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The box's 12 edges as pixel segments; edges crossing the plane ``depth = near`` are cut there first."""
    k = np.asarray(K, dtype=np.float64)
    cam = apply(camera_from_x, corners(box)[0])
    out = []
    for i, j in EDGES:
        a, b = cam[i], cam[j]
        if a[2] < near and b[2] < near:
            continue
        if a[2] < near or b[2] < near:
            t = (near - a[2]) / (b[2] - a[2])
            cut = a + t * (b - a)
            a, b = (cut, b) if a[2] < near else (a, cut)
        pa, pb = k @ a, k @ b
        out.append(((float(pa[0] / pa[2]), float(pa[1] / pa[2])), (float(pb[0] / pb[2]), float(pb[1] / pb[2]))))
    return out


def box_to_image_rect(
    K: npt.ArrayLike, camera_from_x: Pose | npt.ArrayLike, box: npt.ArrayLike, near: float = NEAR
) -> tuple[float, float, float, float] | None:
    """The pixel rectangle ``x1 y1 x2 y2`` around a box's clipped projection; None when it is wholly behind."""
    segs = box_edges_2d(K, camera_from_x, box, near)
    if not segs:
        return None
    pts = np.array([p for s in segs for p in s])
    return float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max())


def stack_points(parts: Sequence[npt.ArrayLike]) -> Array:
    """Concatenate point arrays of matching width (an empty list gives ``(0, 3)``)."""
    arrs = [np.asarray(p, dtype=np.float64) for p in parts]
    return np.concatenate(arrs, axis=0) if arrs else np.zeros((0, 3))
