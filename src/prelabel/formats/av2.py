"""Argoverse 2 ``annotations.feather`` (read only): 3D cuboids with track ids, in the ego-vehicle frame.

Columns: ``timestamp_ns``, ``track_uuid``, ``category``, ``length_m``, ``width_m``, ``height_m``, ``qw qx qy qz``
(rotation, ego frame), ``tx_m ty_m tz_m`` (centre, metres), ``num_interior_pts``. One record per timestamp; frame
ids are ``<log id>/<timestamp_ns>``, the ids the Argoverse 2 scene reader gives its sweeps, so labels and scenes pair.
Boxes are ``Box3D(frame="ego")`` (AV2 sweeps are in the ego frame, which is the scene's LiDAR frame) with yaw from
the quaternion; ``num_interior_pts`` goes to attributes.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from prelabel import storage
from prelabel.core.labels import Box3D, FrameRecord, Label
from prelabel.core.scene import Pose
from prelabel.errors import FormatError, InputNotFoundError
from prelabel.formats import FormatSpec
from prelabel.formats._common import import_source, label_id
from prelabel.sources.scenes.av2 import sweep_frame

FORMAT = "av2"
COLUMNS = (
    "timestamp_ns",
    "track_uuid",
    "category",
    "length_m",
    "width_m",
    "height_m",
    "qw",
    "qx",
    "qy",
    "qz",
    "tx_m",
    "ty_m",
    "tz_m",
)


def read(src: str) -> Iterator[FrameRecord]:
    """Records from a log folder holding ``annotations.feather`` or the file itself."""
    import pyarrow.feather as feather

    path = storage.local_path(src)
    if path.is_dir():
        path = path / "annotations.feather"
    if not path.is_file():
        raise InputNotFoundError(str(path), what="Argoverse 2 annotations.feather")
    try:
        table = feather.read_table(path)
    except Exception as e:
        raise FormatError(str(path), f"not a feather table: {type(e).__name__}: {e}") from e
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise FormatError(str(path), f"missing columns {missing}; expected {list(COLUMNS)}")
    cols = {c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}
    log = path.parent.name
    sweeps = path.parent / "sensors" / "lidar"
    order = np.argsort(cols["timestamp_ns"], kind="stable")
    by_ts: dict[int, list[int]] = {}
    for i in order:
        by_ts.setdefault(int(cols["timestamp_ns"][i]), []).append(int(i))
    for idx, (ts, rows) in enumerate(by_ts.items()):
        fid = f"{log}/{ts}"
        labels = []
        for i in rows:
            where = f"{path} row {i}"
            try:
                rot = Pose(rotation=[float(cols[k][i]) for k in ("qw", "qx", "qy", "qz")]).matrix()
                box = Box3D(
                    x=float(cols["tx_m"][i]),
                    y=float(cols["ty_m"][i]),
                    z=float(cols["tz_m"][i]),
                    length=float(cols["length_m"][i]),
                    width=float(cols["width_m"][i]),
                    height=float(cols["height_m"][i]),
                    yaw=float(np.arctan2(rot[1, 0], rot[0, 0])),
                    frame="ego",
                )
            except ValueError as e:
                raise FormatError(where, str(e)) from e
            attrs = {"num_interior_pts": int(cols["num_interior_pts"][i])} if "num_interior_pts" in cols else {}
            labels.append(
                Label(
                    id=label_id(FORMAT, fid, i),
                    category=str(cols["category"][i]),
                    source=import_source(FORMAT),
                    box3d=box,
                    track_id=str(cols["track_uuid"][i]),
                    attributes=attrs,
                )
            )
        yield FrameRecord(frame=sweep_frame(log, sweeps / f"{ts}.feather", idx), labels=labels)


SPEC = FormatSpec(
    name=FORMAT,
    description="Argoverse 2 annotations.feather (3D cuboids with track ids; read only)",
    geometries=("box3d", "track"),
    reader=read,
    writer=None,
)
