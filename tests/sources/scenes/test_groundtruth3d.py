"""Ground Truth 3D point cloud manifests (detection and tracking) written from scenes and read back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prelabel.core.geometry import transforms as tf
from prelabel.core.labels import FrameRecord
from prelabel.errors import FormatError
from prelabel.sources.scenes import groundtruth3d as gt3d
from prelabel.sources.scenes import read_scenes


def _same_geometry(a: FrameRecord, b: FrameRecord) -> None:
    fa, fb = a.frame, b.frame
    assert fb.uri == fa.uri and fb.kind == "pointcloud"
    wl_a = gt3d._world_from_lidar(fa)
    np.testing.assert_allclose(gt3d._world_from_lidar(fb), wl_a, atol=1e-6)
    for ca, cb in zip(fa.cameras or [], fb.cameras or [], strict=True):
        assert cb.uri == ca.uri
        np.testing.assert_allclose(cb.K, ca.K, atol=1e-6)
        np.testing.assert_allclose(cb.camera_from_lidar.matrix(), ca.camera_from_lidar.matrix(), atol=1e-6)


def test_detection_manifest_round_trip_on_kitti(shared_data: Path, tmp_path: Path) -> None:
    scenes = list(read_scenes(str(shared_data / "kitti/training")))[:3]
    out = tmp_path / "input.manifest"
    assert gt3d.write_detection(scenes, str(out)) == 3
    line = json.loads(out.read_text().splitlines()[0])
    meta = line["source-ref-metadata"]
    assert line["source-ref"].endswith("000000.bin") and meta["format"] == "binary/xyzi"
    assert meta["images"][0]["fx"] == pytest.approx(707.0493) and meta["images"][0]["camera-model"] == "pinhole"
    for a, b in zip(scenes, gt3d.read(str(out)), strict=True):
        _same_geometry(a, b)


def test_tracking_sequence_round_trip_with_poses(shared_data: Path, tmp_path: Path) -> None:
    scenes = list(read_scenes(str(shared_data / "kitti_tracking/tracking/training")))
    files = gt3d.write_tracking(scenes, str(tmp_path))
    (seq,) = files
    doc = json.loads(Path(seq).read_text())
    assert doc["number-of-frames"] == 2 and [f["frame-no"] for f in doc["frames"]] == [0, 1]
    back = list(gt3d.read(str(tmp_path / "manifest.jsonl")))
    assert [r.frame.index for r in back] == [0, 1]
    for a, b in zip(scenes, back, strict=True):
        _same_geometry(a, b)
    # the camera pose in the world moves with the car between the two frames
    cam_world = [tf.invert(r.frame.cameras[0].camera_from_lidar.matrix()) for r in back if r.frame.cameras]
    pos = [gt3d._world_from_lidar(r.frame) @ m for r, m in zip(back, cam_world, strict=True)]
    assert 0.0 < np.linalg.norm(pos[1][:3, 3] - pos[0][:3, 3]) < 3.0


def test_a_point_format_ground_truth_cannot_read_is_refused(shared_data: Path, tmp_path: Path) -> None:
    nusc = list(read_scenes(str(shared_data / "nuscenes/mmdet3d_demo/n015-2018-07-24-11-22-45+0800.pkl")))
    with pytest.raises(FormatError, match="not a Ground Truth format"):
        gt3d.write_detection(nusc, str(tmp_path / "m.manifest"))


def test_a_missing_or_bad_sequence_file_is_named(tmp_path: Path) -> None:
    m = tmp_path / "manifest.jsonl"
    m.write_text(json.dumps({"source-ref": str(tmp_path / "nope.json")}) + "\n")
    with pytest.raises(FormatError, match="nope.json.*does not exist"):
        list(gt3d.read(str(m)))
    (tmp_path / "seq.json").write_text(json.dumps({"seq-no": 0, "frames": [{"frame": "a.bin"}]}))
    m.write_text(json.dumps({"source-ref": str(tmp_path / "seq.json")}) + "\n")
    with pytest.raises(FormatError, match="needs 'frame-no'"):
        list(gt3d.read(str(m)))
