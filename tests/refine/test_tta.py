"""Horizontal-flip test-time augmentation and the weighted merge, on the default SSD and real KITTI frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prelabel.core.detections import Detections
from prelabel.core.geometry.boxes2d import overlap
from prelabel.models.base import Detector
from prelabel.refine.tiling import TiledDetector
from prelabel.refine.tta import FlipTTADetector, flip_boxes, weighted_merge
from tests.helpers.kitti import load_rgb, recall


def test_flip_boxes_mirrors_and_is_its_own_inverse() -> None:
    boxes = np.array([[10, 5, 60, 40], [0, 0, 100, 50]], dtype=np.float32)
    flipped = flip_boxes(boxes, 100)
    assert flipped.tolist() == [[40, 5, 90, 40], [0, 0, 100, 50]]
    assert np.array_equal(flip_boxes(flipped, 100), boxes)


def test_weighted_merge_fuses_agreeing_views_and_halves_lone_boxes() -> None:
    a = Detections(np.array([[0, 0, 10, 10], [50, 50, 60, 60]]), np.array([0.8, 0.6]), np.array([2, 2]))
    b = Detections(np.array([[2, 0, 12, 10], [50, 50, 60, 60]]), np.array([0.4, 0.6]), np.array([2, 0]))
    out = weighted_merge([a, b], iou_threshold=0.55, passes=2)
    order = np.argsort(-out.scores)
    xyxy, scores, cls = out.xyxy[order], out.scores[order], out.class_ids[order]
    # the two car boxes (IoU 0.67) fuse: coordinates weighted 0.8 : 0.4, score (0.8 + 0.4) / 2
    assert np.allclose(xyxy[0], [2 / 3, 0, 10 + 2 / 3, 10], atol=1e-4)
    assert scores[0] == pytest.approx(0.6)
    # same place, different classes: never fused; each seen once, so half its score
    assert sorted(cls[1:].tolist()) == [0, 2]
    assert np.allclose(scores[1:], [0.3, 0.3])
    assert out.data["support"][order].tolist() == [2, 1, 1]


def test_weighted_merge_of_nothing_is_empty() -> None:
    assert len(weighted_merge([Detections.empty(), Detections.empty()])) == 0


def test_tta_is_a_detector_with_the_same_provenance(ssd: Detector) -> None:
    tta = FlipTTADetector(ssd)
    assert isinstance(tta, Detector)
    assert tta.source == ssd.source and tuple(tta.classes) == tuple(ssd.classes)
    assert TiledDetector(tta).setting == "tiled" and tta.setting == "tta"


def test_tta_commutes_with_mirroring_the_frame(ssd: Detector, kitti: Path) -> None:
    """Flip TTA sees the same two views of a frame and of its mirror image, so the results are mirror images."""
    image = load_rgb(kitti, "000008")
    w = image.shape[1]
    tta = FlipTTADetector(ssd)
    plain = tta.detect(image)
    mirrored = tta.detect(np.ascontiguousarray(image[:, ::-1]))
    assert len(plain) >= 3 and len(plain) == len(mirrored)
    back = flip_boxes(mirrored.xyxy, w)
    ious = overlap(plain.xyxy, back)
    j = ious.argmax(axis=1)
    assert (ious.max(axis=1) > 0.95).all()
    assert np.allclose(plain.scores, mirrored.scores[j], atol=1e-3)
    assert (plain.class_ids == mirrored.class_ids[j]).all()


def test_tta_finds_at_least_what_one_view_finds(ssd: Detector, kitti: Path) -> None:
    frames = [f"{i:06d}" for i in range(0, 30, 5)]
    images = {s: load_rgb(kitti, s) for s in frames}
    tta = FlipTTADetector(ssd)
    full = {s: ssd.detect(im) for s, im in images.items()}
    aug = {s: tta.detect(im) for s, im in images.items()}
    for group in ("vehicle", "pedestrian"):
        assert recall(aug, kitti, list(ssd.classes), group)[0] >= recall(full, kitti, list(ssd.classes), group)[0]
