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


TRACKING = "kitti_tracking/tracking/training"


def kitti_sequence(shared_data: Path, seq: str = "0001", frames: int = 2) -> list[FrameRecord]:
    """The first ``frames`` samples of a KITTI tracking sequence: the Velodyne sweep (``kitti_bin``), the left colour
    camera (K = P2[:, :3]; camera_from_lidar = R_rect @ Tr_velo_cam, plus P2's baseline offset) and the labelled
    objects (DontCare left out) as ``box3d`` pre-labels in the velodyne frame with their track ids."""
    import numpy as np

    root = shared_data / TRACKING
    cal: dict[str, np.ndarray] = {}
    for line in (root / "calib" / f"{seq}.txt").read_text().splitlines():
        parts = line.replace(":", " ").split()
        if parts:
            cal[parts[0]] = np.array([float(v) for v in parts[1:]])
    p2 = cal["P2"].reshape(3, 4)
    r0 = np.eye(4)
    r0[:3, :3] = cal["R_rect"].reshape(3, 3)
    tr = np.eye(4)
    tr[:3, :] = cal["Tr_velo_cam"].reshape(3, 4)
    cam_from_velo = r0 @ tr
    cam_from_velo[0, 3] += p2[0, 3] / p2[0, 0]
    velo_from_rect = np.linalg.inv(r0 @ tr)
    rows = [ln.split() for ln in (root / "label_02" / f"{seq}.txt").read_text().splitlines() if ln.strip()]
    out = []
    for f in range(frames):
        img = root / "image_02" / seq / f"{f:06d}.png"
        cam = CameraView(
            name="image_2",
            uri=str(img),
            width=1242,
            height=375,
            K=[[float(v) for v in row] for row in p2[:, :3]],
            camera_from_lidar=Pose.from_matrix(cam_from_velo),
        )
        labels = []
        for r in rows:
            if int(r[0]) != f or r[2] == "DontCare":
                continue
            h, w, ln = (float(v) for v in r[10:13])
            x, y, z, ry = (float(v) for v in r[13:17])
            c = velo_from_rect @ np.array([x, y - h / 2, z, 1.0])
            yaw = math.atan2(math.sin(-ry - math.pi / 2), math.cos(-ry - math.pi / 2))
            labels.append(
                Label(
                    id=f"kitti-{seq}-{f}-{r[1]}",
                    category=r[2].lower(),
                    source="import:kitti",
                    score=0.8,
                    track_id=r[1],
                    box3d=Box3D(x=c[0], y=c[1], z=c[2], length=ln, width=w, height=h, yaw=yaw, frame="velodyne"),
                )
            )
        frame = Frame(
            id=f"kitti-{seq}-{f:06d}",
            uri=str(root / "velodyne" / seq / f"{f:06d}.bin"),
            kind="pointcloud",
            point_format="kitti_bin",
            cameras=[cam],
            sequence=f"kitti-tracking-{seq}",
            index=f,
        )
        out.append(FrameRecord(frame=frame, labels=labels, job="kitti-import"))
    return out
