"""Ground Truth 3D cuboids (the one layout, :mod:`prelabel.sources.scenes.groundtruth3d_labels`) in output manifests:
KITTI object boxes (detection) and KITTI tracking boxes with track ids and ego poses (tracking), written and read
back; the AWS documentation's own cuboid; bad cuboids named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prelabel.core.geometry import boxes3d as b3
from prelabel.core.geometry import transforms as tf
from prelabel.core.labels import Box3D, FrameRecord, Label
from prelabel.errors import FormatError
from prelabel.formats import kitti
from prelabel.sources.scenes import groundtruth3d as gt3d
from prelabel.sources.scenes import groundtruth3d_labels as gtl
from prelabel.sources.scenes import read_scenes


def _lidar_label(rect_box: np.ndarray, rect_from_lidar: np.ndarray, cls: str, **kw: object) -> Label:
    """A KITTI camera-frame row (centre, l w h, yaw about -y) as a LiDAR-frame label."""
    x, y, z, length, w, h, yaw = (
        float(v) for v in tf.kitti_rect_to_lidar_boxes(rect_box, np.linalg.inv(rect_from_lidar))[0]
    )
    return Label(
        category=cls,
        source="human:kitti",
        box3d=Box3D(x=x, y=y, z=z, length=length, width=w, height=h, yaw=yaw, frame="lidar"),
        **kw,  # type: ignore[arg-type]
    )


def _camera_row(b: Box3D) -> np.ndarray:
    assert b.frame == "camera"
    return np.array([[b.x, b.y, b.z, b.length, b.width, b.height, b.yaw]])


def _rows(rec: FrameRecord) -> np.ndarray:
    return np.array([b3.from_box3d(lb.box3d) for lb in rec.labels if lb.box3d is not None]).reshape(-1, 7)


def _same_boxes(a: FrameRecord, b: FrameRecord) -> None:
    ra, rb = _rows(a), _rows(b)
    assert ra.shape == rb.shape
    np.testing.assert_allclose(rb[:, :6], ra[:, :6], atol=1e-6)
    np.testing.assert_allclose(b3.wrap_angle(rb[:, 6] - ra[:, 6]), 0.0, atol=1e-3)  # pose tilt: second order
    assert [lb.category for lb in b.labels] == [lb.category for lb in a.labels]
    assert [lb.score for lb in b.labels] == pytest.approx([lb.score for lb in a.labels], abs=1e-4)


def test_detection_output_round_trip_on_kitti(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "kitti/training"
    scenes = [r for r in read_scenes(str(root)) if r.frame.id in ("000003", "000004", "000010")]
    recs = []
    for sc in scenes:
        rect = np.asarray(sc.frame.meta["rect_from_lidar"])
        gt = next(kitti.read(str(root / f"label_2/{sc.frame.id}.txt")))
        labels = [
            _lidar_label(_camera_row(lb.box3d), rect, lb.category.lower(), score=min(0.5 + 0.1 * i, 1.0),
                         attributes={"camera": "image_2", "points": 12})
            for i, lb in enumerate(gt.labels) if lb.box3d is not None and lb.category != "DontCare"
        ]  # fmt: skip
        recs.append(FrameRecord(frame=sc.frame, labels=labels))
    out = tmp_path / "output.manifest"
    assert gt3d.write_detection(recs, str(out), attribute=gtl.DETECTION_ATTRIBUTE, class_names=["car"]) == 3
    line = json.loads(out.read_text().splitlines()[0])
    ann = line["3d-bounding-box"]["annotations"][0]
    assert {"center-x", "center-y", "center-z", "length", "width", "height", "roll", "pitch", "yaw"} <= set(ann)
    assert ann["object-name"] == "car:1" and ann["class-id"] == 0
    assert ann["label-category-attributes"] == {"camera": "image_2"}  # text attributes only
    meta = line["3d-bounding-box-metadata"]
    assert meta["type"] == "groundtruth/lidar_object_detection" and meta["class-map"]["0"] == "car"
    assert meta["objects"][0] == {"confidence": 0.5} and meta["human-annotated"] == "no"
    back = list(gt3d.read(str(out)))
    assert len(back) == 3
    for a, b in zip(recs, back, strict=True):
        assert b.frame.uri == a.frame.uri and len(b.frame.cameras or []) == 1
        _same_boxes(a, b)


def _tracking_labels(path: Path, frame: int, rect: np.ndarray) -> list[Label]:
    out = []
    for line in path.read_text().splitlines():
        v = line.split()
        if int(v[0]) != frame or v[2] == "DontCare":
            continue
        h, w, length, x, y, z, ry = (float(t) for t in v[10:17])
        row = np.array([[x, y - h / 2, z, length, w, h, ry]])  # KITTI gives the bottom centre
        out.append(_lidar_label(row, rect, v[2].lower(), score=0.9, track_id=f"0001:{v[1]}"))
    return out


def test_tracking_output_round_trip_keeps_track_ids_and_world_poses(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "kitti_tracking/tracking/training"
    scenes = list(read_scenes(str(root)))
    recs = [
        FrameRecord(
            frame=sc.frame,
            labels=_tracking_labels(root / "label_02/0001.txt", i, np.asarray(sc.frame.meta["rect_from_lidar"])),
        )
        for i, sc in enumerate(scenes)
    ]
    assert all(len(r.labels) >= 3 for r in recs)
    gt3d.write_tracking(recs, str(tmp_path), attribute=gtl.TRACKING_ATTRIBUTE)
    manifest = str(tmp_path / "manifest.jsonl")
    line = json.loads(Path(manifest).read_text().splitlines()[0])
    assert line["lidar-label-ref-metadata"]["type"] == "groundtruth/lidar_object_tracking"
    assert [o["frame-no"] for o in line["lidar-label-ref-metadata"]["objects"]] == [0, 1]
    seqlabel = json.loads(Path(line["lidar-label-ref"]).read_text())["tracking-annotations"]
    assert [f["frame-number"] for f in seqlabel] == [0, 1]
    # one object-id per track in both frames, its centre in the world frame (the car moves, the box stays put)
    first = {a["object-id"]: a for a in seqlabel[0]["annotations"]}
    same = [a for a in seqlabel[1]["annotations"] if a["object-id"] in first]
    assert len(same) >= 3
    fields = {"label-category-attributes", "object-name", "class-id", "center-x", "center-y", "center-z", "length",
              "width", "height", "roll", "pitch", "yaw", "object-id"}  # fmt: skip
    assert fields <= set(same[0])
    for a in same:  # a parked car's box: the same world centre and heading in both frames (ego moved ~1 m)
        b = first[a["object-id"]]
        if a["object-name"].startswith("car"):
            assert abs(a["center-x"] - b["center-x"]) < 0.5 and abs(a["center-y"] - b["center-y"]) < 0.5
    back = list(gt3d.read(manifest))
    assert [r.frame.index for r in back] == [0, 1]
    for a, b in zip(recs, back, strict=True):
        _same_boxes(a, b)
        assert [lb.track_id for lb in b.labels] == [lb.track_id for lb in a.labels]


def test_a_box_without_a_class_is_refused(shared_data: Path, tmp_path: Path) -> None:
    sc = next(iter(read_scenes(str(shared_data / "kitti/training"))))
    lb = Label(category="car", source="human:x", box3d=Box3D(x=5, y=0, z=-1, length=4, width=2, height=1.5, yaw=0))
    out = tmp_path / "o.manifest"
    gt3d.write_detection([FrameRecord(frame=sc.frame, labels=[lb])], str(out), attribute="3d-bounding-box")
    line = json.loads(out.read_text())
    line["3d-bounding-box"]["annotations"][0].pop("center-y")
    out.write_text(json.dumps(line) + "\n")
    with pytest.raises(FormatError, match="annotation 0.*center-x/y/z"):
        list(gt3d.read(str(out)))


def test_convert_cli_writes_and_reads_ground_truth_3d(shared_data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from prelabel.cli.main import app
    from prelabel.labelfile import read_records, write_records

    root = shared_data / "kitti_tracking/tracking/training"
    recs = [
        FrameRecord(
            frame=sc.frame,
            labels=_tracking_labels(root / "label_02/0001.txt", i, np.asarray(sc.frame.meta["rect_from_lidar"])),
        )
        for i, sc in enumerate(read_scenes(str(root)))
    ]
    src = tmp_path / "labels3d.jsonl"
    write_records(src, recs)
    runner = CliRunner()
    for to, out in (("groundtruth-3d", tmp_path / "out.manifest"), ("groundtruth-3d-tracking", tmp_path / "seq")):
        res = runner.invoke(app, ["convert", str(src), str(out), "--from", "labels", "--to", to])
        assert res.exit_code == 0, res.output
        again = runner.invoke(app, ["convert", str(src), str(out), "--from", "labels", "--to", to])
        assert again.exit_code == 2 and "--overwrite" in again.output
        manifest = out if to == "groundtruth-3d" else out / "manifest.jsonl"
        back = tmp_path / f"{to}.jsonl"
        res = runner.invoke(app, ["convert", str(manifest), str(back), "--from", to, "--to", "labels"])
        assert res.exit_code == 0, res.output
        for a, b in zip(recs, read_records(back), strict=True):
            _same_boxes(a, b)
    res = runner.invoke(app, ["convert", str(src), str(tmp_path / "x.manifest"), "-f", "labels", "-t", "gt-3d",
                              "--opt", "colour=red"])  # fmt: skip
    assert res.exit_code == 2 and "colour" in res.output and "attribute" in res.output


def test_the_aws_documentation_cuboid_reads_back_unchanged(shared_data: Path, tmp_path: Path) -> None:
    """The first cuboid of AWS's "3D Point Cloud Object Detection Output" example (sms-data-output.html), spelled as
    the page spells it (``class_map``, empty ``objects``). Without an ego pose world = LiDAR frame: centre, size and
    the right-handed yaw come back as written, and are written back the same. With the page's own ego pose the
    cuboid goes through the sweep's frame and back to the same world centre."""
    root = shared_data / "kitti/training"
    sc = next(r for r in read_scenes(str(root)) if r.frame.id == "000003")
    out = tmp_path / "in.manifest"
    gt3d.write_detection([FrameRecord(frame=sc.frame)], str(out))
    line = json.loads(out.read_text())
    line["source-ref-metadata"].pop("ego-vehicle-pose")
    doc = {
        "label-category-attributes": {"Occlusion": "Partial", "Type": "Sedan"},
        "object-name": "Car:1",
        "class-id": 0,
        "center-x": -2.616382013657516,
        "center-y": 125.04149850484193,
        "center-z": 0.311272296465834,
        "length": 2.993000265181146,
        "width": 1.8355260519692056,
        "height": 1.3233490884304047,
        "roll": 0,
        "pitch": 0,
        "yaw": 1.6479308313703527,
    }
    line["3d-bounding-box"] = {"annotations": [doc]}
    line["3d-bounding-box-metadata"] = {
        "objects": [],
        "class_map": {"0": "Car"},
        "type": "groundtruth/lidar_object_detection",
        "human-annotated": "yes",
        "creation-date": "2018-10-18T22:18:13.527256",
        "job-name": "identify-3d-objects",
        "adjustment-status": "adjusted",
    }
    out.write_text(json.dumps(line) + "\n")
    (rec,) = gt3d.read(str(out))
    (lb,) = rec.labels
    assert lb.category == "Car" and lb.track_id == "1" and lb.score is None and lb.box3d is not None
    assert lb.attributes == {"Occlusion": "Partial", "Type": "Sedan"}
    b = lb.box3d
    assert [b.x, b.y, b.z, b.length, b.width, b.height] == pytest.approx(
        [doc[k] for k in ("center-x", "center-y", "center-z", "length", "width", "height")], abs=1e-9
    )
    assert b.yaw == pytest.approx(1.6479308313703527, abs=1e-12)
    again = tmp_path / "again.manifest"
    gt3d.write_detection([rec], str(again), attribute="3d-bounding-box")
    (ann,) = json.loads(again.read_text())["3d-bounding-box"]["annotations"]
    nums = [k for k in doc if isinstance(doc[k], int | float)]
    assert {k: ann[k] for k in nums} == pytest.approx({k: doc[k] for k in nums}, abs=1e-9)
    assert all(ann[k] == doc[k] for k in ("label-category-attributes", "object-name"))
    # the page's ego-vehicle-pose: the cuboid is read into the sweep's frame and written back to the same world place
    line["source-ref-metadata"]["ego-vehicle-pose"] = {
        "heading": {"qx": -0.02111296123795955, "qy": -0.006495469416730261, "qz": -0.008024565904865688,
                    "qw": 0.9997181192298087},
        "position": {"x": -2.7161461413869947, "y": 116.25822288149078, "z": 1.8348751887989483},
    }  # fmt: skip
    out.write_text(json.dumps(line) + "\n")
    (rec,) = gt3d.read(str(out))
    assert rec.labels[0].box3d is not None and abs(rec.labels[0].box3d.y - 8.8) < 0.1  # ~8.8 m ahead of the sweep
    gt3d.write_detection([rec], str(again), attribute="3d-bounding-box")
    (ann,) = json.loads(again.read_text())["3d-bounding-box"]["annotations"]
    assert [ann[k] for k in ("center-x", "center-y", "center-z")] == pytest.approx(
        [doc["center-x"], doc["center-y"], doc["center-z"]], abs=1e-9
    )
    assert ann["yaw"] == pytest.approx(doc["yaw"], abs=1e-3)  # yaw-only boxes: the pose's small tilt, second order
    line["3d-bounding-box"]["annotations"][0]["length"] = "long"
    out.write_text(json.dumps(line) + "\n")
    with pytest.raises(FormatError, match="annotation 0: cuboid field 'length' must be a finite number"):
        list(gt3d.read(str(out)))
