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
        tiled: bool = False,
        tta: bool = False,
        masks: str | None = None,
        **options: Any,
    ) -> None:
        """``tta``: horizontal-flip test-time augmentation; ``tiled``: overlapping tiles plus the full frame
        (``prelabel.refine``); ``masks="sam"``: a MobileSAM mask for every box (``prelabel.models.sam``)."""
        if isinstance(model, str):
            from prelabel.models.loader import load_detector

            model = load_detector(model, cache, **options)
        if tta:
            from prelabel.refine.tta import FlipTTADetector

            model = FlipTTADetector(model)
        if tiled:
            from prelabel.refine.tiling import TiledDetector

            model = TiledDetector(model)
        self.masker = None
        if masks:
            from prelabel.models.sam import load_masker

            self.masker = load_masker(masks, cache, threads=options.get("threads"))
        self.detector = model
        self.job = job
        self.loader = loader
        # how the labels were made beyond the model itself, recorded on every label (attributes.inference)
        self.settings = "+".join(
            name for name, on in (("tiled", tiled), ("tta", tta), (f"masks:{masks}", bool(masks))) if on
        )

    def predict_image(self, frame: Frame, image: npt.NDArray[np.uint8]) -> FrameRecord:
        h, w = image.shape[:2]
        frame = frame.model_copy(update={"width": w, "height": h})
        dets = self.detector.detect(image)
        if self.masker is not None and len(dets):
            dets.masks = self.masker.masks(image, dets.xyxy)
        labels = dets.to_labels(frame.id, self.detector.source, self.detector.classes)
        if self.settings:
            for label in labels:
                label.attributes["inference"] = self.settings
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
