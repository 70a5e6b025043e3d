"""Scene readers on the real KITTI, nuScenes, Argoverse 2 and PCD data, and their per-item errors."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from prelabel.core.geometry import transforms as tf
from prelabel.errors import UnreadableInputError
from prelabel.sources.scenes import detect, read_scenes
from prelabel.sources.scenes.points import decode, load

NUSC = "nuscenes/mmdet3d_demo/n015-2018-07-24-11-22-45+0800.pkl"
AV2 = "av2/sensor/val/7fab2350-7eaf-3b7e-a39d-6937a4c1bede"


def test_kitti_object_scene_projects_points_into_the_image(shared_data: Path) -> None:
    recs = list(read_scenes(str(shared_data / "kitti/training")))
    assert len(recs) == 30 and all(r.status == "ok" for r in recs)
    frame = recs[0].frame
    assert frame.kind == "pointcloud" and frame.point_format == "kitti_bin"
    (cam,) = frame.cameras or []
    assert (cam.width, cam.height) == (1224, 370)
    pts = load(frame)
    _uv, depth, ok = tf.project_to_camera(cam, pts)
    # velodyne_reduced is the camera's field of view: nearly every point in front lands inside the image
    assert ok.sum() / (depth > 0.5).sum() > 0.97


def test_kitti_tracking_has_ego_poses(shared_data: Path) -> None:
    recs = list(read_scenes(str(shared_data / "kitti_tracking/tracking/training")))
    assert [r.frame.id for r in recs] == ["0001/000000", "0001/000001"]
    f0, f1 = recs[0].frame, recs[1].frame
    assert f0.ego_pose is not None and f1.ego_pose is not None and f0.sequence == "0001"
    np.testing.assert_allclose(f0.ego_pose.translation, [0, 0, 0], atol=1e-6)
    moved = np.linalg.norm(np.asarray(f1.ego_pose.translation))
    assert 0.0 < moved < 3.0  # one 10 Hz step of a car in town


def test_nuscenes_six_cameras_within_tolerance(shared_data: Path) -> None:
    (rec,) = list(read_scenes(str(shared_data / NUSC)))
    cams = rec.frame.cameras or []
    assert len(cams) == 6 and all(abs(c.time_offset_ms or 0) < 50 for c in cams)
    assert load(rec.frame).shape[1] == 4
    (tight,) = list(read_scenes(str(shared_data / NUSC), tolerance_ms=20.0))
    names = {c.name for c in tight.frame.cameras or []}
    assert names == {"CAM_BACK", "CAM_BACK_LEFT"}
    assert len(tight.frame.meta["unmatched"]) == 4 and "tolerance 20.0 ms" in tight.frame.meta["unmatched"][0]


def test_av2_log_with_city_poses(shared_data: Path) -> None:
    recs = list(read_scenes(str(shared_data / AV2)))
    assert detect(str(shared_data / AV2)) == "av2" and len(recs) == 2
    assert all(r.frame.ego_pose is not None for r in recs)
    assert load(recs[0].frame).shape == (99229, 4)


def test_av2_ego_poses_give_the_nearest_pose_and_its_gap(shared_data: Path, tmp_path: Path) -> None:
    from prelabel.errors import PrelabelError
    from prelabel.sources.scenes.av2 import read_ego_poses

    poses = read_ego_poses(shared_data / AV2)
    for r in read_scenes(str(shared_data / AV2)):
        ts = int(r.frame.timestamp_ns or 0)
        pose, gap = poses.nearest(ts)
        assert gap == 0.0 and r.frame.ego_pose is not None
        np.testing.assert_allclose(pose.matrix(), r.frame.ego_pose.matrix())
    first = int(poses.stamps.min())
    pose, gap = poses.nearest(first - 7_000_000)  # 7 ms before the first pose: that pose, 7 ms away
    assert gap == pytest.approx(7.0)
    np.testing.assert_allclose(pose.matrix(), poses.nearest(first)[0].matrix())
    with pytest.raises(PrelabelError, match="city_SE3_egovehicle.feather: file missing"):
        read_ego_poses(tmp_path)


def test_pcd_file(shared_data: Path) -> None:
    (rec,) = list(read_scenes(str(shared_data / "rosbags/kitti_000000_velodyne_fov.pcd")))
    pcd = load(rec.frame)
    kitti = np.fromfile(shared_data / "kitti/training/velodyne_reduced/000000.bin", np.float32).reshape(-1, 4)
    np.testing.assert_allclose(pcd[:, :3], kitti[:, :3], atol=1e-3)


def test_bad_points_name_the_file() -> None:
    with pytest.raises(UnreadableInputError, match=r"x\.bin.*float32 rows of 4"):
        decode(b"\0" * 20, "kitti_bin", "x.bin")
    nan = np.array([[1, 2, np.nan, 0]], np.float32).tobytes()
    with pytest.raises(UnreadableInputError, match="NaN or infinite"):
        decode(nan, "kitti_bin", "y.bin")
    # a .npy sweep that is not (N, >=3) rows: one line naming the file and the shape, no IndexError
    for arr in (np.zeros(12, np.float32), np.zeros((5, 2), np.float32), np.array(["a", "b", "c"])[None, :]):
        buf = io.BytesIO()
        np.save(buf, arr)
        with pytest.raises(UnreadableInputError, match=r"z\.npy.*(shape \(N, >=3\)|expected numbers)"):
            decode(buf.getvalue(), "npy", "z.npy")


def test_missing_and_singular_calibration_fail_per_item(shared_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "training"
    for sub in ("velodyne_reduced", "image_2", "calib"):
        (root / sub).mkdir(parents=True)
    for stem in ("000000", "000001", "000002"):
        shutil.copy(shared_data / f"kitti/training/velodyne_reduced/{stem}.bin", root / "velodyne_reduced")
        shutil.copy(shared_data / f"kitti/training/image_2/{stem}.png", root / "image_2")
    shutil.copy(shared_data / "kitti/training/image_2/000003.png", root / "image_2")
    shutil.copy(shared_data / "kitti/training/calib/000000.txt", root / "calib")
    text = (shared_data / "kitti/training/calib/000001.txt").read_text()
    (root / "calib/000001.txt").write_text(text.replace("P2: 7.215377", "P2: 0.0"))
    recs = {r.frame.id: r for r in read_scenes(str(root))}
    assert recs["000000"].status == "ok"
    assert recs["000001"].status == "failed" and "P2 is singular" in (recs["000001"].error or "")
    assert recs["000002"].status == "failed" and "calibration file missing" in (recs["000002"].error or "")
    assert "000002.txt" in (recs["000002"].error or "")
    assert recs["000003"].status == "failed" and "no matching sweep" in (recs["000003"].error or "")
