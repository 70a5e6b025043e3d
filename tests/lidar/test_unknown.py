"""Clusters with no 2D support as low-score ``unknown`` objects, on real Argoverse 2 and KITTI sweeps; and
``prelabel label --3d --unknown-objects --track`` in one command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from prelabel.cli.main import app
from prelabel.core.geometry import boxes3d as b3
from prelabel.core.labels import Label
from prelabel.formats import av2, kitti
from prelabel.labelfile import read_records
from prelabel.lidar.ground import fit_ground
from prelabel.lidar.lift import LiftOptions, lift_frame
from prelabel.lidar.unknown import UnknownOptions, size_guess, unknown_boxes
from prelabel.sources.scenes import read_scenes
from prelabel.sources.scenes.points import load

AV2_LOG = "av2/sensor/val/7fab2350-7eaf-3b7e-a39d-6937a4c1bede"
VEHICLES = {"REGULAR_VEHICLE", "LARGE_VEHICLE", "BUS", "BOX_TRUCK", "TRUCK"}


def test_unclaimed_clusters_find_most_av2_vehicles(shared_data: Path) -> None:
    log = str(shared_data / AV2_LOG)
    scene = next(iter(read_scenes(log))).frame
    gt = next(r for r in av2.read(log) if r.frame.id == scene.id)
    veh = np.array(
        [
            b3.from_box3d(lb.box3d)
            for lb in gt.labels
            if lb.category in VEHICLES and lb.box3d and np.hypot(lb.box3d.x, lb.box3d.y) <= 50
        ]
    )
    pts = load(scene)
    found = unknown_boxes(pts, fit_ground(pts[:, :3]))
    pred = np.array([f[0] for f in found])
    nearest = np.linalg.norm(veh[:, None, :2] - pred[None, :, :2], axis=2).min(axis=1)
    assert len(veh) >= 15 and (nearest <= 2.0).mean() >= 0.75  # measured 17 of 18
    assert all(0.0 < s <= UnknownOptions().score_cap for _, s, _, _ in found)
    assert {g for *_, g in found} <= {"vehicle", "pedestrian", "none"}
    assert max(f[0][3] for f in found) <= UnknownOptions().max_length  # walls and buildings are dropped


def test_size_guess() -> None:
    assert size_guess(4.5, 1.9, 1.5) == "vehicle"
    assert size_guess(0.7, 0.6, 1.7) == "pedestrian"
    assert size_guess(0.3, 0.3, 3.0) == "none"  # a pole


def test_points_of_a_lifted_box_are_not_offered_again(shared_data: Path) -> None:
    root = shared_data / "kitti/training"
    scene = next(r for r in read_scenes(str(root)) if r.frame.id == "000003").frame
    gt = next(kitti.read(str(root / "label_2/000003.txt")))
    cars = [lb for lb in gt.labels if lb.category == "Car"]
    dets = [Label(category="car", source="human:kitti", score=1.0, box=lb.box) for lb in cars]
    pts = load(scene)
    ground = fit_ground(pts[:, :3])
    lifted = lift_frame(pts, scene.cameras or [], {"image_2": dets}, LiftOptions(), ground=ground)
    (car,) = [it.box for it in lifted]
    alone = unknown_boxes(pts, ground)
    assert min(np.hypot(*(f[0][:2] - car[:2])) for f in alone) < 1.5  # without the lifted box: a cluster there
    claimed = unknown_boxes(pts, ground, [car])
    assert all(np.hypot(*(f[0][:2] - car[:2])) > 2.0 for f in claimed)


def test_av2_without_images_needs_the_option(shared_data: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["label", str(shared_data / AV2_LOG), "--3d", "-o", str(tmp_path / "l.jsonl")])
    assert res.exit_code == 2
    assert "no" in res.output and "camera image" in res.output and "--unknown-objects" in res.output
    assert not (tmp_path / "l.jsonl").exists()


@pytest.mark.model  # the 2D detector is loaded (the AV2 scenes have no image to run it on)
def test_av2_labels_and_tracks_in_one_command(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "av2.jsonl"
    args = ["label", str(shared_data / AV2_LOG), "--3d", "--unknown-objects", "--track", "-o", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    recs = list(read_records(out))
    assert len(recs) == 2 and all(r.status == "ok" for r in recs)
    labels = [lb for r in recs for lb in r.labels]
    assert labels and {lb.category for lb in labels} == {"unknown"}
    assert all(lb.box3d is not None and lb.box3d.frame == "lidar" and (lb.score or 0) <= 0.3 for lb in labels)
    # parked cars and other still objects are seen in both sweeps (0.1 s apart): one track id for both
    ids = [{lb.track_id for lb in r.labels} for r in recs]
    assert None not in ids[0] | ids[1]
    assert len(ids[0] & ids[1]) >= 0.5 * min(len(ids[0]), len(ids[1]))
    assert "3D tracks:" in res.output


def test_track_without_ego_poses_is_one_clear_error(shared_data: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["label", str(shared_data / "kitti/training"), "--3d", "--track", "-o", str(tmp_path / "l.jsonl")]
    )
    assert res.exit_code == 2 and "ego pose" in res.output and "KITTI tracking" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "l.jsonl").exists()
