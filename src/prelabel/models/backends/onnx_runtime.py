"""Any ONNX detector through ONNX Runtime: preprocess (``prelabel.models.preprocess``), run, decode
(``prelabel.models.decoders``), NMS, map boxes back to image pixels.

Options: ``min_score`` (default 0.25), ``threads`` (intra-op threads, default 2), ``nms`` ``class`` (default) |
``agnostic`` | ``none``, ``iou`` (NMS threshold, default 0.5), ``max_detections`` (default 100), ``class_map``
(``{"<model class id>": <index into the classes>}``, to drop or remap a model's classes), plus the preprocessing
and decoder options documented in those modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.detections import Detections
from prelabel.core.geometry.boxes2d import nms
from prelabel.errors import UnknownNameError, UnreadableInputError
from prelabel.models.decoders import DecodeContext, get_decoder
from prelabel.models.preprocess import Preprocess

NMS_MODES = ("class", "agnostic", "none")
MAX_CANDIDATES = 2000


def onnx_session(path: Path, threads: int | None = None) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads or 2)
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    # no busy-waiting between ops: prelabel often runs several workers per machine (measured here on NanoDet with
    # 2 threads: 48.8 ms per frame without spinning, 55.1 ms with it, on a shared 2-core machine)
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for a bad file
        raise UnreadableInputError(f"ONNX model {path}", f"{type(e).__name__}: {e}") from e


class TensorDetector:
    """Preprocess, run (``_infer``, supplied by a subclass), decode, NMS, map back to image pixels."""

    def __init__(
        self,
        *,
        model_id: str,
        version: str,
        classes: Sequence[str],
        input_size: Sequence[int],
        decoder: str,
        output_names: Sequence[str] = (),
        min_score: float = 0.25,
        nms: str = "class",
        iou: float = 0.5,
        max_detections: int = 100,
        class_map: dict[str, int] | None = None,
        **options: Any,
    ) -> None:
        if nms not in NMS_MODES:
            raise UnknownNameError("nms mode", nms, NMS_MODES)
        self.model_id = model_id
        self.version = version
        self.classes = tuple(classes)
        self.min_score = float(min_score)
        self.nms = nms
        self.iou = float(iou)
        self.max_detections = int(max_detections)
        self.class_map = {int(k): int(v) for k, v in (class_map or {}).items()}
        self.decoder_name = decoder
        self._decode = get_decoder(decoder)
        options.pop("threads", None)
        wanted = options.pop("outputs", None)
        if wanted and output_names:
            missing = [w for w in wanted if w not in output_names]
            if missing:
                raise UnknownNameError("model output", missing[0], output_names)
        self._outputs = list(wanted) if wanted else list(output_names)
        self.preprocess = Preprocess.from_options(list(input_size), options)
        self._options = options
        num = options.get("num_classes")
        self._num_classes = int(num) if num else len(self.classes)

    def _infer(self, x: npt.NDArray[np.float32]) -> list[npt.NDArray[Any]]:
        raise NotImplementedError

    @property
    def source(self) -> str:
        return f"model:{self.model_id}@{self.version}"

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        x, tf = self.preprocess(image)
        outputs = self._infer(x)
        ctx = DecodeContext(
            input_width=self.preprocess.width,
            input_height=self.preprocess.height,
            num_classes=self._num_classes,
            min_score=self.min_score,
            output_names=self._outputs,
            options=self._options,
        )
        d = self._decode(list(outputs), ctx)
        if len(d.scores) == 0:
            return Detections.empty()
        class_ids = d.class_ids
        if self.class_map:
            mapped = np.array([self.class_map.get(int(c), -1) for c in class_ids], dtype=np.int64)
            d = d.keep(mapped >= 0)
            class_ids = mapped[mapped >= 0]
        valid = (class_ids >= 0) & (class_ids < len(self.classes))
        xyxy, scores, class_ids = d.xyxy[valid], d.scores[valid], class_ids[valid]
        if len(scores) > MAX_CANDIDATES:  # bound the NMS cost on a flat, low-threshold score map
            top = np.argsort(-scores, kind="stable")[:MAX_CANDIDATES]
            xyxy, scores, class_ids = xyxy[top], scores[top], class_ids[top]
        if self.nms != "none" and len(scores):
            keep = nms(xyxy, scores, self.iou, class_ids if self.nms == "class" else None)
        else:
            keep = np.argsort(-scores, kind="stable")
        keep = keep[: self.max_detections]
        boxes = tf.to_image(xyxy[keep])
        return Detections(boxes, scores[keep], class_ids[keep]).clip(tf.width, tf.height)


class OnnxDetector(TensorDetector):
    """A local ONNX file through ONNX Runtime (``threads`` intra-op threads)."""

    def __init__(self, *, onnx_path: Path, threads: int | None = None, **kwargs: Any) -> None:
        self._session = onnx_session(onnx_path, threads)
        self._input = self._session.get_inputs()[0].name
        names = [o.name for o in self._session.get_outputs()]
        super().__init__(output_names=names, **kwargs)

    def _infer(self, x: npt.NDArray[np.float32]) -> list[npt.NDArray[Any]]:
        return list(self._session.run(self._outputs, {self._input: x}))
