"""KITTI object and tracking folders as scenes: one velodyne sweep plus the colour cameras and calibration.

Object layout (``training/``): ``velodyne/`` or ``velodyne_reduced/`` ``<id>.bin``, ``image_2/<id>.png``
(``image_3`` too when present), ``calib/<id>.txt`` with ``P2``, ``R0_rect`` and ``Tr_velo_to_cam``.
Tracking layout: ``velodyne/<seq>/<frame>.bin``, ``image_02/<seq>/<frame>.png``, ``calib/<seq>.txt`` (``R_rect``,
``Tr_velo_cam``), ``oxts/<seq>.txt`` (GPS/IMU per frame: the ego pose in a local east-north-up world whose origin
is the first frame, by KITTI's Mercator conversion).

The camera of ``image_2`` is KITTI's rectified left colour camera: its ``K`` is ``P2[:, :3]`` and its
``camera_from_lidar`` is ``[I | K^-1 P2[:, 3]] · R0_rect · Tr_velo_to_cam``. KITTI labels live in the rectified
reference camera (``R0_rect · Tr_velo_to_cam``), kept as ``meta["rect_from_lidar"]`` for evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from prelabel import storage
from prelabel.core.labels import Frame, FrameRecord
from prelabel.core.scene import CameraView, Pose
from prelabel.errors import InputNotFoundError, PrelabelError

CAMERAS = {"image_2": "P2", "image_3": "P3", "image_02": "P2", "image_03": "P3"}


class CalibrationError(PrelabelError):
    def __init__(self, item: str, reason: str) -> None:
        super().__init__(f"{item}: {reason}")
        self.item = item


def parse_calib(path: Path) -> dict[str, npt.NDArray[np.float64]]:
    """The calib file's rows as arrays, by key (``P2``, ``R0_rect``, ``Tr_velo_to_cam`` ...)."""
    if not path.is_file():
        raise CalibrationError(str(path), "calibration file missing; expected P2, R0_rect and Tr_velo_to_cam")
    rows: dict[str, npt.NDArray[np.float64]] = {}
    for line in path.read_text("utf-8").splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            key, _, rest = line.partition(" ")
        try:
            rows[key.strip()] = np.array([float(v) for v in rest.split()], dtype=np.float64)
        except ValueError:
            continue
    return rows


def _matrix(
    rows: dict[str, npt.NDArray[np.float64]], names: tuple[str, ...], n: int, item: str
) -> npt.NDArray[np.float64]:
    for name in names:
        v = rows.get(name)
        if v is not None:
            if v.size != n or not np.all(np.isfinite(v)):
                raise CalibrationError(item, f"{name} must hold {n} finite numbers; got {v.size}")
            return v
    raise CalibrationError(item, f"no {' or '.join(names)} row; has {sorted(rows)}")


def rect_from_lidar(rows: dict[str, npt.NDArray[np.float64]], item: str) -> npt.NDArray[np.float64]:
    """``R0_rect · Tr_velo_to_cam`` as a 4x4, checked to be a rotation."""
    r0 = np.eye(4)
    r0[:3, :3] = _matrix(rows, ("R0_rect", "R_rect"), 9, item).reshape(3, 3)
    tr = np.eye(4)
    tr[:3, :] = _matrix(rows, ("Tr_velo_to_cam", "Tr_velo_cam"), 12, item).reshape(3, 4)
    m = r0 @ tr
    if abs(np.linalg.det(m[:3, :3]) - 1.0) > 1e-2:
        raise CalibrationError(item, f"R0_rect · Tr_velo_to_cam is not a rotation (det {np.linalg.det(m[:3, :3]):.3g})")
    return m


def camera_view(
    rows: dict[str, npt.NDArray[np.float64]], key: str, rect: npt.NDArray[np.float64], name: str, image: Path, item: str
) -> CameraView:
    P = _matrix(rows, (key, key.replace("P", "P_rect_0")), 12, item).reshape(3, 4)
    K = P[:, :3]
    if abs(np.linalg.det(K)) < 1e-6:
        raise CalibrationError(item, f"{key} is singular; expected fx, fy > 0")
    shift = np.eye(4)
    shift[:3, 3] = np.linalg.solve(K, P[:, 3])
    size = storage.image_size(image) if image.is_file() else None
    return CameraView(
        name=name,
        uri=str(image),
        width=size[0] if size else None,
        height=size[1] if size else None,
        K=K.tolist(),
        camera_from_lidar=Pose.from_matrix(shift @ rect),
        time_offset_ms=0.0,
    )


def _points_folder(root: Path, points: str | None) -> Path:
    if points:
        if not (root / points).is_dir():
            raise InputNotFoundError(str(root / points), what="KITTI point folder")
        return root / points
    full, reduced = root / "velodyne", root / "velodyne_reduced"
    if reduced.is_dir() and (not full.is_dir() or len(list(full.glob("*.bin"))) < len(list(reduced.glob("*.bin")))):
        return reduced
    if full.is_dir():
        return full
    raise InputNotFoundError(str(root / "velodyne"), what="KITTI velodyne folder (or velodyne_reduced)")


def is_kitti_object(root: Path) -> bool:
    return (
        root.is_dir()
        and (root / "calib").is_dir()
        and any((root / d).is_dir() for d in ("velodyne", "velodyne_reduced"))
    )


