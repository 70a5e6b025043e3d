"""Scenes from a bag's extracted index (``prelabel extract BAG``): each PointCloud2 sweep with the nearest image of
every camera topic, within a tolerance.

Intrinsics come from each image's CameraInfo (``K``, or ``P[:, :3]`` with ``P``'s fourth column as a shift of the
rectified camera, as KITTI's P2). Extrinsics come from the rig: where the bag's ``/tf_static`` (or a URDF given
to ``extract``) places both the image's and the sweep's frame, ``camera_from_lidar = root_from_camera⁻¹ ·
root_from_sweep`` (``meta.root_from_sensor`` of each index entry). Given extrinsics win over the rig: a JSON file
``{"<camera topic>": 4x4 camera_from_lidar}`` (``"*"`` for every topic) or a KITTI calib file
(``R0_rect · Tr_velo_to_cam``). Images matched to no sweep, sweeps with no image in tolerance and topics without
extrinsics are reported per item, never paired silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel import storage
from prelabel.core.labels import Frame, FrameRecord
from prelabel.core.scene import CameraView, Pose
from prelabel.errors import PrelabelError

TOLERANCE_MS = 50.0


def load_extrinsics(path: str) -> dict[str, npt.NDArray[np.float64]]:
    """``{topic or "*": camera_from_lidar}`` from a JSON file or a KITTI calib file."""
    from prelabel.sources.scenes.kitti import parse_calib, rect_from_lidar

    p = storage.local_path(path)
    if not p.is_file():
        raise PrelabelError(f"extrinsics file not found: {p}; expected JSON {{topic: 4x4}} or a KITTI calib .txt")
    if p.suffix == ".txt":
        return {"*": rect_from_lidar(parse_calib(p), str(p))}
    try:
        data = json.loads(p.read_text("utf-8"))
        out = {str(k): np.asarray(v, dtype=np.float64).reshape(4, 4) for k, v in data.items()}
    except (ValueError, AttributeError) as e:
        raise PrelabelError(f"{p}: expected JSON {{camera topic: 4x4 camera_from_lidar}}; {e}") from e
    return out


def _frames(index: str) -> list[Frame]:
    return [Frame.model_validate_json(line) for line in storage.read_bytes(index).decode().splitlines() if line]


def _camera(img: Frame, base: npt.NDArray[np.float64], offset_ms: float) -> CameraView:
    cal = img.calibration
    if cal is None:
        raise PrelabelError(f"{img.uri}: image has no CameraInfo calibration; expected K (and P) from the bag")
    if cal.P is not None:
        P = np.asarray(cal.P, dtype=np.float64)
        K = P[:, :3]
        shift = np.eye(4)
        shift[:3, 3] = np.linalg.solve(K, P[:, 3])
        m = shift @ base
    else:
        K, m = np.asarray(cal.K, dtype=np.float64), base
    return CameraView(
        name=img.sensor or "camera",
        uri=img.uri,
        width=img.width,
        height=img.height,
        K=K.tolist(),
        camera_from_lidar=Pose.from_matrix(m),
        timestamp_ns=img.timestamp_ns,
        time_offset_ms=offset_ms,
    )


def _from_rig(cloud: Frame, img: Frame) -> npt.NDArray[np.float64] | None:
    """camera_from_lidar from both frames' place in the rig (``meta.root_from_sensor``), or None."""
    cam, sweep = img.meta.get("root_from_sensor"), cloud.meta.get("root_from_sensor")
    if cam is None or sweep is None:
        return None
    m: npt.NDArray[np.float64] = np.linalg.inv(np.asarray(cam, dtype=np.float64)) @ np.asarray(sweep, np.float64)
    return m


def scenes_from_index(
    index: str, extrinsics: dict[str, Any] | None = None, *, tolerance_ms: float = TOLERANCE_MS
) -> Iterator[FrameRecord]:
    """One scene per sweep of the index; failed records for what cannot pair (see the module docstring)."""
    frames = _frames(index)
    clouds = [f for f in frames if f.kind == "pointcloud"]
    images: dict[str, list[Frame]] = {}
    for f in frames:
        if f.kind != "pointcloud" and f.timestamp_ns is not None:
            images.setdefault(f.sensor or "camera", []).append(f)
    used: set[str] = set()
    ext = extrinsics or {}
    for cloud in clouds:
        scene = cloud.model_copy(update={"point_format": "kitti_bin", "cameras": []})
        scene.meta = {**cloud.meta, "tolerance_ms": tolerance_ms}
        unmatched, cams = [], []
        try:
            if cloud.timestamp_ns is None:
                raise PrelabelError(f"{cloud.uri}: sweep has no timestamp; cannot pair it with images")
            for topic, imgs in images.items():
                best = min(imgs, key=lambda f: abs((f.timestamp_ns or 0) - (cloud.timestamp_ns or 0)))
                off = ((best.timestamp_ns or 0) - cloud.timestamp_ns) / 1e6
                if abs(off) > tolerance_ms:
                    unmatched.append(
                        f"{topic}: nearest image {off:+.1f} ms from the sweep; tolerance {tolerance_ms} ms"
                    )
                    continue
                used.add(best.id)  # matched in time, whatever happens to the scene next
                base = ext.get(topic, ext.get("*"))
                if base is None:
                    base = _from_rig(cloud, best)
                if base is None:
                    raise PrelabelError(
                        f"{topic}: no camera_from_lidar extrinsics (no /tf_static places both the camera's and the "
                        "sweep's frame); pass --extrinsics with a JSON {topic: 4x4} or a KITTI calib file, or --rig"
                    )
                cams.append(_camera(best, np.asarray(base, dtype=np.float64), off))
            scene.cameras = cams
            if unmatched:
                scene.meta["unmatched"] = unmatched
        except PrelabelError as e:
            yield FrameRecord(frame=scene, status="failed", error=str(e))
            continue
        yield FrameRecord(frame=scene)
    for imgs in images.values():
        for f in imgs:
            if f.id not in used:
                yield FrameRecord(
                    frame=f, status="failed", error=f"{f.uri}: image has no sweep within {tolerance_ms} ms"
                )
