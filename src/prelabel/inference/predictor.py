"""The predictor: loads a model once, maps frames to :class:`FrameRecord` s. The same class runs in the local
runner, the async service's workers and Ray Data (``__init__`` loads, ``__call__`` predicts)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.labels import Frame, FrameRecord
from prelabel.errors import PrelabelError
from prelabel.models.base import Detector
from prelabel.sources.images import load_image

ImageLoader = Callable[[Frame], npt.NDArray[np.uint8]]


class Predictor:
    def __init__(
        self,
        model: str | Detector,
        *,
        cache: str | None = None,
        job: str | None = None,
        loader: ImageLoader = load_image,
        **options: Any,
    ) -> None:
        if isinstance(model, str):
            from prelabel.models.loader import load_detector

            model = load_detector(model, cache, **options)
        self.detector = model
        self.job = job
        self.loader = loader

    def predict_image(self, frame: Frame, image: npt.NDArray[np.uint8]) -> FrameRecord:
        h, w = image.shape[:2]
        frame = frame.model_copy(update={"width": w, "height": h})
        dets = self.detector.detect(image)
        labels = dets.to_labels(frame.id, self.detector.source, self.detector.classes)
        return FrameRecord(frame=frame, labels=labels, job=self.job)

    def predict_frame(self, frame: Frame) -> FrameRecord:
        """Never raises for a bad frame: the record says failed, with the reason."""
        try:
            return self.predict_image(frame, self.loader(frame))
        except PrelabelError as e:
            return FrameRecord(frame=frame, status="failed", error=str(e), job=self.job)
        except Exception as e:  # a model or decoder bug on one frame must not stop a bulk run
            return FrameRecord(frame=frame, status="failed", error=f"{type(e).__name__}: {e}", job=self.job)

    def __call__(self, frames: Sequence[Frame]) -> list[FrameRecord]:
        return [self.predict_frame(f) for f in frames]
