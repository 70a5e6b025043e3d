"""KITTI helpers: a frame as RGB pixels, its camera matrix P2, and label_2 ground truth by group (vehicles,
pedestrians; boxes under 25 px high left out) with the recall of detections against it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from prelabel.core.detections import Detections
from prelabel.core.geometry.boxes2d import overlap

GROUPS = {
    "vehicle": ({"Car", "Van", "Truck"}, {"car", "bus", "truck"}),
    "pedestrian": ({"Pedestrian", "Person_sitting"}, {"person"}),
}
MIN_HEIGHT = 25.0


def load_rgb(kitti: Path, stem: str) -> npt.NDArray[np.uint8]:
    bgr = cv2.imread(str(kitti / "image_2" / f"{stem}.png"))
    assert bgr is not None, f"cannot read KITTI frame {stem}"
    return np.ascontiguousarray(bgr[:, :, ::-1])


def ground_truth(kitti: Path, stem: str, group: str) -> npt.NDArray[np.float64]:
    kitti_classes = GROUPS[group][0]
    boxes = []
    for line in (kitti / "label_2" / f"{stem}.txt").read_text().splitlines():
        f = line.split()
        x1, y1, x2, y2 = (float(v) for v in f[4:8])
        if f[0] in kitti_classes and y2 - y1 >= MIN_HEIGHT:
            boxes.append((x1, y1, x2, y2))
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def group_mask(dets: Detections, classes: tuple[str, ...] | list[str], group: str) -> npt.NDArray[np.bool_]:
    names = GROUPS[group][1]
    return np.asarray([classes[int(c)] in names for c in dets.class_ids], dtype=bool)


def recall(per_frame: dict[str, Detections], kitti: Path, classes: list[str], group: str) -> tuple[int, int]:
    """(ground-truth boxes found at IoU >= 0.5, ground-truth boxes) over the frames."""
    found = total = 0
    for stem, dets in per_frame.items():
        gt = ground_truth(kitti, stem, group)
        total += len(gt)
        boxes = dets.xyxy[group_mask(dets, classes, group)]
        if len(gt) and len(boxes):
            found += int((overlap(gt, boxes).max(axis=1) >= 0.5).sum())
    return found, total


def kitti_p2(kitti: Path, stem: str) -> npt.NDArray[np.float64]:
    """The frame's left colour camera projection matrix P2 (3 x 4) from ``calib/<stem>.txt``."""
    for line in (kitti / "calib" / f"{stem}.txt").read_text().splitlines():
        if line.startswith("P2:"):
            return np.array([float(v) for v in line.split()[1:]]).reshape(3, 4)
    raise AssertionError(f"no P2 in calib/{stem}.txt")
