"""Ground Truth 3D cuboids as pre-labels: written under a label attribute (detection lines, tracking label sequence
files) and read back as the same boxes; the doc's own field names and yaw convention; bad cuboids named."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from prelabel.errors import FormatError
from prelabel.sources.scenes import groundtruth3d as gt3d
from prelabel.sources.scenes.gt3d_labels import gt_yaw
from tests.review.scenes3d import kitti_sequence


def _boxes(recs):  # type: ignore[no-untyped-def]
    return [
        [
            (lb.category, lb.track_id, *(round(v, 4) for v in lb.box3d.model_dump(exclude={"frame"}).values()))
            for lb in r.labels
        ]
        for r in recs
    ]


def test_tracking_labels_round_trip(shared_data: Path, tmp_path: Path) -> None:
    recs = kitti_sequence(shared_data)
    (seq,) = gt3d.write_tracking(recs, str(tmp_path), attribute="lidar-boxes")
    line = json.loads((tmp_path / "manifest.jsonl").read_text())
    assert (
        line["source-ref"] == seq
        and line["lidar-boxes-ref-metadata"]["type"] == "groundtruth/point_cloud_object_tracking"
    )
    doc = json.loads(Path(line["lidar-boxes-ref"]).read_text())
    c = doc["tracking-annotations"][0]["annotations"][0]
    assert set(c) >= {
        "object-name",
        "class-id",
        "center-x",
        "center-y",
        "center-z",
        "length",
        "width",
        "height",
        "roll",
        "pitch",
        "yaw",
        "object-id",
    }
    lb = recs[0].labels[0]
    assert c["yaw"] == pytest.approx(math.atan2(math.sin(math.pi - lb.box3d.yaw), math.cos(math.pi - lb.box3d.yaw)))
    back = list(gt3d.read(str(tmp_path / "manifest.jsonl")))
    assert [r.frame.index for r in back] == [0, 1]
    assert _boxes(back) == _boxes(recs)  # class, track id and box, yaw back through pi - yaw


def test_detection_line_as_the_aws_doc_writes_it(shared_data: Path, tmp_path: Path) -> None:
    recs = kitti_sequence(shared_data, frames=1)
    out = tmp_path / "in.manifest"
    gt3d.write_detection(recs, str(out))
    line = json.loads(out.read_text())
    # the cuboid exactly as AWS's example spells it (its detection example writes "class_map")
    line["3d-bounding-box"] = {
        "annotations": [
            {
                "label-category-attributes": {},
                "object-name": "Car:1",
                "class-id": 0,
                "center-x": 10.5,
                "center-y": -2.0,
                "center-z": -0.9,
                "length": 4.0,
                "width": 1.8,
                "height": 1.5,
                "roll": 0,
                "pitch": 0,
                "yaw": 1.6479308313703527,
            }
        ]
    }
    line["3d-bounding-box-metadata"] = {
        "objects": [],
        "class_map": {"0": "Car"},
        "type": "groundtruth/point_cloud_object_detection",
    }
    out.write_text(json.dumps(line) + "\n")
    (rec,) = gt3d.read(str(out))
    (lb,) = rec.labels
    assert lb.category == "Car" and lb.track_id == "1" and lb.box3d.x == 10.5 and lb.box3d.length == 4.0
    assert lb.box3d.yaw == pytest.approx(gt_yaw(1.6479308313703527)) and gt_yaw(lb.box3d.yaw) == pytest.approx(1.64793)
    line["3d-bounding-box"]["annotations"][0]["length"] = "long"
    out.write_text(json.dumps(line) + "\n")
    with pytest.raises(FormatError, match="cuboid field 'length' must be a finite number"):
        list(gt3d.read(str(out)))


def test_a_missing_or_bad_sequence_file_is_named(tmp_path: Path) -> None:
    m = tmp_path / "manifest.jsonl"
    m.write_text(json.dumps({"source-ref": str(tmp_path / "nope.json")}) + "\n")
    with pytest.raises(FormatError, match="nope.json.*does not exist"):
        list(gt3d.read(str(m)))
    (tmp_path / "seq.json").write_text(json.dumps({"seq-no": 0, "frames": [{"frame": "a.bin"}]}))
    m.write_text(json.dumps({"source-ref": str(tmp_path / "seq.json")}) + "\n")
    with pytest.raises(FormatError, match="needs 'frame-no'"):
        list(gt3d.read(str(m)))
