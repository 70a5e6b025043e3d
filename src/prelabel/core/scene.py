"""Multi-sensor scenes: rigid poses, cameras attached to a LiDAR sweep, and the frames of a sequence.

Frames and conventions (see docs/schema.md):
- ``lidar``: the LiDAR sensor frame, x forward, y left, z up (KITTI ``velodyne``, nuScenes ``LIDAR_TOP``), metres.
- ``ego``: the vehicle body frame, x forward, y left, z up, metres.
- ``world``: a fixed frame for the whole log (nuScenes ``global``, Argoverse 2 ``city``, KITTI oxts local ENU).
- ``camera``: x right, y down, z forward (optical axis), metres; pixels u right, v down, origin top-left.

A :class:`Pose` named ``a_from_b`` maps points written in frame ``b`` into frame ``a``: ``p_a = R @ p_b + t``.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Pose(_Model):
    """A rigid transform: rotation as a unit quaternion ``[w, x, y, z]`` and translation ``[x, y, z]`` in metres."""

    rotation: list[float] = Field(default_factory=lambda: [1.0, 0.0, 0.0, 0.0], description="quaternion w x y z")
    translation: list[float] = Field(default_factory=lambda: [0.0, 0.0, 0.0], description="metres")

    @field_validator("rotation")
    @classmethod
    def _quat(cls, v: list[float]) -> list[float]:
        if len(v) != 4 or not all(math.isfinite(x) for x in v):
            raise ValueError(f"rotation must be 4 finite numbers (quaternion w x y z); got {v}")
        n = math.sqrt(sum(x * x for x in v))
        if not 0.99 < n < 1.01:
            raise ValueError(f"rotation must be a unit quaternion (w x y z); got norm {n:.4f} for {v}")
        return [x / n for x in v]

    @field_validator("translation")
    @classmethod
    def _vec(cls, v: list[float]) -> list[float]:
        if len(v) != 3 or not all(math.isfinite(x) for x in v):
            raise ValueError(f"translation must be 3 finite numbers (x y z metres); got {v}")
        return v

    def matrix(self) -> npt.NDArray[np.float64]:
        """The 4x4 homogeneous matrix."""
        w, x, y, z = self.rotation
        r = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )
        m = np.eye(4)
        m[:3, :3] = r
        m[:3, 3] = self.translation
        return m

    @classmethod
    def from_matrix(cls, m: npt.ArrayLike) -> Pose:
        """From a 4x4 (or 3x4) rigid matrix; the rotation part is orthonormalised."""
        a = np.asarray(m, dtype=np.float64)
        if a.shape not in ((4, 4), (3, 4)) or not np.all(np.isfinite(a)):
            raise ValueError(f"expected a finite 4x4 or 3x4 rigid transform; got shape {a.shape}")
        u, _, vt = np.linalg.svd(a[:3, :3])
        r = u @ vt
        if np.linalg.det(r) < 0:
            raise ValueError("expected a rotation (det +1); got a reflection")
        return cls(rotation=_quat_from_rot(r), translation=[float(v) for v in a[:3, 3]])


def _quat_from_rot(r: npt.NDArray[np.float64]) -> list[float]:
    tr = float(np.trace(r))
    if tr > 0:
        s = math.sqrt(tr + 1.0) * 2
        q = [0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
    elif r[0, 0] > r[1, 1] and r[0, 0] > r[2, 2]:
        s = math.sqrt(1.0 + r[0, 0] - r[1, 1] - r[2, 2]) * 2
        q = [(r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s]
    elif r[1, 1] > r[2, 2]:
        s = math.sqrt(1.0 + r[1, 1] - r[0, 0] - r[2, 2]) * 2
        q = [(r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s]
    else:
        s = math.sqrt(1.0 + r[2, 2] - r[0, 0] - r[1, 1]) * 2
        q = [(r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s]
    return [float(v) for v in q]


class CameraView(_Model):
    """One camera image attached to a LiDAR sweep, with what it takes to project LiDAR points into it."""

    name: str = Field(min_length=1, description="camera name, e.g. 'CAM_FRONT' or 'image_2'")
    uri: str = Field(min_length=1, description="image path or URI")
    width: int | None = Field(default=None, gt=0, description="pixels")
    height: int | None = Field(default=None, gt=0, description="pixels")
    K: list[list[float]] = Field(description="3x3 intrinsics (px); for KITTI the rectified P2[:, :3]")
    camera_from_lidar: Pose = Field(description="LiDAR points into this camera's frame (x right, y down, z fwd)")
    timestamp_ns: int | None = Field(default=None, description="capture time, integer nanoseconds")
    time_offset_ms: float | None = Field(default=None, description="image time minus sweep time, milliseconds")

    @field_validator("K")
    @classmethod
    def _3x3(cls, v: list[list[float]]) -> list[list[float]]:
        if len(v) != 3 or any(len(r) != 3 for r in v) or not all(math.isfinite(x) for r in v for x in r):
            raise ValueError(f"K must be a finite 3x3 matrix (px); got {v}")
        if abs(np.linalg.det(np.asarray(v, dtype=np.float64))) < 1e-9:
            raise ValueError(f"K must be invertible (fx, fy > 0); got {v}")
        return v


PointFormat = Literal["kitti_bin", "nuscenes_bin", "pcd", "av2_feather", "npy"]
"""How a sweep's points are stored. ``kitti_bin``: float32 x y z intensity; ``nuscenes_bin``: float32 x y z
intensity ring; ``pcd``: PCD file (x y z [intensity]); ``av2_feather``: Argoverse 2 sweep; ``npy``: float32 (N, >=3)."""
