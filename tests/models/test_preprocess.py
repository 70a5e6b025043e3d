"""The preprocessing's single-pass layout conversion gives exactly the values of the step-by-step formula."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from prelabel.models.preprocess import Preprocess
from tests.helpers.kitti import load_rgb


def step_by_step(p: Preprocess, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """Convert to float, flip channels, scale, normalise, transpose: each a separate array, as written down."""
    h, w = image.shape[:2]
    if p.resize == "stretch":
        net = cv2.resize(image, (p.width, p.height), interpolation=cv2.INTER_LINEAR)
    else:
        r = min(p.width / w, p.height / h)
        nw, nh = max(1, round(w * r)), max(1, round(h * r))
        net = np.full((p.height, p.width, 3), p.pad_value, dtype=np.uint8)
        net[:nh, :nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    x = net.astype(np.float32)
    if p.channels == "bgr":
        x = x[:, :, ::-1]
    if p.scale != 1.0:
        x = x * np.float32(p.scale)
    x = (x - np.asarray(p.mean, np.float32)) / np.asarray(p.std, np.float32)
    if p.layout == "nchw":
        x = x.transpose(2, 0, 1)
    return np.ascontiguousarray(x[None], dtype=np.float32)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"scale": 1 / 255, "pad_value": 114},  # Ultralytics
        {"channels": "bgr", "mean": [103.53, 116.28, 123.675], "std": [57.375, 57.12, 58.395]},  # NanoDet
        {"layout": "nhwc", "scale": 1 / 127.5, "mean": [1, 1, 1]},
        {"resize": "stretch", "channels": "bgr"},
    ],
)
def test_preprocess_equals_the_step_by_step_formula(kitti: Path, options: dict[str, Any]) -> None:
    image = load_rgb(kitti, "000001")
    p = Preprocess.from_options([416, 320], options)
    x, tf = p(image)
    want = step_by_step(p, image)
    assert x.shape == want.shape and x.dtype == np.float32 and x.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(x, want)
    assert (tf.width, tf.height) == (image.shape[1], image.shape[0])
