"""Argoverse 2 sensor logs as scenes: ``sensors/lidar/<ns>.feather`` sweeps with ego poses and calibration.

AV2 sweeps are already in the ego-vehicle frame (x forward, y left, z up), so ``sensor_pose`` is the identity and
the scene's LiDAR frame is the ego frame; ``meta.sensor_origin`` is the mean position of the log's two LiDARs.
``city_SE3_egovehicle.feather`` gives ``world_from_ego`` (city frame) at each pose time (:func:`read_ego_poses`); the
nearest pose within ``tolerance_ms`` is used, otherwise the sweep fails with the gap named.
Cameras come from ``calibration/`` (``intrinsics``, ``egovehicle_SE3_sensor``) when their image
``sensors/cameras/<name>/<ns>.jpg`` lies within the tolerance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.labels import Frame, FrameRecord
from prelabel.core.scene import CameraView, Pose
from prelabel.errors import PrelabelError

TOLERANCE_MS = 50.0


def is_av2_log(root: Path) -> bool:
    return (root / "sensors" / "lidar").is_dir() and (root / "city_SE3_egovehicle.feather").is_file()


def _table(path: Path) -> list[dict[str, Any]]:
    import pyarrow.feather as feather

    if not path.is_file():
        raise PrelabelError(f"{path}: file missing")
    rows: list[dict[str, Any]] = feather.read_table(path).to_pylist()
    return rows


def _pose(r: dict[str, Any]) -> Pose:
    return Pose(rotation=[r["qw"], r["qx"], r["qy"], r["qz"]], translation=[r["tx_m"], r["ty_m"], r["tz_m"]])


@dataclass(frozen=True)
class EgoPoses:
    """A log's ego poses (``city_SE3_egovehicle.feather``): ``world_from_ego`` (city frame) at each pose time."""

    stamps: npt.NDArray[np.int64]  # pose times, ns
    rows: list[dict[str, Any]]

    def nearest(self, timestamp_ns: int) -> tuple[Pose, float]:
        """The pose logged nearest ``timestamp_ns``, and how far from it that pose was logged (ms)."""
        j = int(np.argmin(np.abs(self.stamps - timestamp_ns)))
        return _pose(self.rows[j]), abs(int(self.stamps[j]) - timestamp_ns) / 1e6


def read_ego_poses(root: Path) -> EgoPoses:
    """The ego poses of the Argoverse 2 log at ``root`` (a missing file is a PrelabelError naming it)."""
    rows = _table(root / "city_SE3_egovehicle.feather")
    return EgoPoses(stamps=np.array([r["timestamp_ns"] for r in rows], dtype=np.int64), rows=rows)


def _lidar_origin(root: Path) -> list[float] | None:
    """The mean position (ego frame, m) of the log's LiDARs (``up_lidar``, ``down_lidar`` in
    ``egovehicle_SE3_sensor``): the sweep's ``meta.sensor_origin``; None without calibration."""
    path = root / "calibration" / "egovehicle_SE3_sensor.feather"
    if not path.is_file():
        return None
    xyz = [[r["tx_m"], r["ty_m"], r["tz_m"]] for r in _table(path) if str(r["sensor_name"]).endswith("_lidar")]
    return [float(v) for v in np.mean(xyz, axis=0)] if xyz else None


def _cameras(root: Path, ts: int, tolerance_ms: float) -> tuple[list[CameraView], list[str]]:
    cal = root / "calibration"
    if not (cal / "intrinsics.feather").is_file():
        return [], []
    intr = {r["sensor_name"]: r for r in _table(cal / "intrinsics.feather")}
    ext = {r["sensor_name"]: r for r in _table(cal / "egovehicle_SE3_sensor.feather")}
    cams, unmatched = [], []
    for name, k in intr.items():
        folder = root / "sensors" / "cameras" / name
        stamps = sorted(int(p.stem) for p in folder.glob("*.jpg")) if folder.is_dir() else []
        if not stamps:
            continue
        best = min(stamps, key=lambda s: abs(s - ts))
        off = (best - ts) / 1e6
        if abs(off) > tolerance_ms:
            unmatched.append(f"{name}: nearest image {off:+.1f} ms from the sweep; tolerance {tolerance_ms} ms")
            continue
        if name not in ext:
            raise PrelabelError(f"{cal / 'egovehicle_SE3_sensor.feather'}: no extrinsics for camera {name}")
        ego_from_cam = _pose(ext[name]).matrix()
        K = [[k["fx_px"], 0.0, k["cx_px"]], [0.0, k["fy_px"], k["cy_px"]], [0.0, 0.0, 1.0]]
        cams.append(
            CameraView(
                name=name,
                uri=str(folder / f"{best}.jpg"),
                width=int(k["width_px"]),
                height=int(k["height_px"]),
                K=K,
                timestamp_ns=best,
                time_offset_ms=off,
                camera_from_lidar=Pose.from_matrix(np.linalg.inv(ego_from_cam)),
            )
        )
    return cams, unmatched


def sweep_frame(log: str, sweep: Path, index: int, **fields: Any) -> Frame:
    """The frame of the sweep ``sweep`` (``sensors/lidar/<timestamp_ns>.feather``) of log ``log``, ``index``-th of
    its sequence: id ``<log>/<timestamp_ns>``, the id the scene reader and the annotations reader
    (:mod:`prelabel.formats.av2`) both give it, so labels and scenes pair. ``fields``: more of the frame's fields."""
    ts = int(sweep.stem)
    return Frame(
        id=f"{log}/{ts}",
        uri=str(sweep),
        kind="pointcloud",
        point_format="av2_feather",
        sensor="lidar",
        timestamp_ns=ts,
        sequence=log,
        index=index,
        **fields,
    )


def read_log(root: Path, *, tolerance_ms: float = TOLERANCE_MS) -> Iterator[FrameRecord]:
    poses = read_ego_poses(root)
    origin = _lidar_origin(root)
    extra = {} if origin is None else {"sensor_origin": origin}
    for idx, sweep in enumerate(sorted((root / "sensors" / "lidar").glob("*.feather"), key=lambda p: int(p.stem))):
        ts = int(sweep.stem)
        frame = sweep_frame(
            root.name, sweep, idx, sensor_pose=Pose(), meta={"dataset": "av2", "tolerance_ms": tolerance_ms, **extra}
        )
        try:
            pose, gap = poses.nearest(ts)
            if gap > tolerance_ms:
                raise PrelabelError(f"{sweep}: nearest ego pose is {gap:.1f} ms away; tolerance {tolerance_ms} ms")
            frame.ego_pose = pose
            frame.cameras, unmatched = _cameras(root, ts, tolerance_ms)
            if unmatched:
                frame.meta["unmatched"] = unmatched
        except (PrelabelError, ValueError, KeyError) as e:
            yield FrameRecord(frame=frame, status="failed", error=str(e))
            continue
        yield FrameRecord(frame=frame)
