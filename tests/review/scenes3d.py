"""3D pre-labels for the portal's 3D tests and benchmark, from the real nuScenes sample in ../shared/data.

The mmdet3d info pickle holds the sample's 3D boxes in the LIDAR_TOP frame (``bbox_3d``: centre x y z, length width
height, yaw; mmdet3d reads nuScenes boxes with origin (0.5, 0.5, 0.5)) and each camera's ``cam2img`` and
``lidar2cam``. They become a pointcloud ``Frame`` with six ``CameraView`` s and ``Label.box3d`` pre-labels, as a
labels file would hold them.
(The lidar3d branch's ``prelabel.sources.scenes`` reads the same; this stays a test helper.)
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

from prelabel.core.labels import Box3D, Frame, FrameRecord, Label
from prelabel.core.scene import CameraView, Pose

DEMO = "nuscenes/mmdet3d_demo"
PKL = "n015-2018-07-24-11-22-45+0800.pkl"


def nuscenes_record(shared_data: Path, *, boxes: int = 12, min_points: int = 20) -> FrameRecord:
    """The demo sample as a pointcloud frame with its ``boxes`` best-seen 3D boxes as scored pre-labels."""
    root = shared_data / DEMO
    with open(root / PKL, "rb") as fh:
        info = pickle.load(fh)
    classes = {v: k for k, v in info["metainfo"]["categories"].items()}
    s = info["data_list"][0]
    cams = []
    for name, im in s["images"].items():
        cams.append(
            CameraView(
                name=name,
                uri=str(root / im["img_path"]),
                width=1600,
                height=900,
                K=[[float(v) for v in row] for row in im["cam2img"]],
                camera_from_lidar=Pose.from_matrix(im["lidar2cam"]),
            )
        )
    frame = Frame(
        id=f"nuscenes-{s['token'][:8]}",
        uri=str(root / s["lidar_points"]["lidar_path"]),
        kind="pointcloud",
        point_format="nuscenes_bin",
        cameras=cams,
        sequence="n015-2018-07-24-11-22-45+0800",
        index=0,
    )
    inst = sorted(
        (i for i in s["instances"] if i["num_lidar_pts"] >= min_points and i["bbox_label_3d"] >= 0),
        key=lambda i: -int(i["num_lidar_pts"]),
    )[:boxes]
    labels = []
    for n, i in enumerate(inst):
        x, y, z, ln, w, h, yaw = (float(v) for v in i["bbox_3d"])
        labels.append(
            Label(
                id=f"nus-{n:03d}",
                category=classes[int(i["bbox_label_3d"])],
                source="import:nuscenes",
                score=round(0.5 + 0.5 * math.tanh(int(i["num_lidar_pts"]) / 200), 3),
                track_id=f"t{n}",
                box3d=Box3D(x=x, y=y, z=z, length=ln, width=w, height=h, yaw=yaw, frame="LIDAR_TOP"),
            )
        )
    return FrameRecord(frame=frame, labels=labels, job="nuscenes-import")


def nuscenes_camera_boxes(shared_data: Path, camera: str) -> list[tuple[float, float, list[float]]]:
    """nuScenes' own 2D boxes in one camera (projected 3D box corners, clipped to the image), with each box's
    centre x and z in that camera's frame to match them to 3D boxes by: ``(x, z, [x1, y1, x2, y2])``."""
    with open(shared_data / DEMO / PKL, "rb") as fh:
        info = pickle.load(fh)
    out = []
    for ci in info["data_list"][0]["cam_instances"][camera]:
        x, _, z = (float(v) for v in ci["bbox_3d"][:3])
        out.append((x, z, [float(v) for v in ci["bbox"]]))
    return out
