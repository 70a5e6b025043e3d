"""A pointcloud frame's points for the 3D review page, confined like frame images (:mod:`prelabel.review.frames`).

The sweep's URI comes from job data, so it is read only from the job's allowed roots, within the input size limit,
and decoded by its declared ``point_format`` with the scene sources' own decoder
(:func:`prelabel.sources.scenes.points.decode`): ``kitti_bin`` (float32 x y z intensity), ``nuscenes_bin`` (float32
x y z intensity ring), ``npy`` (float32 (N, >=3)), ``av2_feather`` (Argoverse 2 sweeps) or ``pcd`` (PCD files).
Points are sent to the browser as little-endian float32 rows ``x y z intensity`` (LiDAR frame, metres), evenly
thinned to at most ``cap`` points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from prelabel import limits, storage
from prelabel.core.labels import Frame
from prelabel.errors import PrelabelError
from prelabel.review.errors import NotFoundError, ReviewInputError
from prelabel.review.frames import FramePolicy, check_allowed

MAX_POINTS = 200_000  # sent to the browser; a 120,000-point sweep goes whole
FORMATS = ("kitti_bin", "nuscenes_bin", "npy", "av2_feather", "pcd")


def decode(data: bytes, point_format: str, item: str) -> npt.NDArray[np.float32]:
    """``(N, 4)`` float32 x y z intensity from a sweep file's bytes (a 422 naming ``item`` when they are not points
    of that format); rows with a non-finite value (intensity included) are left out."""
    from prelabel.errors import UnreadableInputError
    from prelabel.sources.scenes.points import decode as decode_sweep

    if point_format not in FORMATS:
        raise ReviewInputError(f"{item}: point format {point_format!r} is not served; expected one of {FORMATS}")
    try:
        pts = decode_sweep(data, point_format, item)
    except UnreadableInputError as e:
        raise ReviewInputError(str(e)) from None
    keep = np.isfinite(pts).all(axis=1)
    return np.ascontiguousarray(pts[keep], dtype=np.float32)


def thin(points: npt.NDArray[np.float32], cap: int = MAX_POINTS) -> npt.NDArray[np.float32]:
    """At most ``cap`` points, taken evenly through the sweep (so every ring and direction keeps some)."""
    if len(points) <= cap:
        return points
    idx = np.linspace(0, len(points) - 1, cap).astype(np.int64)
    return np.ascontiguousarray(points[idx])


def frame_points(frame: Frame, policy: FramePolicy, item: str) -> npt.NDArray[np.float32]:
    """The frame's points, read only from an allowed root (403 outside, 404 when missing or unreadable)."""
    if frame.kind != "pointcloud":
        raise NotFoundError(f"{item} (the frame is an image, not a point cloud)", frame.id)
    if frame.point_format not in FORMATS:
        raise ReviewInputError(f"{item}: point format {frame.point_format!r} is not served; expected one of {FORMATS}")
    target = check_allowed(frame.uri, policy.roots, item)
    lim = policy.limits or limits.current()
    try:
        if storage.is_local(target):
            limits.check_bytes(Path(target).stat().st_size, item, lim)
        data = storage.read_bytes(target)
    except PrelabelError:
        raise
    except Exception as e:  # whatever storage says: a clean 404
        raise NotFoundError(f"{item} ({type(e).__name__}: {str(e)[:200]})", frame.uri) from None
    limits.check_bytes(len(data), item, lim)
    return decode(data, str(frame.point_format), item)
