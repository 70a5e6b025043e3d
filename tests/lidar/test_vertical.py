"""The box's bottom and top from the 2D box's edges (hand-computed pinhole cases)."""

from __future__ import annotations

import numpy as np
import pytest

from prelabel.lidar.vertical import image_z_extent, vertical_extent

F, CX, CY = 700.0, 600.0, 180.0
K = np.array([[F, 0, CX], [0, F, CY], [0, 0, 1.0]])
# LiDAR (x forward, y left, z up) to camera (x right, y down, z forward), same origin
CAM_FROM_LIDAR = np.eye(4)
CAM_FROM_LIDAR[:3, :3] = [[0, -1, 0], [0, 0, -1], [1, 0, 0]]
# a 4 x 2 x 1.5 m box 18-22 m ahead, length along x, standing on z = -1.7
BOX = np.array([20.0, 0.0, -0.95, 4.0, 2.0, 1.5, 0.0])


def test_edges_of_the_2d_box_give_bottom_and_top() -> None:
    # top face at z: its highest image row is its far edge (x = 22): v = cy + f * (-z) / 22;
    # bottom face at z: its lowest row is its near edge (x = 18): v = cy + f * (-z) / 18
    y1 = CY + F * 0.5 / 22.0  # a top at z = -0.5
    y2 = CY + F * 1.8 / 18.0  # a bottom at z = -1.8
    bottom, top = image_z_extent(BOX, K, CAM_FROM_LIDAR, (560.0, y1, 640.0, y2), (1242, 375))
    assert bottom == pytest.approx(-1.8, abs=0.006) and top == pytest.approx(-0.5, abs=0.006)


def test_an_edge_on_the_image_border_says_nothing() -> None:
    bottom, top = image_z_extent(BOX, K, CAM_FROM_LIDAR, (560.0, 0.0, 640.0, 374.5), (1242, 375))
    assert bottom is None and top is None


def test_an_edge_no_height_in_the_span_meets_is_none() -> None:
    # a top edge 40 px above the horizon would need a roof ~1.3 m higher than the box's: outside the 1 m span
    _, top = image_z_extent(BOX, K, CAM_FROM_LIDAR, (560.0, CY - 40.0, 640.0, 250.0), (1242, 375))
    assert top is None


def test_vertical_rules() -> None:
    kw = {"height": 1.5, "min_height": 1.3, "max_height": 1.9}
    # points: ground to the highest point, the typical height if the points are lower
    assert vertical_extent(-1.7, -0.3, None, None, rule="points", **kw) == pytest.approx((-1.7, -0.2))
    assert vertical_extent(-1.7, -0.1, -1.8, -0.4, rule="points", **kw) == pytest.approx((-1.7, -0.1))
    # top: the image's top, the ground's bottom; image: both from the image
    assert vertical_extent(-1.7, -0.3, -1.8, -0.05, rule="top", **kw) == pytest.approx((-1.7, -0.05))
    assert vertical_extent(-1.7, -0.3, -1.8, -0.05, rule="image", **kw) == pytest.approx((-1.8, -0.05))
    # max-top: the highest point bounds the top from below
    assert vertical_extent(-1.7, -0.1, None, -0.3, rule="max-top", **kw) == pytest.approx((-1.7, -0.1))
    # a 2D top that would make the object taller (2.7 m) or lower (1.0 m) than the class can be is not its top
    assert vertical_extent(-1.7, -0.3, None, 1.0, rule="top", **kw) == pytest.approx((-1.7, -0.2))
    assert vertical_extent(-1.7, -0.1, None, -0.7, rule="top", **kw) == pytest.approx((-1.7, -0.1))
    # the height stays within the class's range
    assert vertical_extent(-1.7, 0.5, None, None, rule="top", **kw) == pytest.approx((-1.7, 0.2))
    with pytest.raises(ValueError, match="expected one of"):
        vertical_extent(-1.7, -0.3, None, None, rule="roof", **kw)
