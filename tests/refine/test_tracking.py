"""Tracking pre-labels: real BDD detections become tracks close to Scalabel's reference tracker."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from prelabel.core.labels import Box2D, Frame, FrameRecord, Label
from prelabel.labelfile import read_records
from prelabel.quality.inputs import load_records
from prelabel.quality.mot import bdd_config, evaluate_tracking
from prelabel.refine.kalman import BoxKalman
from prelabel.refine.offline import refine_records
from prelabel.refine.presets import PRESETS
from prelabel.refine.tracking import fit_image_motion, track_records
from tests.conftest import SHARED_DATA
from tests.helpers.cli import prelabel

ROOT = SHARED_DATA / "scalabel_eval" / "eval"


@pytest.fixture(scope="module")
def bdd(shared_data: Path) -> tuple[list[FrameRecord], list[FrameRecord]]:
    if not ROOT.is_dir():
        pytest.skip("scalabel_eval data not present")
    return load_records(ROOT / "det" / "bbox_predictions.json"), load_records(
        ROOT / "box_track" / "track_sample_anns.json"
    )


def test_bdd_detections_become_tracks(bdd: tuple[list[FrameRecord], list[FrameRecord]]) -> None:
    dets, gts = bdd
    tcfg, rcfg = PRESETS["bdd"]()
    tracked = track_records(dets, tcfg)
    assert [r.frame.id for r in tracked] == [r.frame.id for r in dets]
    assert all(lab.track_id for r in tracked for lab in r.labels)  # every label has an id
    for r in tracked:
        ids = Counter(lab.track_id for lab in r.labels)
        assert max(ids.values()) == 1, f"one track twice in frame {r.frame.id}"
    refined, rep = refine_records(tracked, rcfg)
    s = evaluate_tracking(refined, gts, bdd_config()).summary()
    # the reference tracker's own tracks get 64.2007 / 71.0107 (tests/quality/test_mot.py); measured 64.97 / 71.35
    assert float(s["MOTA"] or 0) > 0.642007 and float(s["IDF1"] or 0) > 0.710107
    assert rep.dropped_tracks > 0 and rep.relabelled > 0
    assert any("score_before" in lab.attributes for r in refined for lab in r.labels)


def _rec(i: int, boxes: list[tuple[float, float, float, float]], score: float = 0.9) -> FrameRecord:
    labels = [
        Label(id=f"l{k}", category="car", source="model:m@1", score=score, box=Box2D.from_xyxy(b))
        for k, b in enumerate(boxes)
    ]
    return FrameRecord(frame=Frame(id=f"cam-{i:06d}", uri=f"/seq/cam-{i:06d}.jpg"), labels=labels)


def test_two_moving_cars_keep_their_ids_and_gaps_are_filled() -> None:
    frames = []
    for i in range(12):
        boxes = [(10 + 8 * i, 50, 60 + 8 * i, 90), (400 - 6 * i, 60, 450 - 6 * i, 100)]
        if i == 6:
            boxes = boxes[:1]  # the second car is missed once
        frames.append(_rec(i, boxes))
    tcfg, rcfg = PRESETS["default"]()
    tracked = track_records(frames, tcfg)
    first = {r.labels[0].track_id for r in tracked}
    second = {r.labels[1].track_id for r in tracked if len(r.labels) > 1}
    assert len(first) == 1 and len(second) == 1 and first != second
    refined, rep = refine_records(tracked, rcfg)
    assert rep.filled == 1
    filled = [lab for lab in refined[6].labels if lab.attributes.get("interpolated")]
    assert len(filled) == 1 and filled[0].track_id in second
    assert filled[0].box is not None and abs(filled[0].box.x1 - (400 - 36)) < 3


def test_kalman_smoother_and_image_motion() -> None:
    obs = [np.array([10.0 + 5 * t, 20.0, 30.0, 40.0]) if t != 3 else None for t in range(8)]
    out = BoxKalman(std_vel=0.1).smooth(obs)
    assert abs(out[3][0] - 25.0) < 0.5
    # boxes that all zoom by 5% around (100, 50) give back s = 0.05
    states = []
    for cx, cy, w, h in [(0, 0, 10, 20), (200, 40, 30, 30), (120, 90, 50, 20)]:
        states.append(np.array([cx, cy, w, h, 0.05 * (cx - 100), 0.05 * (cy - 50), 0.05 * w, 0.05 * h]))
    s, tx, ty = fit_image_motion(states)
    assert s == pytest.approx(0.05) and tx == pytest.approx(-5.0) and ty == pytest.approx(-2.5)


def test_track_cli(bdd: tuple[list[FrameRecord], list[FrameRecord]], tmp_path: Path) -> None:
    out = tmp_path / "tracked.jsonl"
    cmd = ["track", str(ROOT / "det" / "bbox_predictions.json"), "-o", str(out), "--preset", "bdd"]
    r = prelabel(*cmd, "--refine")
    assert r.returncode == 0, r.stderr
    assert "refined to" in r.stdout
    recs = read_records(out)
    assert len(recs) == 202 and all(lab.track_id for rec in recs for lab in rec.labels)
    again = prelabel(*cmd)
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr


def test_frames_without_order_are_named(tmp_path: Path) -> None:
    recs = [FrameRecord(frame=Frame(id=name, uri=f"/x/{name}.jpg")) for name in ("front", "rear")]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(r.to_json() + "\n" for r in recs))
    r = prelabel("track", src, "-o", tmp_path / "o.jsonl")
    assert r.returncode == 2 and "have no order" in r.stderr and "front" in r.stderr


def test_camera_turn_from_ego_poses_keeps_ids() -> None:
    """The ego vehicle yaws 3 degrees a frame: static boxes sweep ~52 px a frame across the image. With poses the
    tracker follows them; the test checks the homography and that ids hold."""
    import math

    from prelabel.core.labels import CameraCalibration
    from prelabel.core.scene import Pose
    from prelabel.refine.tracking import TrackerConfig, ego_rotation_homography

    k = [[1000.0, 0.0, 640.0], [0.0, 1000.0, 360.0], [0.0, 0.0, 1.0]]
    frames = []
    for i in range(8):
        yaw = math.radians(3 * i)
        pose = Pose(rotation=[math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)], translation=[0.0, 0.0, 0.0])
        # a static point straight ahead at yaw 0 appears at u = 640 + 1000 * tan(yaw) (turning left moves it right)
        boxes = []
        for base in (-0.3, 0.0, 0.3):
            u = 640 + 1000 * math.tan(yaw + base)
            boxes.append((u - 15, 340, u + 15, 380))
        rec = _rec(i, boxes)
        rec.frame.ego_pose = pose
        rec.frame.calibration = CameraCalibration(K=k)
        frames.append(rec)
    h = ego_rotation_homography(frames[0].frame, frames[1].frame)
    assert h is not None
    p = h @ np.array([640.0, 360.0, 1.0])
    assert p[0] / p[2] == pytest.approx(640 + 1000 * math.tan(math.radians(3)), abs=0.5)
    with_poses = track_records(frames, TrackerConfig(kalman=BoxKalman(std_vel=0.1)))
    assert len({lab.track_id for r in with_poses for lab in r.labels}) == 3
    without = track_records(frames, TrackerConfig(kalman=BoxKalman(std_vel=0.1), ego_motion=False))
    assert len({lab.track_id for r in without for lab in r.labels}) > 3
