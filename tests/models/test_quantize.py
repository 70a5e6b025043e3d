"""int8 (QDQ static) variant of an ONNX zoo detector keeps its detections on real KITTI frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prelabel.core.geometry.boxes2d import overlap
from prelabel.errors import PrelabelError
from prelabel.models.loader import load_detector
from prelabel.models.quantize import int8_path, load_int8, quantize_entry, supports_int8
from prelabel.models.zoo import get_entry
from tests.helpers.kitti import load_rgb

MODEL = "nanodet-m-coco"


def test_only_onnx_models_can_be_quantised() -> None:
    ssd = get_entry("ssd-mobilenet-v2-coco")
    assert not supports_int8(ssd)
    with pytest.raises(PrelabelError, match="int8 quantisation needs one of: onnx"):
        quantize_entry(ssd, [])


@pytest.mark.slow
def test_int8_nanodet_finds_what_fp32_finds(shared_data: Path, kitti: Path) -> None:
    import cv2

    entry = get_entry(MODEL)
    calib_dir = shared_data / "kitti_tracking" / "tracking" / "training"
    calib = [
        np.ascontiguousarray(cv2.imread(str(p))[:, :, ::-1]) for p in sorted(calib_dir.glob("image_0[23]/*/*.png"))
    ]
    assert len(calib) == 4  # the benchmark's calibration frames: not among the frames checked below
    path = quantize_entry(entry, calib, force=True)  # quantise for real, even when the cache has it
    assert path == int8_path(entry) and path.stat().st_size > 100_000
    int8 = load_int8(entry, calib, threads=2, min_score=0.3)
    fp32 = load_detector(MODEL, threads=2, min_score=0.3)
    assert int8.source == fp32.source
    found = total = 0
    for stem in ("000001", "000008", "000013", "000020"):
        image = load_rgb(kitti, stem)
        a, b = fp32.detect(image), int8.detect(image)
        total += len(a)
        if len(a) and len(b):
            same = (overlap(a.xyxy, b.xyxy) >= 0.7) & (a.class_ids[:, None] == b.class_ids[None, :])
            found += int(same.any(axis=1).sum())
    assert total >= 10
    assert found >= 0.75 * total  # the int8 graph reproduces most fp32 boxes (11 of 14 with ORT 1.32)
