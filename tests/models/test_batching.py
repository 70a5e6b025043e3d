"""Batched inference gives the same boxes as one image at a time, on real KITTI frames and real weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prelabel.core.detections import Detections
from prelabel.models.base import detect_many
from tests.helpers.kitti import load_rgb
from tests.models.dynbatch import nanodet_dynamic

FRAMES = ["000000", "000001", "000002", "000003", "000004"]  # 000000 is 1224x370, the others 1242x375


def assert_same(a: Detections, b: Detections) -> None:
    assert len(a) == len(b)
    order_a, order_b = np.argsort(-a.scores, kind="stable"), np.argsort(-b.scores, kind="stable")
    np.testing.assert_array_equal(a.class_ids[order_a], b.class_ids[order_b])
    np.testing.assert_allclose(a.scores[order_a], b.scores[order_b], atol=1e-4)
    np.testing.assert_allclose(a.xyxy[order_a], b.xyxy[order_b], atol=0.05)


@pytest.fixture(scope="module")
def frames(kitti: Path) -> list[Any]:
    return [load_rgb(kitti, f) for f in FRAMES]


@pytest.fixture(scope="module")
def nanodet_batch(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Any:
    return nanodet_dynamic(tmp_path_factory.mktemp("dynbatch"), threads=2, min_score=0.25, batch=8)


def test_ssd_batch_gives_the_boxes_of_single_frames(ssd: Any, frames: list[Any]) -> None:
    singles = [ssd.detect(im) for im in frames]
    batched = ssd.detect_batch(frames, batch=4)  # a batch of 4 (two sizes) and a batch of 1
    assert sum(len(d) for d in singles) > 10
    for a, b in zip(singles, batched, strict=True):
        assert_same(a, b)


def test_onnx_dynamic_batch_gives_the_boxes_of_single_frames(
    nanodet_batch: Any, zoo_detectors: Any, frames: list[Any]
) -> None:
    assert nanodet_batch.dynamic_batch and nanodet_batch.max_batch == 8
    static = zoo_detectors["nanodet-m-coco"]
    assert not static.dynamic_batch  # the zoo's export is batch 1: detect_batch runs one image at a time
    calls: list[int] = []
    run = nanodet_batch._infer
    nanodet_batch._infer = lambda x: calls.append(len(x)) or run(x)  # count session runs and their batch
    try:
        batched = nanodet_batch.detect_batch(frames)
    finally:
        del nanodet_batch._infer
    assert calls == [len(frames)]
    singles = [static.detect(im) for im in frames]
    assert sum(len(d) for d in singles) > 10
    for a, b in zip(singles, batched, strict=True):
        assert_same(a, b)
    assert all(len(a) == len(b) for a, b in zip(static.detect_batch(frames), singles, strict=True))


def test_tiles_of_a_frame_run_as_one_batch(nanodet_batch: Any, zoo_detectors: Any, frames: list[Any]) -> None:
    from prelabel.refine.tiling import TiledDetector

    calls: list[int] = []
    run = nanodet_batch._infer
    nanodet_batch._infer = lambda x: calls.append(len(x)) or run(x)
    try:
        batched = TiledDetector(nanodet_batch).detect(frames[1])
    finally:
        del nanodet_batch._infer
    assert calls == [6]  # the full frame and the five 375 px tiles of a 1242x375 frame, in one session run
    single = TiledDetector(zoo_detectors["nanodet-m-coco"]).detect(frames[1])
    assert len(single) > 5
    assert_same(single, batched)
    assert len(detect_many(zoo_detectors["nanodet-m-coco"], frames[:2])) == 2
