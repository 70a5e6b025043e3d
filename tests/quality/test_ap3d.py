"""3D AP rules against hand-computed cases, and ``prelabel eval --3d`` on real KITTI labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prelabel.quality import ap3d


def _frame(
    gt: list[list[float]],
    gcls: list[str],
    det: list[list[float]],
    dcls: list[str],
    scores: list[float],
    dontcare: list[bool] | None = None,
    det_h: list[float] | None = None,
) -> ap3d.FrameBoxes:
    return ap3d.FrameBoxes(
        gt_boxes=np.array(gt, dtype=float).reshape(-1, 7),
        gt_classes=gcls,
        gt_height_px=np.full(len(gt), 50.0),
        gt_occluded=np.zeros(len(gt), dtype=np.int64),
        gt_truncated=np.zeros(len(gt)),
        det_boxes=np.array(det, dtype=float).reshape(-1, 7),
        det_classes=dcls,
        det_scores=np.array(scores, dtype=float),
        det_height_px=np.array(det_h or [50.0] * len(det)),
        det_in_dontcare=np.array(dontcare or [False] * len(det)),
    )


CAR = [0, 0, 0, 4, 2, 1.5, 0]


def test_r40_hand_computed() -> None:
    # two cars; detections: hit (0.9), false (0.8), hit (0.7) -> precision 1 up to recall 0.5, then 2/3 to recall 1
    g = [CAR, [10, 0, 0, 4, 2, 1.5, 0]]
    d = [CAR, [30, 0, 0, 4, 2, 1.5, 0], [10, 0, 0, 4, 2, 1.5, 0]]
    f = _frame(g, ["Car", "Car"], d, ["Car"] * 3, [0.9, 0.8, 0.7])
    ap, curve = ap3d.kitti_ap([f], "Car", 0.7, bev=False)
    assert curve.n_gt == 2
    assert ap == pytest.approx((20 * 1.0 + 20 * (2 / 3)) / 40)


def test_ignored_van_dontcare_and_small_detections() -> None:
    van = [10, 0, 0, 4, 2, 1.5, 0]
    d = [CAR, van, [30, 0, 0, 4, 2, 1.5, 0], [50, 0, 0, 4, 2, 1.5, 0]]
    # det on the van: ignored; det 3 in DontCare: ignored; det 4 lower than 25 px: ignored
    f = _frame(
        [CAR, van],
        ["Car", "Van"],
        d,
        ["Car"] * 4,
        [0.9, 0.95, 0.8, 0.7],
        dontcare=[False, False, True, False],
        det_h=[50, 50, 50, 10],
    )
    ap, curve = ap3d.kitti_ap([f], "Car", 0.7, bev=True)
    assert curve.n_gt == 1 and curve.tp == [True] and ap == pytest.approx(1.0)


def test_iou_threshold_and_nuscenes_distance() -> None:
    shifted = [1.0, 0, 0, 4, 2, 1.5, 0]  # 3D IoU 3/5 = 0.6
    f = _frame([CAR], ["Car"], [shifted], ["Car"], [0.9])
    assert ap3d.kitti_ap([f], "Car", 0.7, bev=False)[0] == 0.0
    assert ap3d.kitti_ap([f], "Car", 0.5, bev=False)[0] == pytest.approx(1.0)
    # 1 m off: missed at 0.5 m, found at 1 m (precision 1 over the whole range: AP 1)
    assert ap3d.nuscenes_ap([f], "Car", 0.5)[0] == 0.0
    assert ap3d.nuscenes_ap([f], "Car", 1.0)[0] == pytest.approx(1.0)


def test_box_errors_and_no_edit_share() -> None:
    flipped = [0.2, 0, 0, 4, 2, 1.5, np.pi]
    e = ap3d.box_errors([(np.array(CAR, float), np.array(flipped, float))])
    assert e["centre_m"] == pytest.approx(0.2) and e["flipped"] == 1.0 and e["yaw_rad"] == pytest.approx(0.0)
    f = _frame([CAR, [10, 0, 0, 4, 2, 1.5, 0]], ["Car", "Car"], [flipped], ["Car"], [0.9])
    assert ap3d.no_edit_share([f], "Car", 0.7) == 0.5


def test_eval_3d_cli_on_kitti_ground_truth(shared_data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from prelabel.cli.main import app

    gt = str(shared_data / "kitti/training")
    out = tmp_path / "figures.json"
    res = CliRunner().invoke(app, ["eval", gt, "--gt", gt, "--3d", "--json", str(out)])
    assert res.exit_code == 0, res.output
    fig = json.loads(out.read_text())
    car = next(r for r in fig["kitti"] if r["class"] == "Car" and r["iou"] == 0.7)
    assert car["ap_3d"] == 100.0 and car["bev_ap"] == 100.0
    assert fig["no_edit"]["Car"] == 100.0
