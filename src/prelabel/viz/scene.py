"""A scene picture: the bird's-eye view of the sweep with its 3D boxes, above every camera with the boxes projected.

Bird's-eye view: ego frame when the scene says where the LiDAR sits (``sensor_pose``), else the LiDAR frame; x forward
drawn upward, y left drawn leftward, ``scale`` px per metre, points shaded
by height. Camera panels: the image with each box's 12 edges, clipped at the image plane (nothing behind the camera
is drawn), scaled to the bird's-eye view's width. Boxes carry class and score; colours per class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from prelabel.core.geometry import boxes3d as b3
from prelabel.core.geometry import transforms as tf
from prelabel.core.labels import Frame, Label
from prelabel.viz.overlay import class_color

LIDAR_FRAMES = ("lidar", "velodyne")


def _boxes(labels: Sequence[Label], min_score: float) -> list[tuple[Label, npt.NDArray[np.float64]]]:
    out = []
    for lb in labels:
        b = lb.box3d
        if b is None or b.frame not in LIDAR_FRAMES or (lb.score is not None and lb.score < min_score):
            continue
        out.append((lb, np.array([b.x, b.y, b.z, b.length, b.width, b.height, b.yaw])))
    return out


def bev(
    points: npt.ArrayLike,
    boxes: Sequence[tuple[Label, npt.NDArray[np.float64]]],
    *,
    forward: float = 60.0,
    side: float = 30.0,
    back: float = 10.0,
    scale: float = 10.0,
) -> npt.NDArray[np.uint8]:
    """Bird's-eye view (RGB) of points and boxes in the LiDAR frame."""
    import cv2

    w, h = int(2 * side * scale), int((forward + back) * scale)
    img = np.full((h, w, 3), 18, np.uint8)

    def px(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
        return np.stack([(side - xy[:, 1]) * scale, (forward - xy[:, 0]) * scale], axis=1).astype(np.int32)

    p = np.asarray(points, dtype=np.float64)
    uv = px(p[:, :2])
    ok = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    shade = np.clip((p[ok, 2] + 2.0) / 4.0, 0, 1)
    img[uv[ok, 1], uv[ok, 0]] = np.stack([80 + 175 * shade] * 3, axis=1).astype(np.uint8)
    for r in range(10, int(forward) + 1, 10):
        cv2.circle(img, tuple(int(v) for v in px(np.zeros((1, 2)))[0]), int(r * scale), (60, 60, 60), 1)
    for lb, box in boxes:
        color = class_color(lb.category)
        poly = px(b3.bev_corners(box)[0])
        cv2.polylines(img, [poly.reshape(-1, 1, 2)], True, color, 2)
        front = px(np.array([box[:2] + 0.5 * box[3] * np.array([np.cos(box[6]), np.sin(box[6])])]))[0]
        cv2.line(img, tuple(int(v) for v in px(box[None, :2])[0]), tuple(int(v) for v in front), color, 1)
        text = f"{lb.category} {lb.score:.2f}" if lb.score is not None else lb.category
        cv2.putText(
            img,
            text,
            (int(poly[:, 0].max()) + 2, int(poly[:, 1].min())),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            color,
            1,
            cv2.LINE_AA,
        )
    return img


def camera_panel(
    image: npt.NDArray[np.uint8], cam: object, boxes: Sequence[tuple[Label, npt.NDArray[np.float64]]]
) -> npt.NDArray[np.uint8]:
    """The camera image with every box projected (edges clipped behind the image plane)."""
    import cv2

    from prelabel.core.scene import CameraView

    assert isinstance(cam, CameraView)
    img = np.ascontiguousarray(image.copy())
    m = cam.camera_from_lidar.matrix()
    for lb, box in boxes:
        color = class_color(lb.category)
        for a, b in tf.box_edges_2d(cam.K, m, box):
            ok, pa, pb = cv2.clipLine(
                (0, 0, img.shape[1], img.shape[0]), (int(a[0]), int(a[1])), (int(b[0]), int(b[1]))
            )
            if ok:
                cv2.line(img, pa, pb, color, 2, cv2.LINE_AA)
    cv2.putText(img, cam.name, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return img


def draw_scene(frame: Frame, labels: Sequence[Label], *, min_score: float = 0.0) -> npt.NDArray[np.uint8]:
    """The whole picture (RGB): bird's-eye view on top, every camera below, two cameras a row."""
    import cv2

    from prelabel.sources.images import load_image
    from prelabel.sources.scenes.points import load

    boxes = _boxes(labels, min_score)
    points: npt.NDArray[np.floating] = load(frame)
    if frame.sensor_pose is not None:  # draw the bird's-eye view in the ego frame (x forward) when it is known
        m = frame.sensor_pose.matrix()
        points = tf.apply(m, points)
        top = bev(points, [(lb, tf.transform_boxes(m, b)[0]) for lb, b in boxes])
    else:
        top = bev(points, boxes)
    width = top.shape[1] * 2
    panels = []
    for cam in frame.cameras or []:
        img = load_image(Frame(id=cam.name, uri=cam.uri))
        panels.append(camera_panel(img, cam, boxes))
    rows = [cv2.resize(top, (width // 2, top.shape[0]))]
    rows[0] = np.concatenate([rows[0], np.full_like(rows[0], 18)], axis=1)
    per_row = 2 if len(panels) > 1 else 1
    for i in range(0, len(panels), per_row):
        group = panels[i : i + per_row]
        cell = width // per_row
        scaled = [cv2.resize(p, (cell, int(p.shape[0] * cell / p.shape[1]))) for p in group]
        hgt = max(s.shape[0] for s in scaled)
        row = np.full((hgt, width, 3), 0, np.uint8)
        for j, s in enumerate(scaled):
            row[: s.shape[0], j * cell : j * cell + s.shape[1]] = s
        rows.append(row)
    return np.concatenate(rows, axis=0)
