"""TensorFlow frozen graphs through OpenCV DNN (SSD-MobileNetV2 from the TF object detection zoo).

Output ``[1, 1, N, 7]``: image id, class (COCO 91-id scheme), score, normalised x1 y1 x2 y2. NMS is in the graph.
The graph takes a batch: :meth:`OpenCVTFDetector.detect_batch` runs up to ``batch`` images per forward pass
(default 1: on CPU a batch measured no faster than one image at a time).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.detections import Detections
from prelabel.core.vocab import COCO91_TO_80
from prelabel.models.backends.opencv_dnn import OpenCVDetector
from prelabel.models.zoo import ModelEntry


class OpenCVTFDetector(OpenCVDetector):
    runtime = "OpenCV DNN (TensorFlow graph)"

    def __init__(self, entry: ModelEntry, files: dict[str, Path], *, batch: int = 1, **common: Any) -> None:
        super().__init__(entry, **common)
        self.max_batch = max(1, int(batch))
        self.input_size = (int(entry.input_size[0]), int(entry.input_size[1]))
        self._net = self._cv2.dnn.readNetFromTensorflow(str(files["weights"]), str(files["config"]))

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        return self.detect_batch([image], batch=1)[0]

    def detect_batch(self, images: Sequence[npt.NDArray[np.uint8]], batch: int | None = None) -> list[Detections]:
        """Up to ``batch`` images (any sizes) per forward pass; the same boxes as one at a time."""
        step = max(1, batch or self.max_batch)
        out: list[Detections] = []
        for start in range(0, len(images), step):
            chunk = images[start : start + step]
            # images are RGB already: no channel swap; the graph scales 0-255 itself
            blob = self._cv2.dnn.blobFromImages(list(chunk), size=self.input_size, swapRB=False, crop=False)
            self._net.setInput(blob)
            rows = np.asarray(self._net.forward()).reshape(-1, 7)
            rows = rows[rows[:, 2] >= self.min_score]
            out.extend(self._boxes(rows[rows[:, 0] == i], im) for i, im in enumerate(chunk))
        return out

    def _boxes(self, out: npt.NDArray[Any], image: npt.NDArray[np.uint8]) -> Detections:
        h, w = image.shape[:2]
        keep = np.array([int(c) in COCO91_TO_80 for c in out[:, 1]], dtype=bool)
        out = out[keep] if len(out) else out
        if len(out) == 0:
            return Detections.empty()
        xyxy = out[:, 3:7] * np.array([w, h, w, h], dtype=np.float64)
        class_ids = np.array([COCO91_TO_80[int(c)] for c in out[:, 1]], dtype=np.int64)
        return Detections(xyxy=xyxy, scores=out[:, 2], class_ids=class_ids).clip(w, h)
