"""The LiDAR's position in the sweep's frame (``sensor``): viewing rays start there, not at the frame's origin.

Hand-computed rays for a sensor away from the origin, and a real KITTI sweep written in a frame where its LiDAR sits
at a rig-like offset: with that offset given, lifting gives the same boxes (moved by the offset) as in the LiDAR's
own frame; assuming the origin does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prelabel.core.labels import Frame, Label
from prelabel.core.scene import Pose
from prelabel.errors import PrelabelError
from prelabel.formats import kitti
from prelabel.lidar.fit import PRIORS, fit_box
from prelabel.lidar.freespace import free_length, shorten
from prelabel.lidar.ground import Ground, fit_ground
from prelabel.lidar.lift import LiftOptions, _seed_yaw, lift_frame
from prelabel.lidar.run import sensor_origin
from prelabel.sources.scenes import read_scenes
from prelabel.sources.scenes.points import load

# the car of tests/lidar/test_freespace.py: rear face at x = 10, sides at y = 2.2 and 3.8, road at z = -1.73
BOX = np.array([11.95, 3.0, -0.98, 3.9, 1.6, 1.5, 0.0])
REAR = np.c_[np.full(20, 10.0), np.linspace(2.25, 3.75, 20), np.linspace(-1.4, -0.5, 20)]
SENSOR = (0.0, -2.0, 0.0)


def test_free_space_rays_start_at_the_sensor() -> None:
    # from (0, -2, 0), the rays to road points at x = 20 on y = -2 + k x with k = 5/12 and 5.2/12 cross y = 3.6
    # (0.2 m inside the far side) at x = 5.6 / k and enter the solid part (y >= 2.4, i.e. x >= 4.4 / k; z between
    # -1.43 and -0.83, i.e. x in [9.6, 16.5]; behind the rear face, x >= 10) at x = 10.56 and 10.154; the second
    # ray's entry is 0.56 m behind the rear face, so the car is 0.56 m long there
    road = np.array([[20.0, -2.0 + 20.0 * 5.0 / 12.0, -1.73], [20.0, -2.0 + 20.0 * 5.2 / 12.0, -1.73]])
    sweep = np.r_[REAR, road]
    assert free_length(BOX, REAR, sweep, sensor=SENSOR) == pytest.approx(0.56, abs=1e-9)
    # the same points seen from the origin: the rays (y = 0.317 x, 0.333 x) enter the box at its rear face
    assert free_length(BOX, REAR, sweep) == pytest.approx(0.0, abs=1e-9)
    # from (0, -2, 0) the test_freespace road points (20, 4) and (20.5, 4.1) lie on y = -2 + 0.3 x: inside the car's
    # width only for x >= 14.7, beyond its far end at 13.9, so they cut nothing
    road0 = np.array([[20.0, 4.0, -1.73], [20.5, 4.1, -1.73]])
    assert free_length(BOX, REAR, np.r_[REAR, road0], sensor=SENSOR) == pytest.approx(3.9)
    assert free_length(BOX, REAR, np.r_[REAR, road0]) == pytest.approx(2.0, abs=1e-6)


def test_the_far_end_and_the_extension_are_away_from_the_sensor() -> None:
    # a sensor ahead of the car (x = 20) sees its front: the end kept is the one at x = 13.9
    out = shorten(BOX, 2.0, sensor=(20.0, 3.0, 0.0))
    assert out[0] == pytest.approx(12.9) and out[3] == pytest.approx(2.0)
    assert shorten(BOX, 2.0)[0] == pytest.approx(11.0)  # from the origin: the end at x = 10
    # a rear face at x = 20 seen from a sensor at x = 25 (beyond it) grows toward -x, heading away from the sensor
    face = np.c_[np.full(30, 20.0), np.linspace(-0.8, 0.8, 30), np.linspace(-1.5, -0.3, 30)]
    box = fit_box(face, -1.7, PRIORS["car"], sensor=(25.0, 0.0))
    assert box[0] == pytest.approx(20.0 - 3.9 / 2, abs=0.05) and np.cos(box[6]) < -0.95
    # the viewing-ray yaw seed: from (10, 0) to the points' median (10, 10) is +90 degrees
    pts = np.array([[10.0, 9.0, -1.0], [10.0, 10.0, -1.0], [10.0, 11.0, -1.0]])
    assert _seed_yaw("ray", pts, (10.0, 0.0)) == pytest.approx(np.pi / 2)


def test_sensor_origin_from_the_scene() -> None:
    assert sensor_origin(Frame(id="s", uri="s.bin", kind="pointcloud")) == (0.0, 0.0, 0.0)
    f = Frame(id="s", uri="s.bin", kind="pointcloud", meta={"sensor_origin": [1.1, 0.0, 1.3]})
    assert sensor_origin(f) == (1.1, 0.0, 1.3)
    bad = Frame(id="s", uri="s.bin", kind="pointcloud", meta={"sensor_origin": [1.0, "up"]})
    with pytest.raises(PrelabelError, match=r"s: meta.sensor_origin should be \[x, y, z\] in metres; got"):
        sensor_origin(bad)


@pytest.mark.parametrize("stem", ["000003", "000010"])
def test_a_sweep_in_a_frame_with_the_lidar_elsewhere_lifts_to_the_same_boxes(shared_data: Path, stem: str) -> None:
    root = shared_data / "kitti" / "training"
    scene = next(r for r in read_scenes(str(root)) if r.frame.id == stem).frame
    gt = next(r for r in kitti.read(str(root)) if r.frame.id == stem)
    cars = [lb for lb in gt.labels if lb.category == "Car" and lb.box and lb.box.height >= 25]
    dets = {"image_2": [Label(category="car", source="human:kitti", score=1.0, box=lb.box) for lb in cars]}
    pts = load(scene)[:, :3].astype(np.float64)
    g = fit_ground(pts)
    base = np.array([it.box for it in lift_frame(pts, scene.cameras or [], dets, LiftOptions(), ground=g)])
    # the same sweep in a vehicle-like frame where the LiDAR sits at d (camera extrinsics and ground moved along)
    d = np.array([1.2, -0.6, 1.8])
    lidar_from_vehicle = np.eye(4)
    lidar_from_vehicle[:3, 3] = -d
    cams = [
        c.model_copy(update={"camera_from_lidar": Pose.from_matrix(c.camera_from_lidar.matrix() @ lidar_from_vehicle)})
        for c in scene.cameras or []
    ]
    g2 = Ground(normal=g.normal, offset=float(g.offset - g.normal @ d), points=g.points + d)
    moved = np.array([it.box for it in lift_frame(pts + d, cams, dets, LiftOptions(), ground=g2, sensor=d)])
    assert len(base) == len(cars) and moved.shape == base.shape
    moved[:, :3] -= d
    np.testing.assert_allclose(moved, base, atol=1e-6)
    # assuming the LiDAR at the frame's origin changes the boxes
    naive = np.array([it.box for it in lift_frame(pts + d, cams, dets, LiftOptions(), ground=g2)])
    naive[:, :3] -= d
    assert naive.shape != base.shape or np.abs(naive - base).max() > 0.1
