"""nuScenes detection results (the submission format), written in the global frame and read back.

``{"meta": {...}, "results": {sample_token: [box, ...]}}`` with each box ``sample_token``, ``translation`` (x y z of
the centre, metres, global frame), ``size`` (**width, length, height**), ``rotation`` (quaternion w x y z, global
frame), ``velocity`` (vx vy, m/s), ``detection_name``, ``detection_score``, ``attribute_name``.

Writing takes records whose frames are scenes (``ego_pose`` = world_from_ego, ``sensor_pose`` = ego_from_lidar;
the frame id is the sample token) and boxes in the LiDAR frame, or boxes already in ``world``. Reading gives
``Box3D(frame="world")`` with yaw about the global z axis; to bring them back to a sweep use the scene's poses
(``core.geometry.transforms.transform_boxes``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from prelabel import storage
from prelabel.core.geometry import transforms as tf
from prelabel.core.labels import Box3D, Frame, FrameRecord, Label
from prelabel.core.scene import Pose
from prelabel.errors import FormatError
from prelabel.formats import FormatSpec
from prelabel.formats._common import WriteSummary, check_dst, import_source, label_id, load_json

FORMAT = "nuscenes-detection"
# prelabel 3D classes -> nuScenes detection classes
TO_NUSCENES = {
    "car": "car",
    "truck": "truck",
    "bus": "bus",
    "pedestrian": "pedestrian",
    "person": "pedestrian",
    "cyclist": "bicycle",
    "bicycle": "bicycle",
    "motorcycle": "motorcycle",
    "trailer": "trailer",
    "construction_vehicle": "construction_vehicle",
    "traffic_cone": "traffic_cone",
    "barrier": "barrier",
}


def _world_from_lidar(frame: Frame) -> np.ndarray:
    if frame.ego_pose is None or frame.sensor_pose is None:
        raise FormatError(
            frame.id,
            "boxes in the LiDAR frame need the scene's ego_pose and sensor_pose to reach "
            "the global frame; expected a scene from prelabel extract / label --3d",
        )
    return tf.chain(frame.ego_pose, frame.sensor_pose)


def _yaw_quat(m: np.ndarray, yaw: float) -> list[float]:
    rz = np.eye(4)
    rz[:2, :2] = [[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]]
    return Pose.from_matrix(m @ rz).rotation


def write(records: Iterable[FrameRecord], dst: str, *, overwrite: bool = False) -> WriteSummary:
    """One results JSON; labels without a 3D box, or of classes nuScenes does not know, are counted as dropped."""
    check_dst(dst, overwrite)
    summary = WriteSummary(format=FORMAT, dst=dst)
    results: dict[str, list[dict[str, Any]]] = {}
    for rec in summary.usable(records):
        boxes = results.setdefault(rec.frame.id, [])
        summary.frames += 1
        for lb in rec.labels:
            b = lb.box3d
            name = TO_NUSCENES.get(lb.category.lower())
            if b is None or name is None:
                summary.drop("labels without a 3D box" if b is None else f"class {lb.category!r}")
                continue
            if b.frame == "world":
                m = np.eye(4)
            elif b.frame in ("lidar", "velodyne"):
                m = _world_from_lidar(rec.frame)
            else:
                raise FormatError(f"{rec.frame.id} {lb.id}", f"3D box in frame {b.frame!r}; expected lidar or world")
            centre = tf.apply(m, [[b.x, b.y, b.z]])[0]
            boxes.append(
                {
                    "sample_token": rec.frame.id,
                    "translation": [float(v) for v in centre],
                    "size": [b.width, b.length, b.height],
                    "rotation": _yaw_quat(m, b.yaw),
                    "velocity": [0.0, 0.0],
                    "detection_name": name,
                    "detection_score": float(lb.score if lb.score is not None else 1.0),
                    "attribute_name": "",
                }
            )
            summary.labels += 1
    meta = {"use_camera": True, "use_lidar": True, "use_radar": False, "use_map": False, "use_external": False}
    storage.write_bytes(dst, json.dumps({"meta": meta, "results": results}).encode())
    summary.files.append(dst)
    return summary


def read(src: str) -> Iterator[FrameRecord]:
    """One record per sample token; boxes in the global frame (``Box3D(frame="world")``)."""
    data = load_json(src)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise FormatError(src, "expected {'meta': ..., 'results': {sample_token: [boxes]}}")
    for token, boxes in data["results"].items():
        labels = []
        for i, bx in enumerate(boxes):
            where = f"{src} sample {token} box {i}"
            try:
                w, length, h = (float(v) for v in bx["size"])
                rot = Pose(rotation=[float(v) for v in bx["rotation"]]).matrix()
                x, y, z = (float(v) for v in bx["translation"])
                yaw = float(np.arctan2(rot[1, 0], rot[0, 0]))
                labels.append(
                    Label(
                        id=label_id(FORMAT, token, i),
                        category=str(bx["detection_name"]),
                        source=import_source(FORMAT),
                        score=float(bx.get("detection_score", 1.0)),
                        box3d=Box3D(x=x, y=y, z=z, length=length, width=w, height=h, yaw=yaw, frame="world"),
                        attributes={"velocity": bx.get("velocity"), "attribute_name": bx.get("attribute_name", "")},
                    )
                )
            except (KeyError, TypeError, ValueError) as e:
                raise FormatError(
                    where, f"expected translation, size (w l h), rotation (w x y z), detection_name: {e}"
                ) from e
        frame = Frame(id=str(token), uri=f"nuscenes://sample/{token}", kind="pointcloud", sensor="LIDAR_TOP")
        yield FrameRecord(frame=frame, labels=labels)


SPEC = FormatSpec(
    name=FORMAT,
    description="nuScenes detection results JSON (3D boxes in the global frame)",
    geometries=("box3d", "score"),
    reader=read,
    writer=write,
)
