"""``sensor_msgs/PointCloud2`` to arrays and files.

Points are written KITTI-style: ``.bin`` files of float32 rows ``x y z intensity`` (metres, in the message's frame;
intensity 0 when the cloud has none), the layout of KITTI's ``velodyne/*.bin``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.errors import UnreadableInputError

# sensor_msgs/PointField datatypes
_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}
COLUMNS = ("x", "y", "z", "intensity")


def pointcloud2_to_xyzi(msg: Any, item: str) -> npt.NDArray[np.float32]:
    """(N, 4) float32 ``x y z intensity`` from a PointCloud2 message; NaN points are dropped."""
    fields = {str(f.name): f for f in msg.fields}
    missing = [c for c in ("x", "y", "z") if c not in fields]
    if missing:
        raise UnreadableInputError(item, f"point cloud has no {missing} fields; has {sorted(fields)}")
    endian = ">" if msg.is_bigendian else "<"
    names, formats, offsets = [], [], []
    for name in COLUMNS:
        f = fields.get(name) or (fields.get("i") if name == "intensity" else None)
        if f is None:
            continue
        if int(f.datatype) not in _DTYPES:
            raise UnreadableInputError(item, f"field {name} has unknown PointField datatype {f.datatype}")
        names.append(name)
        formats.append(endian + _DTYPES[int(f.datatype)])
        offsets.append(int(f.offset))
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": int(msg.point_step)})
    n = int(msg.width) * int(msg.height)
    data = msg.data if isinstance(msg.data, np.ndarray) else np.frombuffer(bytes(msg.data), np.uint8)
    raw = data.view(np.uint8).reshape(-1)
    row_step = int(msg.row_step) or int(msg.point_step) * int(msg.width)
    if int(msg.height) > 1 and row_step != int(msg.point_step) * int(msg.width):
        raw = np.concatenate([raw[r * row_step : r * row_step + msg.point_step * msg.width] for r in range(msg.height)])
    if raw.size < n * int(msg.point_step):
        raise UnreadableInputError(item, f"point cloud data holds {raw.size} bytes; {n} points need more")
    pts = np.frombuffer(raw[: n * int(msg.point_step)].tobytes(), dtype=dtype, count=n)
    out = np.zeros((n, 4), np.float32)
    for i, name in enumerate(COLUMNS):
        if name in names:
            out[:, i] = pts[name]
    return out[np.isfinite(out[:, :3]).all(axis=1)]


def write_bin(points: npt.NDArray[np.float32], path: str | Path) -> None:
    from prelabel import storage

    storage.write_bytes(str(path), np.ascontiguousarray(points, dtype=np.float32).tobytes())


def read_bin(path: str | Path) -> npt.NDArray[np.float32]:
    from prelabel import storage

    return np.frombuffer(storage.read_bytes(str(path)), dtype=np.float32).reshape(-1, 4)
