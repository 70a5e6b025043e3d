"""The async-endpoint walk-through example, run as a user runs it: frames from a ROS1 bag of real KITTI frames, turned
into PNGs and uploaded to a real S3-protocol server (moto on 127.0.0.1), invoke_async, wait, draw, Ground Truth
manifest, clean up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from prelabel import storage
from prelabel.core.labels import FrameRecord
from tests.conftest import REPO


@pytest.mark.slow
@pytest.mark.s3
def test_walkthrough_from_a_ros_bag_with_s3_payloads(s3_server: str, tmp_path: Path, shared_data: Path) -> None:
    import boto3

    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket="walk")
    work = tmp_path / "walk"
    bag = str(shared_data / "rosbags" / "kitti_object_10f.bag")
    r = subprocess.run(
        [sys.executable, str(REPO / "examples" / "async_walkthrough.py"), "--workdir", str(work),
         "--frames", bag, "--topic", "/kitti/camera_color_left/image_raw",
         "--upload-to", "s3://walk/frames", "--output-to", "s3://walk/out", "--cooldown", "1"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "10 completed, 0 failed" in r.stdout, r.stdout
    fs = storage.filesystem("s3://walk")
    frames = sorted(fs.find("s3://walk/frames"))
    outputs = sorted(p for p in fs.find("s3://walk/out") if p.endswith(".json"))
    assert len(frames) == 10 and len(outputs) == 10
    records = [FrameRecord.from_json(storage.read_text(f"s3://{p}")) for p in outputs]
    assert sorted(rec.frame.uri for rec in records) == [f"s3://{p}" for p in frames]
    assert sum(len(rec.labels) for rec in records) > 0
    assert any(lab.category == "car" for rec in records for lab in rec.labels)

    assert len(list(work.glob("overlay_*.png"))) == 1
    lines = (work / "groundtruth" / "input.manifest").read_text().splitlines()
    assert len(lines) == 10
    first = json.loads(lines[0])
    assert first["source-ref"].startswith("s3://walk/frames/")
    assert first["prelabel-boxes-metadata"]["type"] == "groundtruth/object-detection"
    cats = json.loads((work / "groundtruth" / "label-categories.json").read_text())
    assert {"label": "car"} in cats["labels"]
    assert "crowd-bounding-box" in (work / "groundtruth" / "template.liquid.html").read_text()
    assert "deleted endpoint, endpoint config and model" in r.stdout
