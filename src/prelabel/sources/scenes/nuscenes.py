"""nuScenes samples as scenes, from an mmdetection3d info pickle (v1.1 ``data_list``).

Per sample: ``lidar_points.lidar_path`` (``.pcd.bin``, 5 float32 per point, LIDAR_TOP frame), ``lidar2ego``,
``ego2global``, and per camera ``img_path``, ``cam2img`` (K) and ``lidar2cam``. A camera whose image time is further
than ``tolerance_ms`` from the sweep's is left out and named in ``meta["unmatched"]``; a missing image likewise.
Only load pickles you trust: unpickling runs code.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from prelabel import storage
from prelabel.core.labels import Frame, FrameRecord
from prelabel.core.scene import CameraView, Pose
from prelabel.errors import FormatError, PrelabelError

TOLERANCE_MS = 50.0  # half a 10 Hz camera period: nuScenes keyframe cameras sit within ~40 ms of the sweep


def _find(root: Path, name: str) -> Path:
    p = Path(name)
    for cand in (root / p, root / p.name, root / "samples" / p.parent.name / p.name):
        if cand.is_file():
            return cand
    return root / p.name


def read_info(path: Path, *, tolerance_ms: float = TOLERANCE_MS) -> Iterator[FrameRecord]:
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
    except Exception as e:
        raise FormatError(str(path), f"not a readable pickle: {type(e).__name__}: {e}") from e
    if not isinstance(data, dict) or "data_list" not in data:
        raise FormatError(str(path), "expected an mmdetection3d v1.1 info dict with data_list")
    for n, sample in enumerate(data["data_list"]):
        yield _sample(sample, path, n, tolerance_ms)


def _sample(sample: dict[str, Any], path: Path, n: int, tolerance_ms: float) -> FrameRecord:
    root = path.parent
    lp = sample.get("lidar_points") or {}
    token = str(sample.get("token") or n)
    uri = str(_find(root, lp.get("lidar_path", f"missing-lidar-{token}")))
    ts = sample.get("timestamp")
    frame = Frame(
        id=token,
        uri=uri,
        kind="pointcloud",
        point_format="nuscenes_bin",
        sensor="LIDAR_TOP",
        timestamp_ns=round(float(ts) * 1e9) if ts is not None else None,
        meta={"dataset": "nuscenes", "tolerance_ms": tolerance_ms},
    )
    where = f"{path} sample {token}"
    try:
        if not lp.get("lidar_path"):
            raise PrelabelError(f"{where}: no lidar_points.lidar_path; images without a sweep cannot form a scene")
        if "lidar2ego" in lp:
            frame.sensor_pose = Pose.from_matrix(lp["lidar2ego"])
        if sample.get("ego2global") is not None:
            frame.ego_pose = Pose.from_matrix(sample["ego2global"])
        cams, unmatched = [], []
        for cam, info in (sample.get("images") or {}).items():
            if not info.get("img_path"):
                continue
            image = _find(root, info["img_path"])
            off = (float(info["timestamp"]) - float(ts)) * 1000.0 if ts is not None and "timestamp" in info else None
            if not image.is_file():
                unmatched.append(f"{cam}: image {image} not found")
                continue
            if off is not None and abs(off) > tolerance_ms:
                unmatched.append(f"{cam}: {off:+.1f} ms from the sweep; tolerance {tolerance_ms} ms")
                continue
            if info.get("cam2img") is None or info.get("lidar2cam") is None:
                raise PrelabelError(f"{where} {cam}: calibration missing; expected cam2img and lidar2cam")
            K = np.asarray(info["cam2img"], dtype=np.float64)[:3, :3]
            size = storage.image_size(image)
            try:
                cams.append(
                    CameraView(
                        name=cam,
                        uri=str(image),
                        width=size[0] if size else None,
                        height=size[1] if size else None,
                        K=K.tolist(),
                        camera_from_lidar=Pose.from_matrix(info["lidar2cam"]),
                        timestamp_ns=round(float(info["timestamp"]) * 1e9) if "timestamp" in info else None,
                        time_offset_ms=off,
                    )
                )
            except ValueError as e:
                raise PrelabelError(f"{where} {cam}: bad calibration: {e}") from e
        frame.cameras = cams
        if unmatched:
            frame.meta["unmatched"] = unmatched
    except PrelabelError as e:
        return FrameRecord(frame=frame, status="failed", error=str(e))
    except ValueError as e:
        return FrameRecord(frame=frame, status="failed", error=f"{where}: {e}")
    return FrameRecord(frame=frame)
