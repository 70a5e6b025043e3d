"""nuScenes detection results JSON: LiDAR-frame boxes to the global frame and back, on the real nuScenes sample."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from prelabel import formats
from prelabel.core.geometry import boxes3d as b3
from prelabel.core.geometry import transforms as tf
from prelabel.core.labels import Box3D, FrameRecord, Label
from prelabel.sources.scenes import read_scenes

PKL = "nuscenes/mmdet3d_demo/n015-2018-07-24-11-22-45+0800.pkl"


def test_round_trip_through_the_global_frame(shared_data: Path, tmp_path: Path) -> None:
    (scene,) = list(read_scenes(str(shared_data / PKL)))
    info = pickle.loads((shared_data / PKL).read_bytes())["data_list"][0]
    cats = {v: k for k, v in pickle.loads((shared_data / PKL).read_bytes())["metainfo"]["categories"].items()}
    # the sample's ground-truth boxes (mmdet3d LiDAR boxes: bottom centre, l w h, yaw) as prelabel labels
    labels = []
    for i, inst in enumerate(info["instances"][:20]):
        x, y, z, length, w, h, yaw = inst["bbox_3d"]
        box = Box3D(x=x, y=y, z=z + h / 2, length=length, width=w, height=h, yaw=yaw, frame="lidar")
        labels.append(
            Label(id=f"gt{i}", category=cats[inst["bbox_label_3d"]], source="human:nuscenes", score=0.5, box3d=box)
        )
    out = tmp_path / "results.json"
    summary = formats.write("nuscenes-detection", [FrameRecord(frame=scene.frame, labels=labels)], str(out))
    assert summary.labels == 20
    doc = json.loads(out.read_text())
    first = doc["results"][scene.frame.id][0]
    assert len(first["size"]) == 3 and first["size"][1] == pytest.approx(labels[0].box3d.length)  # type: ignore[union-attr]
    # the ego vehicle is near (411, 1181) in the global frame: every box is within 100 m of it
    assert np.hypot(first["translation"][0] - 411.3, first["translation"][1] - 1180.9) < 100
    (back,) = list(formats.read("nuscenes-detection", str(out)))
    lidar_from_world = tf.invert(tf.chain(scene.frame.ego_pose, scene.frame.sensor_pose))
    for a, b in zip(labels, back.labels, strict=True):
        assert a.box3d is not None and b.box3d is not None and b.box3d.frame == "world"
        again = tf.transform_boxes(lidar_from_world, b3.from_box3d(b.box3d))[0]
        orig = b3.from_box3d(a.box3d)
        np.testing.assert_allclose(again[:6], orig[:6], atol=1e-3)
        assert abs(b3.wrap_angle(again[6] - orig[6])) < 1e-3
        assert b.category == a.category and b.score == pytest.approx(0.5)


def test_lidar_boxes_without_poses_are_refused(tmp_path: Path) -> None:
    from prelabel.core.labels import Frame
    from prelabel.errors import FormatError

    frame = Frame(id="tok", uri="x.bin", kind="pointcloud")
    lb = Label(
        category="car",
        source="human:t",
        box3d=Box3D(x=1, y=0, z=0, length=4, width=2, height=1.5, yaw=0, frame="lidar"),
    )
    with pytest.raises(FormatError, match="ego_pose and sensor_pose"):
        formats.write("nuscenes-detection", [FrameRecord(frame=frame, labels=[lb])], str(tmp_path / "r.json"))
