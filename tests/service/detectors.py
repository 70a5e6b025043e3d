"""Detectors the service tests load by reference (``python:tests.service.detectors:NAME``) in worker processes.

All wrap the real default detector; they add what a test needs to observe: a model that fails on some inputs,
one slow enough that a worker can be killed while it holds work, and one that decodes the input bytes itself.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.detections import Detections
from prelabel.models.base import Detector
from prelabel.models.loader import load_detector


class _Wrapped:
    def __init__(self, **options: Any) -> None:
        self.inner: Detector = load_detector("ssd-mobilenet-v2-coco", threads=1, **options)

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def version(self) -> str:
        return self.inner.version

    @property
    def classes(self) -> Sequence[str]:
        return self.inner.classes

    @property
    def source(self) -> str:
        return self.inner.source


class FailsOnSmallImages(_Wrapped):
    """Raises (as a broken model would) on images narrower than 64 px; the real detector otherwise."""

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        if image.shape[1] < 64:
            raise RuntimeError(f"input width {image.shape[1]} px is below the model's 64 px minimum")
        return self.inner.detect(image)


class SlowSSD(_Wrapped):
    """The real detector plus a fixed delay per image (``delay_s``), to hold work long enough to kill a worker."""

    def __init__(self, delay_s: float = 0.3, **options: Any) -> None:
        super().__init__(**options)
        self.delay_s = delay_s

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        time.sleep(self.delay_s)
        return self.inner.detect(image)


class DecodesItself(_Wrapped):
    """Declares ``detect_encoded``: it gets the input file's bytes and decodes them with its own library (Pillow),
    then runs the real detector. Its ``detect`` refuses, so a worker that handed it pixels would fail."""

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        raise RuntimeError("this model reads the image bytes itself (detect_encoded); it was handed pixels")

    def detect_encoded(self, data: bytes) -> Detections:
        import io

        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            rgb = np.asarray(im.convert("RGB"))
        return self.inner.detect(rgb)
