"""Darknet YOLO (cfg + weights) through OpenCV DNN (``cv2.dnn.readNetFromDarknet``, OpenCV 4.x).

Every YOLO layer outputs rows ``cx cy w h objectness class-scores`` with coordinates as fractions of the network
input; OpenCV has already multiplied each class probability by the objectness (and zeroed those under the
layer's threshold), so a class column is the score. Class-aware NMS follows. Input: RGB scaled to 0-1,
stretched (``resize: stretch``, darknet's own v3 behaviour) or letterboxed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.detections import Detections
from prelabel.core.geometry.boxes2d import nms
from prelabel.errors import UnreadableInputError
from prelabel.models.backends.opencv_dnn import OpenCVDetector
from prelabel.models.decoders import cxcywh_to_xyxy
from prelabel.models.preprocess import Preprocess
from prelabel.models.zoo import ModelEntry


class OpenCVDarknetDetector(OpenCVDetector):
    runtime = "OpenCV DNN (Darknet)"

    def __init__(
        self,
        entry: ModelEntry,
        files: dict[str, Path],
        *,
        iou: float = 0.45,
        max_detections: int = 100,
        resize: str = "stretch",
        **common: Any,
    ) -> None:
        super().__init__(entry, **common)
        cv2 = self._cv2
        if not hasattr(cv2.dnn, "readNetFromDarknet"):
            raise UnreadableInputError(f"{entry.ref}", f"OpenCV {cv2.__version__} has no Darknet reader (4.x has)")
        self.iou = float(iou)
        self.max_detections = int(max_detections)
        self.preprocess = Preprocess.from_options(entry.input_size, {"resize": resize, "scale": 1 / 255.0})
        self._net = cv2.dnn.readNetFromDarknet(str(files["config"]), str(files["weights"]))
        self._outputs = self._net.getUnconnectedOutLayersNames()

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        blob, tf = self.preprocess(image)
        self._net.setInput(blob)
        rows = np.concatenate(
            [np.asarray(o).reshape(-1, 5 + len(self.classes)) for o in self._net.forward(self._outputs)]
        )
        probs = rows[:, 5:]  # OpenCV's YOLO layer already multiplies the class probabilities by objectness
        cls = probs.argmax(axis=1)
        scores = probs[np.arange(len(rows)), cls]
        keep = scores >= self.min_score
        if not keep.any():
            return Detections.empty()
        size = np.array([self.preprocess.width, self.preprocess.height] * 2, np.float32)
        xyxy = cxcywh_to_xyxy(rows[keep, :4]) * size
        scores, cls = scores[keep].astype(np.float32), cls[keep].astype(np.int64)
        order = nms(xyxy, scores, self.iou, cls)[: self.max_detections]
        return Detections(tf.to_image(xyxy[order]), scores[order], cls[order]).clip(tf.width, tf.height)
