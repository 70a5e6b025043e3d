"""Oriented 3D box geometry against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prelabel.core.geometry import boxes3d as b3
from prelabel.core.labels import Box3D


def test_corners_of_a_turned_box() -> None:
    c = b3.corners([1.0, 2.0, 3.0, 4.0, 2.0, 1.0, math.pi / 2])[0]
    # length 4 along +y after a quarter turn: front-left corner bottom = (1 - 1, 2 + 2, 2.5)
    np.testing.assert_allclose(c[0], [0.0, 4.0, 2.5], atol=1e-12)
    np.testing.assert_allclose(c[6], [2.0, 0.0, 3.5], atol=1e-12)
    np.testing.assert_allclose(c.mean(axis=0), [1.0, 2.0, 3.0], atol=1e-12)


def test_points_in_box() -> None:
    box = [0.0, 0.0, 0.0, 4.0, 2.0, 2.0, math.pi / 4]
    pts = np.array([[1.0, 1.0, 0.0], [1.5, -1.5, 0.0], [0.0, 0.0, 1.1], [-1.3, -1.3, 0.5]])
    # local x of (1.5,-1.5) is 0 and local y is -2.12: outside the 1 m half-width
    assert b3.points_in_box(pts, box).tolist() == [True, False, False, True]
    assert b3.points_in_box(pts, box, margin=0.2).tolist() == [True, False, True, True]


def test_bev_and_3d_iou_hand_computed() -> None:
    a = [0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0]
    b = [1.0, 0.0, 1.0, 2.0, 2.0, 2.0, 0.0]  # half overlap on the ground, half in height
    assert b3.bev_iou(a, b)[0, 0] == pytest.approx(2.0 / 6.0)
    assert b3.iou3d(a, b)[0, 0] == pytest.approx(2.0 / 14.0)
    # a square turned 45 degrees inside another: intersection is an octagon of area 8(sqrt2 - 1)
    c = [0.0, 0.0, 0.0, 2.0, 2.0, 2.0, math.pi / 4]
    inter = 8 * (math.sqrt(2) - 1)
    assert b3.bev_iou(a, c)[0, 0] == pytest.approx(inter / (8 - inter))
    # identical boxes whatever the yaw, flipped boxes too
    assert b3.iou3d(c, c)[0, 0] == pytest.approx(1.0)
    flipped = [0.0, 0.0, 0.0, 2.0, 2.0, 2.0, math.pi / 4 + math.pi]
    assert b3.iou3d(c, flipped)[0, 0] == pytest.approx(1.0)
    far = [10.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.3]
    assert b3.iou3d(a, far)[0, 0] == 0.0


def test_camera_frame_boxes_agree_with_lidar_frame() -> None:
    cam = Box3D(x=1.0, y=-0.8, z=20.0, length=4.0, width=1.8, height=1.5, yaw=0.3, frame="camera")
    row = b3.from_box3d(cam)
    np.testing.assert_allclose(row[:3], [1.0, 20.0, 0.8])
    assert row[6] == pytest.approx(0.3)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(N, 7\)"):
        b3.as_boxes([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        b3.as_boxes([0, 0, 0, 1, 1, float("nan"), 0])
