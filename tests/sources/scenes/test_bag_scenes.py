"""Scenes from a ROS bag (KITTI frames written as a bag): sweeps paired with images, extrinsics given."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prelabel.core.labels import Label
from prelabel.formats import kitti
from prelabel.lidar.lift import LiftOptions, lift_frame
from prelabel.sources.extract import INDEX, extract_bag
from prelabel.sources.scenes import read_scenes
from prelabel.sources.scenes.bagindex import load_extrinsics, scenes_from_index
from prelabel.sources.scenes.points import load


def test_bag_scene_lifts_like_the_kitti_scene(shared_data: Path, tmp_path: Path) -> None:
    extract_bag(str(shared_data / "rosbags/kitti_object_10f.bag"), str(tmp_path))
    calib = str(shared_data / "kitti/training/calib/000000.txt")
    recs = list(scenes_from_index(str(tmp_path / INDEX), load_extrinsics(calib)))
    assert len(recs) == 10 and all(r.status == "ok" for r in recs)
    bag_scene = recs[0].frame
    (cam,) = bag_scene.cameras or []
    assert cam.time_offset_ms == 0.0
    kitti_scene = next(r.frame for r in read_scenes(str(shared_data / "kitti/training")) if r.frame.id == "000000")
    # the same sweep, intrinsics and extrinsics as the KITTI folder gives
    np.testing.assert_allclose(load(bag_scene)[:, :3], load(kitti_scene)[:, :3], atol=1e-3)
    np.testing.assert_allclose(cam.K, (kitti_scene.cameras or [])[0].K, atol=1e-3)
    np.testing.assert_allclose(
        cam.camera_from_lidar.matrix(), (kitti_scene.cameras or [])[0].camera_from_lidar.matrix(), atol=1e-5
    )
    # so the ground-truth pedestrian's 2D box lifts to the same 3D box from either source
    gt = next(kitti.read(str(shared_data / "kitti/training/label_2/000000.txt")))
    dets = [Label(category="person", source="human:kitti", score=1.0, box=lb.box) for lb in gt.labels]
    a = lift_frame(load(bag_scene), bag_scene.cameras or [], {cam.name: dets}, LiftOptions())
    b = lift_frame(load(kitti_scene), kitti_scene.cameras or [], {"image_2": dets}, LiftOptions())
    assert len(a) == len(b) == 1
    np.testing.assert_allclose(a[0].box, b[0].box, atol=0.02)
    assert 7.5 < a[0].box[0] < 9.5  # the pedestrian 8.4 m ahead


def test_missing_extrinsics_are_reported_per_sweep(shared_data: Path, tmp_path: Path) -> None:
    extract_bag(str(shared_data / "rosbags/kitti_object_3f_sqlite3"), str(tmp_path))
    recs = list(scenes_from_index(str(tmp_path / INDEX), None))
    sweeps = [r for r in recs if r.frame.kind == "pointcloud"]
    assert len(sweeps) == 3 and all(r.status == "failed" for r in sweeps)
    assert "no camera_from_lidar extrinsics" in (sweeps[0].error or "") and "--extrinsics" in (sweeps[0].error or "")
    # the images matched their sweeps in time: they are not reported again as images without a sweep
    assert [r for r in recs if r.frame.kind == "image"] == []


def test_images_without_a_sweep_are_reported(shared_data: Path, tmp_path: Path) -> None:
    extract_bag(
        str(shared_data / "rosbags/kitti_object_3f_sqlite3"),
        str(tmp_path),
        ["/kitti/camera_color_left/image_raw/compressed"],
    )
    index = (tmp_path / INDEX).read_text()
    assert '"kind":"pointcloud"' not in index
    recs = list(scenes_from_index(str(tmp_path / INDEX), None))
    assert len(recs) == 3 and all(r.status == "failed" and "no sweep within 50.0 ms" in (r.error or "") for r in recs)