def read_object(root: Path, *, points: str | None = None) -> Iterator[FrameRecord]:
    """One scene per sweep of a KITTI object ``training``/``testing`` folder; bad items come back as failed records."""
    folder = _points_folder(root, points)
    sweeps = {p.stem: p for p in sorted(folder.glob("*.bin"))}
    for stem, sweep in sweeps.items():
        frame = Frame(
            id=stem,
            uri=str(sweep),
            kind="pointcloud",
            point_format="kitti_bin",
            sensor="velodyne",
            meta={"dataset": "kitti"},
        )
        try:
            rows = parse_calib(root / "calib" / f"{stem}.txt")
            item = str(root / "calib" / f"{stem}.txt")
            rect = rect_from_lidar(rows, item)
            cams = []
            for name, key in CAMERAS.items():
                image = root / name / f"{stem}.png"
                if image.is_file():
                    cams.append(camera_view(rows, key, rect, name, image, item))
            frame.cameras = cams
            frame.meta["rect_from_lidar"] = rect.tolist()
        except PrelabelError as e:
            yield FrameRecord(frame=frame, status="failed", error=str(e))
            continue
        yield FrameRecord(frame=frame)
    for name in CAMERAS:
        for image in sorted((root / name).glob("*.png")) if (root / name).is_dir() else []:
            if image.stem not in sweeps:
                frame = Frame(id=image.stem, uri=str(image), sensor=name, meta={"dataset": "kitti"})
                yield FrameRecord(
                    frame=frame,
                    status="failed",
                    error=f"{image}: image has no matching sweep; expected {folder / (image.stem + '.bin')}",
                )


def oxts_poses(path: Path) -> list[npt.NDArray[np.float64]]:
    """``world_from_imu`` 4x4 per oxts line (KITTI devkit's ``convertOxtsToPose``: Mercator, roll/pitch/yaw)."""
    poses = []
    scale = None
    origin = None
    for n, line in enumerate(path.read_text("utf-8").splitlines()):
        v = [float(x) for x in line.split()]
        if len(v) < 6:
            raise CalibrationError(
                f"{path}:{n + 1}", f"expected at least 6 oxts values (lat lon alt roll pitch yaw); got {len(v)}"
            )
        lat, lon, alt, roll, pitch, yaw = v[:6]
        if scale is None:
            scale = math.cos(lat * math.pi / 180.0)
        er = 6378137.0
        t = np.array(
            [scale * lon * math.pi * er / 180.0, scale * er * math.log(math.tan((90.0 + lat) * math.pi / 360.0)), alt]
        )
        rx = np.array([[1, 0, 0], [0, math.cos(roll), -math.sin(roll)], [0, math.sin(roll), math.cos(roll)]])
        ry = np.array([[math.cos(pitch), 0, math.sin(pitch)], [0, 1, 0], [-math.sin(pitch), 0, math.cos(pitch)]])
        rz = np.array([[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]])
        m = np.eye(4)
        m[:3, :3] = rz @ ry @ rx
        m[:3, 3] = t
        if origin is None:
            origin = np.linalg.inv(m)
        poses.append(origin @ m)
    return poses


def is_kitti_tracking(root: Path) -> bool:
    return (root / "oxts").is_dir() and (root / "velodyne").is_dir() and (root / "calib").is_dir()


def read_tracking(root: Path) -> Iterator[FrameRecord]:
    """Scenes of every sequence of a KITTI tracking ``training`` folder, with ego poses from oxts (ego = IMU)."""
    for seq_dir in sorted(p for p in (root / "velodyne").iterdir() if p.is_dir()):
        seq = seq_dir.name
        item = str(root / "calib" / f"{seq}.txt")
        try:
            rows = parse_calib(root / "calib" / f"{seq}.txt")
            rect = rect_from_lidar(rows, item)
            tr_imu = np.eye(4)
            tr_imu[:3, :] = _matrix(rows, ("Tr_imu_velo", "Tr_imu_to_velo"), 12, item).reshape(3, 4)
            poses = oxts_poses(root / "oxts" / f"{seq}.txt") if (root / "oxts" / f"{seq}.txt").is_file() else []
        except PrelabelError as e:
            for sweep in sorted(seq_dir.glob("*.bin")):
                fr = Frame(id=f"{seq}/{sweep.stem}", uri=str(sweep), kind="pointcloud", point_format="kitti_bin")
                yield FrameRecord(frame=fr, status="failed", error=str(e))
            continue
        lidar_from_imu = tr_imu
        for sweep in sorted(seq_dir.glob("*.bin")):
            idx = int(sweep.stem)
            frame = Frame(
                id=f"{seq}/{sweep.stem}",
                uri=str(sweep),
                kind="pointcloud",
                point_format="kitti_bin",
                sensor="velodyne",
                sequence=seq,
                index=idx,
                meta={"dataset": "kitti", "rect_from_lidar": rect.tolist()},
            )
            try:
                frame.cameras = [
                    camera_view(rows, key, rect, name, root / name / seq / f"{sweep.stem}.png", item)
                    for name, key in CAMERAS.items()
                    if (root / name / seq / f"{sweep.stem}.png").is_file()
                ]
                frame.sensor_pose = Pose.from_matrix(np.linalg.inv(lidar_from_imu))  # ego (IMU) from lidar
                if idx < len(poses):
                    frame.ego_pose = Pose.from_matrix(poses[idx])
                else:
                    frame.meta["pose_error"] = f"{root / 'oxts' / (seq + '.txt')}: no oxts line {idx + 1}"
            except PrelabelError as e:
                yield FrameRecord(frame=frame, status="failed", error=str(e))
                continue
            yield FrameRecord(frame=frame)
