"""Inputs and outputs on a real S3-protocol server (moto on 127.0.0.1): image prefixes, bags, labels, extracts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prelabel import storage
from prelabel.labelfile import read_records
from prelabel.sources.frames import iter_decoded, iter_frames
from tests.helpers.cli import prelabel
from tests.helpers.kitti import load_rgb

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def bucket(s3_server: str, kitti: Path, rosbags: Path) -> str:
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server})
    fs.mkdir("drive-logs")
    for f in ("000001", "000002", "000003"):
        fs.put(str(kitti / "image_2" / f"{f}.png"), f"drive-logs/frames/{f}.png")
    fs.put(str(rosbags / "kitti_object_10f.bag"), "drive-logs/bags/kitti.bag")
    fs.put(str(rosbags / "kitti_object_3f_sqlite3"), "drive-logs/bags/kitti_3f", recursive=True)
    return "s3://drive-logs"


def test_bag_in_a_bucket_decodes_like_the_local_one(
    bucket: str, kitti: Path, stamp_to_kitti: dict[int, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRELABEL_INPUT_CACHE", str(tmp_path / "inputs"))
    for spec, count in ((f"{bucket}/bags/kitti.bag", 10), (f"{bucket}/bags/kitti_3f", 3)):
        frames = list(iter_frames(spec))
        assert len(frames) == count and frames[0].uri.startswith(f"bag://{spec}#")
        for f, rgb, err in iter_decoded(frames):
            assert err is None
            assert np.array_equal(rgb, load_rgb(kitti, stamp_to_kitti[f.timestamp_ns or 0]))
    # the download is cached while the objects are unchanged; a changed object gets a fresh copy
    from prelabel.sources.remote import localize

    first = localize(f"{bucket}/bags/kitti_3f")
    assert localize(f"{bucket}/bags/kitti_3f") == first and (first / "metadata.yaml").is_file()
    meta = storage.read_bytes(f"{bucket}/bags/kitti_3f/metadata.yaml")
    storage.write_bytes(f"{bucket}/bags/kitti_3f/metadata.yaml", meta + b"\n")
    second = localize(f"{bucket}/bags/kitti_3f")
    assert second != first and (second / "metadata.yaml").read_bytes() == meta + b"\n"
    storage.write_bytes(f"{bucket}/bags/kitti_3f/metadata.yaml", meta)


SSD = "ssd-mobilenet-v2-coco"  # the job mechanics under test, with the fastest model (no --model: the best preset)


def test_label_from_s3_to_s3(bucket: str, tmp_path: Path) -> None:
    env = {"PRELABEL_STATE": str(tmp_path / "state"), "PRELABEL_INPUT_CACHE": str(tmp_path / "inputs")}
    r = prelabel("label", f"{bucket}/frames", "--model", SSD, "--out", f"{bucket}/labels/run1", env=env)
    assert r.returncode == 0, r.stderr
    assert "frames: 3  labelled: 3  failed: 0" in r.stdout
    records = read_records(f"{bucket}/labels/run1/labels.jsonl")
    assert [rec.frame.id for rec in records] == ["000001", "000002", "000003"]
    assert records[0].frame.uri == f"{bucket}/frames/000001.png"
    assert sum(1 for rec in records for lab in rec.labels if lab.category == "car") >= 3

    r = prelabel("label", f"{bucket}/frames", "--model", SSD, "--out", f"{bucket}/labels/run1", env=env)
    assert r.returncode == 2 and "output already exists: s3://drive-logs/labels/run1/labels.jsonl" in r.stderr

    r = prelabel(
        "label", f"{bucket}/bags/kitti.bag", "--topics", "/kitti/camera_color_left/image_raw", "--model", SSD,
        "--out", f"{bucket}/labels/bag.jsonl", env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    records = read_records(f"{bucket}/labels/bag.jsonl")
    assert len(records) == 10 and all(rec.frame.calibration is not None for rec in records)
    assert records[0].frame.uri.startswith("bag://s3://drive-logs/bags/kitti.bag#/kitti/camera_color_left/image_raw@")


def test_extract_to_a_bucket(bucket: str, kitti: Path, tmp_path: Path) -> None:
    r = prelabel(
        "extract", f"{bucket}/bags/kitti_3f", "--out", f"{bucket}/extracted",
        "--topics", "/kitti/camera_color_left/image_raw/compressed", env={"PRELABEL_INPUT_CACHE": str(tmp_path)},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    index = storage.read_text(f"{bucket}/extracted/index.jsonl").splitlines()
    assert len(index) == 3
    frames = list(iter_frames(f"{bucket}/extracted/index.jsonl"))
    assert frames[0].uri == f"{bucket}/extracted/kitti_camera_color_left_image_raw_compressed/1317000000000000000.png"
    got = next(iter_decoded(frames[:1]))[1]
    assert np.array_equal(got, load_rgb(kitti, "000000"))
