"""Scenes as data: each sample is a ``kind="pointcloud"`` :class:`Frame` (one LiDAR sweep) with its cameras.

:func:`read_scenes` takes a KITTI object or tracking folder, a nuScenes mmdetection3d info pickle, an Argoverse 2
log folder, a PCD file or folder of them, or a scenes file written before (``*.jsonl``), and yields one
:class:`FrameRecord` per sample; a sample that cannot be formed (missing or singular calibration, images without a
sweep, no ego pose within the tolerance) comes back as a failed record naming the file and what was expected, and
the rest go on. Units and frames: docs/schema.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prelabel import storage
from prelabel.core.labels import Frame, FrameRecord
from prelabel.errors import InputNotFoundError, PrelabelError

KINDS = ("kitti", "kitti-tracking", "nuscenes", "av2", "pcd", "scenes")


def detect(src: str) -> str:
    """Which reader fits ``src`` (one of :data:`KINDS`)."""
    from prelabel.sources.scenes import av2, kitti

    if src.endswith(".jsonl"):
        return "scenes"
    if not storage.is_local(src):
        raise PrelabelError(f"{src}: scene folders are read from local disk; expected a folder, a .pkl or a .jsonl")
    p = storage.local_path(src)
    if not p.exists():
        raise InputNotFoundError(str(p), what="scene source")
    if p.suffix == ".pkl":
        return "nuscenes"
    if p.suffix == ".pcd" or (p.is_dir() and any(p.glob("*.pcd"))):
        return "pcd"
    if kitti.is_kitti_tracking(p):
        return "kitti-tracking"
    if kitti.is_kitti_object(p):
        return "kitti"
    if av2.is_av2_log(p):
        return "av2"
    raise PrelabelError(
        f"{src}: not a scene source; expected a KITTI object/tracking folder (velodyne + calib), an "
        "mmdetection3d nuScenes info .pkl, an Argoverse 2 log (sensors/lidar + city_SE3_egovehicle.feather), "
        "PCD files, or a scenes .jsonl"
    )


def _pcd(p: Path) -> Iterator[FrameRecord]:
    for f in [p] if p.is_file() else sorted(p.glob("*.pcd")):
        yield FrameRecord(frame=Frame(id=f.stem, uri=str(f), kind="pointcloud", point_format="pcd", sensor="lidar"))


def read_scenes(src: str, *, kind: str | None = None, tolerance_ms: float | None = None) -> Iterator[FrameRecord]:
    """One record per sample of ``src`` (see the module docstring)."""
    from prelabel.sources.scenes import av2, kitti, nuscenes

    kind = kind or detect(src)
    if kind == "scenes":
        from prelabel.labelfile import iter_records

        yield from iter_records(src)
        return
    p = storage.local_path(src)
    tol = {"tolerance_ms": tolerance_ms} if tolerance_ms is not None else {}
    if kind == "kitti":
        yield from kitti.read_object(p)
    elif kind == "kitti-tracking":
        yield from kitti.read_tracking(p)
    elif kind == "nuscenes":
        yield from nuscenes.read_info(p, **tol)
    elif kind == "av2":
        yield from av2.read_log(p, **tol)
    elif kind == "pcd":
        yield from _pcd(p)
    else:
        raise PrelabelError(f"unknown scene kind {kind!r}; expected one of {', '.join(KINDS)}")
