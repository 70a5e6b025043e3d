"""Video sampling and `prelabel extract` (bag -> PNGs, point clouds, index) on real KITTI data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prelabel.labelfile import read_records
from prelabel.sources.frames import input_kind, iter_decoded, iter_frames, load_frame_image
from prelabel.sources.pointcloud import read_bin
from prelabel.sources.video import sample_indices
from tests.helpers.cli import prelabel
from tests.helpers.kitti import kitti_p2, load_rgb

VIDEO_FRAMES = ["000001", "000002", "000003", "000004", "000005", "000007", "000008", "000009", "000010", "000011"]


def video_rgb(kitti: Path, frame: str) -> np.ndarray:
    return np.ascontiguousarray(load_rgb(kitti, frame)[:374])


@pytest.fixture(scope="module")
def kitti_video(kitti: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 real KITTI frames (cropped to 374 rows: the codec needs an even height) in a lossless FFV1 10 fps video."""
    import cv2

    path = tmp_path_factory.mktemp("video") / "drive.avi"
    first = video_rgb(kitti, VIDEO_FRAMES[0])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10, (first.shape[1], first.shape[0]))
    assert writer.isOpened()
    for f in VIDEO_FRAMES:
        writer.write(np.ascontiguousarray(video_rgb(kitti, f)[:, :, ::-1]))
    writer.release()
    return path


@pytest.mark.parametrize(
    ("count", "vfps", "fps", "every", "expected"),
    [
        (10, 10.0, None, None, list(range(10))),
        (10, 10.0, None, 3, [0, 3, 6, 9]),
        (10, 10.0, 5.0, None, [0, 2, 4, 6, 8]),
        (10, 30.0, 4.0, None, [0, 8]),  # 7.5-frame steps, rounded
        (5, 10.0, 50.0, None, [0, 1, 2, 3, 4]),  # asking for more than the video has keeps every frame
    ],
)
def test_sample_indices(count: int, vfps: float, fps: float | None, every: int | None, expected: list[int]) -> None:
    assert sample_indices(count, vfps, fps=fps, every=every) == expected


def test_sample_indices_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="not both"):
        sample_indices(10, 10.0, fps=1.0, every=2)
    with pytest.raises(ValueError, match="every must be >= 1"):
        sample_indices(10, 10.0, every=0)


def test_video_frames_every_nth_decode_exactly(kitti_video: Path, kitti: Path) -> None:
    spec = str(kitti_video)
    assert input_kind(spec) == "video"
    frames = list(iter_frames(spec, every=3))
    assert [f.id for f in frames] == ["drive/000000", "drive/000003", "drive/000006", "drive/000009"]
    assert [f.timestamp_ns for f in frames] == [0, 300_000_000, 600_000_000, 900_000_000]
    got = {f.id: rgb for f, rgb, err in iter_decoded(frames)}
    for f in frames:
        expected = video_rgb(kitti, VIDEO_FRAMES[f.meta["frame_index"]])
        assert np.array_equal(got[f.id], expected)
    assert np.array_equal(load_frame_image(frames[2]), video_rgb(kitti, VIDEO_FRAMES[6]))  # random access
    assert len(list(iter_frames(spec, fps=5))) == 5


def test_extract_bag_then_label_the_index(
    rosbags: Path, kitti: Path, stamp_to_kitti: dict[int, str], tmp_path: Path
) -> None:
    import cv2

    out = tmp_path / "frames"
    r = prelabel(
        "extract", str(rosbags / "kitti_object_10f.bag"), "--out", str(out),
        "--topics", "/kitti/camera_color_left/image_raw,/kitti/velo/pointcloud",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "/kitti/camera_color_left/image_raw: 10 files" in r.stdout
    assert "/kitti/velo/pointcloud: 10 files" in r.stdout
    index = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    images = [f for f in index if f["kind"] == "image"]
    clouds = [f for f in index if f["kind"] == "pointcloud"]
    assert len(images) == 10 and len(clouds) == 10
    for f in images:
        png = cv2.imread(f["uri"])[:, :, ::-1]
        assert np.array_equal(png, load_rgb(kitti, stamp_to_kitti[f["timestamp_ns"]]))
        assert f["meta"]["source"].startswith("bag://")
        p2 = kitti_p2(kitti, stamp_to_kitti[f["timestamp_ns"]])
        np.testing.assert_allclose(np.array(f["calibration"]["P"])[:, :3], p2[:, :3], rtol=1e-6)
    # the camera-FOV crop in the bag is KITTI's velodyne_reduced scan, point for point
    first = min(clouds, key=lambda f: f["timestamp_ns"])
    kitti_scan = np.fromfile(kitti / "velodyne_reduced" / "000000.bin", np.float32).reshape(-1, 4)
    assert np.array_equal(read_bin(first["uri"]), kitti_scan)
    assert first["meta"]["frame_id"] == "velodyne" and first["meta"]["points"] == kitti_scan.shape[0]

    again = prelabel("extract", str(rosbags / "kitti_object_10f.bag"), "--out", str(out))
    assert again.returncode == 2 and "output already exists" in again.stderr  # never overwritten silently

    # label the extracted camera frames through the index: stamps and calibration carry into the records
    cams = tmp_path / "cams.jsonl"
    cams.write_text("".join(json.dumps(f) + "\n" for f in images[:3]))
    labels = tmp_path / "labels.jsonl"
    r = prelabel("label", str(cams), "--out", str(labels), env={"PRELABEL_STATE": str(tmp_path / "state")})
    assert r.returncode == 0, r.stderr
    records = read_records(labels)
    assert [rec.frame.timestamp_ns for rec in records] == [f["timestamp_ns"] for f in images[:3]]
    assert all(rec.frame.calibration is not None for rec in records)
    assert sum(1 for rec in records for lab in rec.labels if lab.category == "car") >= 3


def test_label_a_video_every_fifth_frame(kitti_video: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels.jsonl"
    r = prelabel("label", str(kitti_video), "--every", "5", "--out", str(out), env={"PRELABEL_STATE": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert "frames/s" in r.stderr and "eta" in r.stderr  # the progress bar: rate and ETA
    records = read_records(out)
    assert [rec.frame.id for rec in records] == ["drive/000000", "drive/000005"]
    assert [rec.frame.timestamp_ns for rec in records] == [0, 500_000_000]
    assert all(rec.frame.uri.startswith("video://") for rec in records)
    assert all(any(lab.category == "car" for lab in rec.labels) for rec in records)
