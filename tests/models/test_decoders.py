"""Each output decoder through the generic ONNX backend, on small ONNX graphs whose outputs are known constants:
the boxes, scores and classes that come out are worked out by hand from those constants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prelabel.errors import UnknownNameError
from prelabel.models.backends.onnx_runtime import OnnxDetector
from tests.models.conftest import const_model

IMAGE = np.zeros((32, 64, 3), np.uint8)  # H 32, W 64; the nets take it as is (stretch to the same size)
CLASSES = ["car", "person", "bike"]


def _detector(tmp_path: Path, outputs: dict[str, Any], decoder: str, layout: str = "nchw", **opts: Any) -> OnnxDetector:
    shape = [1, 3, 32, 64] if layout == "nchw" else [1, 32, 64, 3]
    path = const_model(tmp_path / f"{decoder}.onnx", outputs, shape)
    return OnnxDetector(
        model_id="t", version="1", classes=CLASSES, onnx_path=path, input_size=[64, 32], decoder=decoder,
        resize="stretch", layout=layout, threads=1, **opts,
    )  # fmt: skip


def _sorted(dets: Any) -> list[tuple[list[float], float, int]]:
    rows = [
        ([round(float(v), 3) for v in b], round(float(s), 4), int(c))
        for b, s, c in zip(dets.xyxy, dets.scores, dets.class_ids, strict=True)
    ]
    return sorted(rows, key=lambda r: -r[1])


def test_ssd_normalised_boxes_and_class_scores(tmp_path: Path) -> None:
    boxes = [[[0.1, 0.25, 0.5, 0.75], [0.0, 0.0, 0.25, 0.5], [0.5, 0.5, 1.0, 1.0]]]
    scores = [[[0.9, 0.05, 0.05], [0.1, 0.2, 0.3], [0.2, 0.7, 0.1]]]
    det = _detector(tmp_path, {"boxes": boxes, "scores": scores}, "ssd", min_score=0.5)
    assert _sorted(det.detect(IMAGE)) == [([6.4, 8.0, 32.0, 24.0], 0.9, 0), ([32.0, 16.0, 64.0, 32.0], 0.7, 1)]


def test_ssd_background_column_and_pixel_boxes(tmp_path: Path) -> None:
    boxes = [[[2, 3, 20, 30], [40, 1, 60, 9]]]
    scores = [[[0.1, 0.1, 0.8, 0.0], [0.9, 0.05, 0.05, 0.0]]]  # column 0 is background
    det = _detector(tmp_path, {"boxes": boxes, "scores": scores}, "ssd", background=True, min_score=0.3)
    assert _sorted(det.detect(IMAGE)) == [([2.0, 3.0, 20.0, 30.0], 0.8, 1)]


def test_yolov5_objectness_times_class(tmp_path: Path) -> None:
    rows = [
        [[32, 16, 20, 10, 0.9, 0.1, 0.8, 0.1], [10, 10, 4, 4, 0.2, 0.9, 0.0, 0.0], [50, 20, 10, 10, 0.8, 0.0, 0.0, 1.0]]
    ]
    det = _detector(tmp_path, {"out": rows}, "yolov5", min_score=0.5)
    assert _sorted(det.detect(IMAGE)) == [([45.0, 15.0, 55.0, 25.0], 0.8, 2), ([22.0, 11.0, 42.0, 21.0], 0.72, 1)]


def test_yolov8_transposed_head_and_class_nms(tmp_path: Path) -> None:
    # (4 + C, N) as exported; boxes 0 and 1 overlap (IoU 0.81) with the same class: NMS keeps the better one
    cols = np.array(
        [[20, 20.5, 50], [16, 16, 10], [20, 20, 8], [10, 10, 8], [0.6, 0.9, 0.0], [0.1, 0.0, 0.0], [0.0, 0.0, 0.7]]
    )
    det = _detector(tmp_path, {"out": cols[None]}, "yolov8", min_score=0.5)
    assert _sorted(det.detect(IMAGE)) == [([10.5, 11.0, 30.5, 21.0], 0.9, 0), ([46.0, 6.0, 54.0, 14.0], 0.7, 2)]
    det = _detector(tmp_path, {"out": cols[None]}, "yolov8", min_score=0.5, nms="none")
    assert len(det.detect(IMAGE)) == 3


def test_nanodet_gfl_per_level_outputs(tmp_path: Path) -> None:
    # input 64x32, strides 8 and 16: levels of 8x4 = 32 and 4x2 = 8 cells; reg_max 3 -> 4 bins per side
    cls8 = np.zeros((32, 3), np.float32)
    reg8 = np.full((32, 16), -50.0, np.float32)
    cls8[9] = [0.0, 0.8, 0.0]  # cell x=1, y=1: centre (12, 12)
    for side, b in enumerate([1, 1, 2, 3]):  # left 1, top 1, right 2, bottom 3 bins (x 8 px)
        reg8[9, side * 4 + b] = 50.0
    cls16 = np.zeros((8, 3), np.float32)
    reg16 = np.full((8, 16), -50.0, np.float32)
    cls16[6] = [0.6, 0.0, 0.0]  # cell x=2, y=1: centre (40, 24)
    reg16[6, [0 * 4 + 1, 1 * 4 + 0, 2 * 4 + 1, 3 * 4 + 0]] = 50.0
    outs = {"cls8": cls8[None], "cls16": cls16[None], "reg8": reg8[None], "reg16": reg16[None]}
    det = _detector(tmp_path, outs, "nanodet-gfl", strides=[8, 16], reg_max=3, min_score=0.5)
    assert _sorted(det.detect(IMAGE)) == [([4.0, 4.0, 28.0, 32.0], 0.8, 1), ([24.0, 24.0, 56.0, 24.0], 0.6, 0)]


def test_centernet_raw_heads(tmp_path: Path) -> None:
    # heatmap 16x8 cells over 64x32 (stride 4), NCHW; one clear peak per object, a lower neighbour is suppressed
    heat = np.zeros((3, 8, 16), np.float32)
    heat[2, 3, 5] = 0.9
    heat[2, 3, 6] = 0.5  # neighbour of the peak: not a peak
    heat[0, 6, 12] = 0.7
    wh = np.zeros((2, 8, 16), np.float32)
    wh[:, 3, 5] = [4, 2]  # 16 x 8 px
    wh[:, 6, 12] = [2, 2]
    off = np.zeros((2, 8, 16), np.float32)
    off[:, 3, 5] = [0.5, 0.25]
    det = _detector(tmp_path, {"heat": heat[None], "wh": wh[None], "off": off[None]}, "centernet", min_score=0.4)
    assert _sorted(det.detect(IMAGE)) == [([14.0, 9.0, 30.0, 17.0], 0.9, 2), ([44.0, 20.0, 52.0, 28.0], 0.7, 0)]


def test_centernet_decoded_in_graph_with_agnostic_nms(tmp_path: Path) -> None:
    dets = [[[10, 5, 30, 25, 0.8, 2], [10, 5, 30, 24, 0.5, 0], [40, 0, 60, 10, 0.3, 1], [0, 0, 5, 5, 0.1, 1]]]
    det = _detector(tmp_path, {"detections": dets}, "centernet", layout="nhwc", nms="agnostic", min_score=0.2)
    assert _sorted(det.detect(IMAGE)) == [([10.0, 5.0, 30.0, 25.0], 0.8, 2), ([40.0, 0.0, 60.0, 10.0], 0.3, 1)]


def test_detr_softmax_with_no_object_column(tmp_path: Path) -> None:
    logits = np.full((1, 3, 4), -10.0, np.float32)
    logits[0, 0, 1] = 10.0  # query 0: person
    logits[0, 1, 3] = 10.0  # query 1: no object
    logits[0, 2, [0, 2]] = 5.0  # query 2: car and bike tie at 0.5 each -> car (first) at 0.5
    boxes = [[[0.5, 0.5, 0.25, 0.5], [0.1, 0.1, 0.1, 0.1], [0.25, 0.25, 0.5, 0.5]]]
    det = _detector(tmp_path, {"logits": logits, "boxes": boxes}, "detr", min_score=0.4)
    got = _sorted(det.detect(IMAGE))
    assert [r[0] for r in got] == [[24.0, 8.0, 40.0, 24.0], [0.0, 0.0, 32.0, 16.0]]
    assert [r[2] for r in got] == [1, 0]
    assert got[0][1] == pytest.approx(1.0, abs=1e-4) and got[1][1] == pytest.approx(0.5, abs=1e-4)


def test_letterbox_maps_boxes_back_to_image_pixels(tmp_path: Path) -> None:
    # a 64x32 image letterboxed into a 32x32 net: scale 0.5, padding below; a net box maps back x2
    path = const_model(tmp_path / "lb.onnx", {"boxes": [[[4, 2, 12, 10]]], "scores": [[[0.9, 0, 0]]]}, [1, 3, 32, 32])
    det = OnnxDetector(model_id="t", version="1", classes=CLASSES, onnx_path=path, input_size=[32, 32], decoder="ssd",
                       normalized=False)  # fmt: skip
    assert _sorted(det.detect(IMAGE)) == [([8.0, 4.0, 24.0, 20.0], 0.9, 0)]


def test_unknown_decoder_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(
        UnknownNameError, match="unknown decoder 'yolov99'; expected one of: centernet, detr, nanodet-gfl"
    ):
        _detector(tmp_path, {"out": [[[0.0]]]}, "yolov99")
