"""The ``groundtruth3d`` format: prelabel's 3D pre-labels of a real KITTI tracking sequence written as Ground
Truth 3D adjustment-job input (tracking folder and detection manifest) and read back as the same boxes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prelabel import formats
from prelabel.errors import OutputExistsError
from tests.review.scenes3d import kitti_sequence


def _boxes(recs):  # type: ignore[no-untyped-def]
    return [
        sorted(
            (lb.category, lb.track_id, *(round(v, 4) for v in lb.box3d.model_dump(exclude={"frame"}).values()))
            for lb in r.labels
        )
        for r in recs
    ]


def test_tracking_and_detection_round_trip(shared_data: Path, tmp_path: Path) -> None:
    recs = kitti_sequence(shared_data)
    out = tmp_path / "trk"
    summary = formats.write("groundtruth3d", recs, str(out), tracking=True, attribute="lidar-boxes")
    assert summary.frames == 2 and summary.labels == sum(len(r.labels) for r in recs)
    line = json.loads((out / "manifest.jsonl").read_text())
    assert line["lidar-boxes-ref"].endswith(".SeqLabel.json")
    back = list(formats.read("groundtruth3d", str(out / "manifest.jsonl")))
    assert _boxes(back) == _boxes(recs)
    with pytest.raises(OutputExistsError):
        formats.write("groundtruth3d", recs, str(out), tracking=True)
    det = tmp_path / "frames.manifest"
    formats.write("groundtruth3d", recs, str(det))
    assert [json.loads(x)["3d-bounding-box-metadata"]["type"] for x in det.read_text().splitlines()] == [
        "groundtruth/lidar_object_detection"
    ] * 2
    back = list(formats.read("groundtruth3d", str(det)))
    assert _boxes(back) == _boxes(recs)
