"""``prelabel extract`` on scene sources and ``prelabel label --3d`` with the real tiled NanoDet."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from prelabel.labelfile import read_records


def test_extract_reports_cameras_out_of_tolerance(shared_data: Path, tmp_path: Path) -> None:
    from prelabel.cli.main import app

    pkl = shared_data / "nuscenes/mmdet3d_demo/n015-2018-07-24-11-22-45+0800.pkl"
    out = tmp_path / "scenes.jsonl"
    res = CliRunner().invoke(app, ["extract", str(pkl), "-o", str(out), "--tolerance-ms", "30"])
    assert res.exit_code == 0, res.output
    assert "CAM_FRONT: -35.5 ms from the sweep; tolerance 30.0 ms" in res.output
    (rec,) = read_records(out)
    assert len(rec.frame.cameras or []) == 4 and len(rec.frame.meta["unmatched"]) == 2


def test_label_3d_on_kitti_scenes(shared_data: Path, tmp_path: Path) -> None:
    from prelabel.cli.main import app

    root = tmp_path / "training"
    for sub, ext in (("velodyne_reduced", "bin"), ("image_2", "png"), ("calib", "txt")):
        (root / sub).mkdir(parents=True)
        for stem in ("000003", "000010"):
            shutil.copy(shared_data / f"kitti/training/{sub}/{stem}.{ext}", root / sub)
    (root / "velodyne_reduced/000010.bin").write_bytes(b"\0" * 10)  # a broken sweep: that scene fails alone
    runner = CliRunner()
    res = runner.invoke(app, ["extract", str(root), "-o", str(tmp_path / "sc")])
    assert res.exit_code == 0, res.output
    out = tmp_path / "labels3d.jsonl"
    res = runner.invoke(app, ["label", str(tmp_path / "sc/scenes.jsonl"), "--3d", "-o", str(out)])
    assert res.exit_code == 1, res.output  # some scenes failed
    recs = {r.frame.id: r for r in read_records(out)}
    assert recs["000010"].status == "failed" and "000010.bin" in (recs["000010"].error or "")
    cars = [lb for lb in recs["000003"].labels if lb.category == "car"]
    assert cars and all(lb.box3d is not None and lb.box3d.frame == "lidar" for lb in cars)
    best = max(cars, key=lambda lb: lb.score or 0.0)
    assert best.box3d is not None and 12.0 < best.box3d.x < 16.0  # the car 13-14 m ahead in frame 000003


def test_label_3d_on_a_bag_without_a_rig_says_how_to_give_one(shared_data: Path, tmp_path: Path) -> None:
    from prelabel.cli.main import app

    bag = shared_data / "rosbags/kitti_object_10f.bag"  # PointCloud2 + camera, no /tf_static
    res = CliRunner().invoke(app, ["label", str(bag), "--3d", "-o", str(tmp_path / "l.jsonl")])
    assert res.exit_code == 2, res.output
    assert "none of its 10 sweeps pairs with its cameras" in res.output and "--extrinsics" in res.output
    assert not (tmp_path / "l.jsonl").exists() and (tmp_path / "kitti_object_10f-scenes" / "index.jsonl").is_file()


def test_lift_min_score_sets_which_2d_boxes_are_lifted(shared_data: Path, tmp_path: Path) -> None:
    from prelabel.cli.main import app

    root = tmp_path / "training"
    for sub, ext in (("velodyne_reduced", "bin"), ("image_2", "png"), ("calib", "txt")):
        (root / sub).mkdir(parents=True)
        shutil.copy(shared_data / f"kitti/training/{sub}/000010.{ext}", root / sub)
    runner = CliRunner()
    counts = {}
    for floor in ("0.05", None, "1.0"):
        out = tmp_path / f"l{floor}.jsonl"
        args = ["label", str(root), "--3d", "-o", str(out)] + (["--lift-min-score", floor] if floor else [])
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        (rec,) = read_records(out)
        counts[floor] = len(rec.labels)
    # the default floor (0.25) lifts fewer 2D boxes than 0.05; no 2D box scores 1.0, so nothing is lifted then
    assert counts["0.05"] >= counts[None] > counts["1.0"] == 0
    res = runner.invoke(app, ["label", str(root / "image_2"), "--lift-min-score", "0.3", "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and "--lift-min-score go with --3d" in res.output
