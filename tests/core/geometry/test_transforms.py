"""Frame changes and projection, with clipping behind the image plane."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prelabel.core.geometry import transforms as tf
from prelabel.core.scene import Pose

# camera looking along the LiDAR's +x: camera x = -lidar y, camera y = -lidar z, camera z = lidar x
CAM_FROM_LIDAR = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0, 0, 0, 1.0]])
K = [[100.0, 0.0, 50.0], [0.0, 100.0, 40.0], [0.0, 0.0, 1.0]]


def test_invert_and_chain() -> None:
    pose = Pose(rotation=[math.cos(0.25), 0.0, 0.0, math.sin(0.25)], translation=[1.0, 2.0, 3.0])
    m = tf.as_matrix(pose)
    np.testing.assert_allclose(tf.chain(m, tf.invert(pose)), np.eye(4), atol=1e-12)
    p = np.array([[1.0, 0.0, 0.0]])
    # a half-radian turn about z, then the translation
    np.testing.assert_allclose(tf.apply(pose, p), [[1 + math.cos(0.5), 2 + math.sin(0.5), 3.0]], atol=1e-12)


def test_transform_boxes_turns_yaw() -> None:
    pose = Pose(rotation=[math.cos(0.25), 0.0, 0.0, math.sin(0.25)], translation=[10.0, 0.0, 0.0])
    out = tf.transform_boxes(pose, [1.0, 0.0, 0.0, 4.0, 2.0, 1.5, 0.1])[0]
    np.testing.assert_allclose(out[:3], [10 + math.cos(0.5), math.sin(0.5), 0.0], atol=1e-12)
    assert out[6] == pytest.approx(0.6)


def test_projection_and_points_behind() -> None:
    uv, depth, front = tf.project(K, CAM_FROM_LIDAR, [[10.0, 1.0, 0.5], [-5.0, 0.0, 0.0]])
    np.testing.assert_allclose(uv[0], [50 - 10.0, 40 - 5.0])
    assert depth.tolist() == [10.0, -5.0]
    assert front.tolist() == [True, False]
    assert np.isnan(uv[1]).all()
    assert tf.in_image(uv, 100, 80).tolist() == [True, False]


def test_box_edges_clipped_at_the_image_plane() -> None:
    # a box straddling the camera: centre 1 m ahead, 4 m long; half lies behind the camera
    segs = tf.box_edges_2d(K, CAM_FROM_LIDAR, [1.0, 0.0, 0.0, 4.0, 2.0, 2.0, 0.0], near=0.5)
    assert len(segs) == 8  # the 4 rear edges are dropped, 4 long edges cut, the 4 front edges kept
    # every endpoint comes from a point at depth >= 0.5: |u - 50| <= 100 * 1 / 0.5
    pts = np.array([p for s in segs for p in s])
    assert np.all(np.abs(pts[:, 0] - 50) <= 200 + 1e-9)
    assert tf.box_to_image_rect(K, CAM_FROM_LIDAR, [-5.0, 0.0, 0.0, 2.0, 2.0, 2.0, 0.0]) is None


def test_kitti_camera_boxes_round_trip() -> None:
    rect_from_lidar = CAM_FROM_LIDAR.copy()
    rect_from_lidar[:3, 3] = [0.1, -0.2, 0.3]
    cam_box = [2.0, 1.0, 20.0, 4.0, 1.8, 1.5, 0.4]
    lidar = tf.kitti_rect_to_lidar_boxes(cam_box, tf.invert(rect_from_lidar))
    # yaw_lidar = yaw_camera - pi/2 for aligned axes (docs/schema.md)
    assert lidar[0, 6] == pytest.approx(0.4 - math.pi / 2)
    back = tf.lidar_to_kitti_rect_boxes(lidar, rect_from_lidar)
    np.testing.assert_allclose(back[0], cam_box, atol=1e-9)
