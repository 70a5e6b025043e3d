"""Loading a sweep's points, whatever its encoding, as checked ``(N, 4)`` float32 ``x y z intensity`` rows.

Every failure names the file and what was expected: a byte count that is not a whole number of rows, NaN or
infinite coordinates, a PCD without x/y/z. Points come back in the LiDAR frame of the sweep, metres.
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt

from prelabel import storage
from prelabel.core.labels import Frame
from prelabel.errors import PrelabelError, UnreadableInputError

# float32 values per point of each raw binary encoding
_FIELDS = {"kitti_bin": 4, "nuscenes_bin": 5}


def decode(data: bytes, point_format: str, item: str) -> npt.NDArray[np.float32]:
    """Points from the bytes of a sweep file; ``item`` names it in errors."""
    if point_format in _FIELDS:
        n = _FIELDS[point_format]
        if len(data) % (4 * n):
            raise UnreadableInputError(
                item,
                f"{len(data)} bytes is not a whole number of points; expected float32 rows of {n} values "
                f"({4 * n} bytes each) for point format {point_format}",
            )
        pts = np.frombuffer(data, dtype="<f4").reshape(-1, n)[:, :4]
    elif point_format == "npy":
        pts = _npy(data, item)
    elif point_format == "av2_feather":
        pts = _feather(data, item)
    elif point_format == "pcd":
        pts = _pcd(data, item)
    else:
        raise UnreadableInputError(
            item,
            f"unknown point format {point_format!r}; expected one of kitti_bin, nuscenes_bin, npy, av2_feather, pcd",
        )
    return check(pts, item)


def check(points: npt.ArrayLike, item: str) -> npt.NDArray[np.float32]:
    """``(N, 4)`` float32 with finite coordinates, or an error naming ``item``."""
    p = np.asarray(points, dtype=np.float32)
    if p.ndim != 2 or p.shape[1] not in (3, 4):
        raise UnreadableInputError(item, f"expected points of shape (N, 3 or 4) as x y z [intensity]; got {p.shape}")
    if p.shape[1] == 3:
        p = np.concatenate([p, np.zeros((len(p), 1), np.float32)], axis=1)
    bad = ~np.isfinite(p[:, :3]).all(axis=1)
    if bad.any():
        raise UnreadableInputError(
            item, f"{int(bad.sum())} of {len(p)} points have NaN or infinite coordinates; expected finite x y z"
        )
    return np.ascontiguousarray(p)


def _npy(data: bytes, item: str) -> npt.NDArray[np.float32]:
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as e:
        raise UnreadableInputError(item, f"not a .npy array: {e}") from e
    if arr.ndim != 2 or arr.shape[1] < 3:
        raise UnreadableInputError(
            item, f"expected a .npy array of shape (N, >=3) as x y z [intensity ...] rows; got shape {arr.shape}"
        )
    try:
        return np.asarray(arr, dtype=np.float32)[:, :4]
    except (TypeError, ValueError) as e:
        raise UnreadableInputError(item, f"expected numbers in the .npy array; got dtype {arr.dtype}") from e


def _feather(data: bytes, item: str) -> npt.NDArray[np.float32]:
    import pyarrow.feather as feather

    try:
        table = feather.read_table(io.BytesIO(data))
    except Exception as e:
        raise UnreadableInputError(item, f"not a feather table: {type(e).__name__}: {e}") from e
    cols = [c for c in ("x", "y", "z") if c not in table.column_names]
    if cols:
        raise UnreadableInputError(item, f"sweep has no {cols} columns; has {table.column_names}")
    names = ["x", "y", "z"] + (["intensity"] if "intensity" in table.column_names else [])
    return np.stack([table.column(c).to_numpy().astype(np.float32) for c in names], axis=1)


def _pcd(data: bytes, item: str) -> npt.NDArray[np.float32]:
    from pypcd4 import PointCloud

    try:
        pc = PointCloud.from_fileobj(io.BytesIO(data))  # type: ignore[arg-type]
    except Exception as e:
        raise UnreadableInputError(item, f"not a readable PCD file: {type(e).__name__}: {e}") from e
    fields = list(pc.fields)
    missing = [c for c in ("x", "y", "z") if c not in fields]
    if missing:
        raise UnreadableInputError(item, f"PCD has no {missing} fields; has {fields}")
    names = ["x", "y", "z"] + (["intensity"] if "intensity" in fields else [])
    arr = pc.numpy(names).astype(np.float32)
    return arr[np.isfinite(arr[:, :3]).all(axis=1)]  # organised PCDs mark missing returns with NaN


def load(frame: Frame) -> npt.NDArray[np.float32]:
    """The points of a ``kind="pointcloud"`` frame (local path or s3://)."""
    if frame.kind != "pointcloud":
        raise PrelabelError(f"frame {frame.id}: expected a point cloud frame (kind 'pointcloud'); got {frame.kind!r}")
    fmt = frame.point_format or _guess(frame.uri)
    try:
        data = storage.read_bytes(frame.uri)
    except FileNotFoundError as e:
        raise UnreadableInputError(frame.uri, "file not found") from e
    return decode(data, fmt, frame.uri)


def _guess(uri: str) -> str:
    if uri.endswith(".pcd.bin"):
        return "nuscenes_bin"
    for ext, fmt in ((".bin", "kitti_bin"), (".pcd", "pcd"), (".feather", "av2_feather"), (".npy", "npy")):
        if uri.endswith(ext):
            return fmt
    raise UnreadableInputError(
        uri,
        "cannot tell the point format from the name; expected .bin, .pcd.bin, .pcd, "
        ".feather or .npy, or a frame with point_format set",
    )
