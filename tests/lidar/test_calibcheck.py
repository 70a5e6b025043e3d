"""Calibration check on real KITTI frames: the given calibration passes; a 1-2 degree, 10 cm error is flagged and
recovered within 0.3 degrees."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from prelabel.cli.main import app
from prelabel.errors import PrelabelError, UnreadableInputError
from prelabel.lidar import calibcheck as cc
from tests.conftest import KITTI

FRAMES = [f"{i:06d}" for i in range(20)]


@pytest.fixture(scope="module")
def prepared(shared_data: Path) -> list[cc.Prepared]:
    return [cc.prepare(cc.load_kitti_frame(KITTI, i)) for i in FRAMES]


@pytest.mark.usefixtures("shared_data")  # reads the shared data
def test_kitti_calib_projects_points_into_the_image() -> None:
    k, cfl = cc.kitti_camera(KITTI / "calib" / "000000.txt")
    # velodyne_reduced keeps the points inside the camera's field of view: they must all land in the image
    raw = np.fromfile(KITTI / "velodyne_reduced" / "000000.bin", dtype=np.float32).reshape(-1, 4)[:, :3]
    cam = raw @ cfl[:3, :3].T + cfl[:3, 3]
    front = cam[cam[:, 2] > 1]
    uv = front @ k.T
    u = uv[:, 0] / uv[:, 2]
    v = uv[:, 1] / uv[:, 2]
    share = float(np.mean((u >= -1) & (u < 1243) & (v < 376)))
    assert len(front) == len(raw) and share > 0.99
    assert abs(np.linalg.det(cfl[:3, :3]) - 1) < 1e-6


@pytest.mark.slow
def test_correct_calibration_is_not_flagged(prepared: list[cc.Prepared]) -> None:
    res = cc.search(prepared)
    assert not res.flagged, (res.rotation_deg, res.translation_m)
    assert res.rotation_deg < 0.3


@pytest.mark.slow
@pytest.mark.parametrize(("deg", "seed"), [(1.0, 1), (2.0, 2)])
def test_perturbed_calibration_is_flagged_and_recovered(prepared: list[cc.Prepared], deg: float, seed: int) -> None:
    pert = cc.perturbation(deg, 0.10, seed)
    assert math.isclose(cc.rotation_angle_deg(pert), deg, abs_tol=1e-6)
    res = cc.search([cc.perturbed(p, pert) for p in prepared])
    assert res.flagged
    assert res.score_refined > res.score_given
    residual = res.delta @ pert
    assert cc.rotation_angle_deg(residual) < 0.3


def test_bad_input_names_the_file(tmp_path: pytest.TempPathFactory) -> None:
    bad = tmp_path / "calib.txt"  # type: ignore[operator]
    bad.write_text("P2: 1 2 3\n")
    with pytest.raises(UnreadableInputError, match="calib.txt"):
        cc.kitti_camera(bad)
    with pytest.raises(PrelabelError, match="bad frame list"):
        cc.kitti_ids("abc")
    assert cc.kitti_ids("000001-000003,000007") == ["000001", "000002", "000003", "000007"]


@pytest.mark.usefixtures("shared_data")  # reads the shared data
def test_cli_reports_a_correct_calibration_as_ok() -> None:
    result = CliRunner().invoke(app, ["calibcheck", str(KITTI), "--frames", "000000-000004", "--json"])
    assert result.exit_code in (0, 1), result.output
    out = json.loads(result.output)
    assert out["frames"] == 5 and out["score_refined"] >= out["score_given"]


@pytest.mark.usefixtures("shared_data")  # reads the shared data
def test_cli_missing_frame_is_one_line() -> None:
    result = CliRunner().invoke(app, ["calibcheck", str(KITTI), "--frames", "999999"])
    assert result.exit_code == 2
    assert "999999" in result.output and "Traceback" not in result.output


@pytest.mark.usefixtures("shared_data")  # reads the shared data
def test_cli_skips_a_bad_frame_and_goes_on() -> None:
    result = CliRunner().invoke(app, ["calibcheck", str(KITTI), "--frames", "000000-000002,999999", "--json"])
    assert result.exit_code in (0, 1), result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["frames"] == 3 and len(out["skipped"]) == 1 and "999999" in out["skipped"][0]


@pytest.mark.usefixtures("shared_data")  # reads the shared data
def test_frame_from_a_scene_camera_view_matches_the_kitti_loader() -> None:
    from prelabel.core.scene import CameraView, Pose

    k, cfl = cc.kitti_camera(KITTI / "calib" / "000003.txt")
    view = CameraView(
        name="image_2",
        uri=str(KITTI / "image_2" / "000003.png"),
        K=k.tolist(),
        camera_from_lidar=Pose.from_matrix(cfl),
    )
    raw = np.fromfile(KITTI / "velodyne" / "000003.bin", dtype=np.float32).reshape(-1, 4)
    a = cc.prepare(cc.frame_from_view("000003", raw, view))
    b = cc.prepare(cc.load_kitti_frame(KITTI, "000003"))
    assert a.name == "000003/image_2" and len(a.pts_cam) == len(b.pts_cam) > 500
    assert np.allclose(a.pts_cam, b.pts_cam, atol=1e-6)
    assert np.array_equal(a.field, b.field)
    with pytest.raises(UnreadableInputError, match="finite"):
        cc.frame_from_view("x", np.full((10, 4), np.nan), view)
