"""Free space behind a one-sided view (hand-computed rays from a sensor at the origin)."""

from __future__ import annotations

import numpy as np
import pytest

from prelabel.lidar.freespace import free_length, shorten

# a car's rear face seen 10 m ahead, 2.2-3.8 m to the left; the box was given the typical length 3.9 m
BOX = np.array([11.95, 3.0, -0.98, 3.9, 1.6, 1.5, 0.0])  # bottom at z = -1.73 (the road)
REAR = np.c_[np.full(20, 10.0), np.linspace(2.25, 3.75, 20), np.linspace(-1.4, -0.5, 20)]


def test_rays_through_the_far_part_cut_the_length() -> None:
    # two road points behind, on the rays y = 0.2 x: such a ray is within the solid part (0.3-0.9 m above the road,
    # 0.2 m inside the sides: y in [2.4, 3.6]) for x in [12, 16.5]; so the car ends 2 m behind its rear face
    road = np.array([[20.0, 4.0, -1.73], [20.5, 4.1, -1.73]])
    sweep = np.r_[REAR, road]
    assert free_length(BOX, REAR, sweep) == pytest.approx(2.0, abs=1e-6)
    # one ray is not enough
    assert free_length(BOX, REAR, np.r_[REAR, road[:1]]) == pytest.approx(3.9)


def test_rays_stopped_by_the_car_or_passing_beside_it_say_nothing() -> None:
    # a road point hidden behind the rear face would be unseen; the rear face's own points end their rays there;
    # rays on y = 0.1 x pass right of the car's side
    beside = np.array([[20.0, 2.0, -1.73], [21.0, 2.1, -1.73]])
    assert free_length(BOX, REAR, np.r_[REAR, beside]) == pytest.approx(3.9)


def test_never_shorter_than_the_points() -> None:
    side = np.c_[np.linspace(10.0, 12.5, 20), np.full(20, 2.2), np.full(20, -1.0)]  # the near side seen to 2.5 m
    road = np.array([[20.0, 4.0, -1.73], [20.5, 4.1, -1.73]])
    assert free_length(BOX, np.r_[REAR, side], np.r_[REAR, side, road]) == pytest.approx(2.5, abs=1e-6)


def test_shorten_keeps_the_near_end() -> None:
    out = shorten(BOX, 2.0)
    assert out[0] == pytest.approx(11.0) and out[3] == pytest.approx(2.0)  # near end stays at x = 10
    out = shorten(BOX, 2.0, min_length=2.8)
    assert out[0] == pytest.approx(11.4) and out[3] == pytest.approx(2.8)
    assert shorten(BOX, 5.0)[3] == pytest.approx(3.9)  # never longer
    turned = BOX.copy()
    turned[6] = np.pi  # heading toward the sensor: the far end is still the one away from it
    assert shorten(turned, 2.0)[0] == pytest.approx(11.0)


def test_yaw_seeds() -> None:
    from prelabel.lidar.lift import _seed_yaw

    pts = np.array([[10.0, 9.0, -1.0], [10.0, 10.0, -1.0], [10.0, 11.0, -1.0]])
    assert _seed_yaw("ray", pts) == pytest.approx(np.pi / 4)  # along the ray to the points' median (10, 10)
    assert _seed_yaw("ego", pts) == 0.0
    with pytest.raises(ValueError, match="expected lshape, ray or ego"):
        _seed_yaw("road", pts)
