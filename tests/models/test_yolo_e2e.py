"""End-to-end Ultralytics exports: the ``yolo-e2e`` decoder on known constants, YOLO11n-seg's native instance masks on
real KITTI frames, and the licence notice the first fetch prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prelabel.errors import PrelabelError
from prelabel.models.backends.onnx_runtime import OnnxDetector
from prelabel.models.decoders.yolo_e2e import instance_masks
from prelabel.sources.images import image_frames, load_image
from tests.models.conftest import const_model

IMAGE = np.zeros((32, 64, 3), np.uint8)


def _det(tmp_path: Path, outputs: dict[str, Any], **opts: Any) -> OnnxDetector:
    path = const_model(tmp_path / "e2e.onnx", outputs, [1, 3, 64, 64])
    return OnnxDetector(
        model_id="t", version="1", classes=["car", "person", "bike"], onnx_path=path, input_size=[64, 64],
        decoder="yolo-e2e", resize="letterbox", nms="none", threads=1, **opts,
    )  # fmt: skip


def test_rows_padding_and_letterbox_mapping(tmp_path: Path) -> None:
    # the 64x32 image is letterboxed into the 64x64 input at scale 1 (top-left), so input px = image px
    rows = [[[2, 3, 20, 30, 0.9, 1], [40, 1, 60, 9, 0.3, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]]]
    dets = _det(tmp_path, {"output0": rows}, min_score=0.25).detect(IMAGE)
    assert dets.xyxy.tolist() == [[2, 3, 20, 30], [40, 1, 60, 9]]
    assert dets.class_ids.tolist() == [1, 0]
    assert np.allclose(dets.scores, [0.9, 0.3])
    assert len(_det(tmp_path, {"output0": rows}, min_score=0.5).detect(IMAGE)) == 1


def test_native_masks_from_constant_prototypes(tmp_path: Path) -> None:
    # one prototype, positive on the left half of the input: coefficient +1 gives the left half inside the box
    proto = np.full((1, 1, 16, 16), -10.0, np.float32)
    proto[..., :8] = 10.0
    rows = [[[0, 0, 48, 32, 0.9, 0, 1.0]]]
    det = _det(tmp_path, {"output0": rows, "output1": proto}, native_masks=True)
    dets = det.detect(IMAGE)
    assert dets.masks is not None and dets.masks.shape == (1, 32, 64)
    cols = dets.masks[0].any(axis=0)
    assert cols[:31].all() and not cols[33:].any()  # the left half of the input (32 px), inside the box (48 px)


def test_native_masks_need_prototypes(tmp_path: Path) -> None:
    rows = [[[2, 3, 20, 30, 0.9, 1]]]
    with pytest.raises(PrelabelError, match="--masks native needs a segmentation model"):
        _det(tmp_path, {"output0": rows}, native_masks=True)


def test_instance_masks_crop_to_box() -> None:
    protos = np.full((1, 4, 4), 10.0, np.float32)  # everywhere positive
    masks = instance_masks(np.ones((1, 1)), protos, np.array([[2, 1, 6, 3]]), (8, 4), (8, 8), (8, 4))
    assert masks[0].sum() == 4 * 2 and masks[0, 1:3, 2:6].all()


def test_yolo11n_seg_native_masks_on_kitti(kitti: Path) -> None:
    from prelabel.models import load_detector

    det = load_detector("yolo11n-seg-coco", threads=2, min_score=0.4, native_masks=True)
    boxes = 0
    for frame in image_frames(str(kitti / "image_2"))[:4]:
        image = load_image(frame)
        dets = det.detect(image)
        if not len(dets):
            continue
        assert dets.masks is not None and dets.masks.shape == (len(dets), *image.shape[:2])
        for box, mask in zip(dets.xyxy, dets.masks, strict=True):
            ys, xs = np.nonzero(mask)
            assert len(xs), "an empty mask for a confident box"
            assert xs.min() >= np.floor(box[0]) and xs.max() <= np.ceil(box[2])
            assert ys.min() >= np.floor(box[1]) and ys.max() <= np.ceil(box[3])
            fill = len(xs) / max((box[2] - box[0]) * (box[3] - box[1]), 1.0)
            assert 0.2 < fill <= 1.0, f"mask fills {fill:.2f} of its box"
            boxes += 1
    assert boxes >= 3


def test_first_fetch_prints_the_licence_notice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from prelabel.models.fetch import fetch_entry
    from prelabel.models.loader import prepare_entry
    from prelabel.models.zoo import get_entry

    zoo = get_entry("yolo11n-coco")
    cached = prepare_entry(zoo)["model"]  # the real weights, fetched and verified in the user cache
    capsys.readouterr()
    local = zoo.model_copy(
        update={"files": {"model": zoo.files["model"].model_copy(update={"source": str(cached), "member": None})}}
    )
    fetch_entry(local, tmp_path)
    first = capsys.readouterr().err
    assert "AGPL-3.0" in first and first.count("\n") == 1
    fetch_entry(local, tmp_path)
    assert capsys.readouterr().err == ""
