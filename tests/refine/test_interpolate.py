"""Keyframe interpolation on real KITTI tracking labels and the BDD sequence; refusals are clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from prelabel.core.labels import Box2D, Frame, FrameRecord, Label
from prelabel.labelfile import read_records
from prelabel.quality.inputs import load_records
from prelabel.refine.interpolate import InterpolationError, every_nth, interpolate_records
from tests.conftest import SHARED_DATA
from tests.helpers.cli import prelabel

DATA = SHARED_DATA
KITTI = DATA / "kitti_tracking" / "tracking" / "training" / "label_02" / "0001.txt"


@pytest.mark.usefixtures("shared_data")  # reads the shared data
def test_kitti_every_fifth_frame() -> None:
    if not KITTI.is_file():
        pytest.skip("kitti_tracking data not present")
    gts = load_records(KITTI, "kitti")
    assert gts[5].frame.sequence == "0001" and gts[5].frame.index == 5
    out, filled = interpolate_records(gts, every_nth(5), mode="linear")
    assert filled > 2000
    frame7 = out[7]
    assert frame7.labels and all(lab.attributes["interpolated"] for lab in frame7.labels)
    assert all(lab.attributes.get("keyframe") for lab in out[5].labels)
    assert out[5].labels == [
        lab.model_copy(update={"attributes": {**lab.attributes, "keyframe": True}}) for lab in gts[5].labels
    ]


def _rec(i: int, cat: str, x: float) -> FrameRecord:
    lab = Label(id=f"a{i}", category=cat, source="human:ann", box=Box2D(x1=x, y1=0, x2=x + 10, y2=10), track_id="7")
    return FrameRecord(frame=Frame(id=f"f{i}", uri=f"f{i}.jpg", sequence="s", index=i), labels=[lab])


def test_linear_and_guided_and_class_refusal() -> None:
    frames = [_rec(0, "car", 0.0), FrameRecord(frame=Frame(id="f1", uri="f1.jpg", sequence="s", index=1))]
    frames += [FrameRecord(frame=Frame(id="f2", uri="f2.jpg", sequence="s", index=2)), _rec(3, "car", 30.0)]
    out, n = interpolate_records(frames, lambda r: r.frame.index in (0, 3))
    assert n == 2 and out[1].labels[0].box == Box2D(x1=10, y1=0, x2=20, y2=10)
    det = Label(id="d", category="car", source="model:m@1", score=0.9, box=Box2D(x1=12, y1=0, x2=22, y2=10))
    dets = [FrameRecord(frame=Frame(id="f1", uri="f1.jpg"), labels=[det])]
    out, _ = interpolate_records(frames, lambda r: r.frame.index in (0, 3), detections=dets, mode="guided")
    assert out[1].labels[0].box == det.box and out[1].labels[0].attributes["snapped"] is True
    assert not out[2].labels[0].attributes.get("snapped")
    frames[3] = _rec(3, "truck", 30.0)
    with pytest.raises(InterpolationError, match=r"track 7: keyframe f0 says 'car' but keyframe f3 says 'truck'"):
        interpolate_records(frames, lambda r: r.frame.index in (0, 3))


@pytest.mark.usefixtures("shared_data")  # reads the shared data
def test_interpolate_cli(tmp_path: Path) -> None:
    if not KITTI.is_file():
        pytest.skip("kitti_tracking data not present")
    out = tmp_path / "filled.jsonl"
    cmd = ["interpolate", str(KITTI), "--format", "kitti", "-o", str(out), "--keyframes", "every:10"]
    r = prelabel(*cmd)
    assert r.returncode == 0, r.stderr
    assert "45 keyframes of 447 frames" in r.stdout
    assert any(lab.attributes.get("interpolated") for rec in read_records(out) for lab in rec.labels)
    bad = prelabel(*cmd[:-1], "every:x", "--overwrite")
    assert bad.returncode == 2 and "every:N" in bad.stderr and "Traceback" not in bad.stderr


def test_one_id_twice_in_a_frame_is_refused(tmp_path: Path) -> None:
    a = _rec(0, "car", 0.0)
    twice = a.model_copy(update={"labels": [*a.labels, a.labels[0].model_copy(update={"id": "b"})]})
    src = tmp_path / "dup.jsonl"
    src.write_text(twice.to_json() + "\n" + _rec(3, "car", 30.0).to_json() + "\n")
    r = prelabel("interpolate", src, "--keyframes", "every:3", "-o", tmp_path / "o.jsonl")
    assert r.returncode == 2 and "track id 7 appears twice in frame f0" in r.stderr
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.usefixtures("shared_data")  # reads the shared data
def test_guided_cli_snaps_to_real_detections(tmp_path: Path) -> None:
    bdd = DATA / "scalabel_eval" / "eval"
    if not bdd.is_dir():
        pytest.skip("scalabel_eval data not present")
    out = tmp_path / "guided.jsonl"
    r = prelabel(
        "interpolate",
        bdd / "box_track" / "track_sample_anns.json",
        "--keyframes",
        "every:5",
        "--mode",
        "guided",
        "--detections",
        bdd / "det" / "bbox_predictions.json",
        "-o",
        out,
    )
    assert r.returncode == 0, r.stderr
    assert "snapped to detections" in r.stdout
    recs = read_records(out)
    assert sum(bool(lab.attributes.get("snapped")) for rec in recs for lab in rec.labels) > 1000
