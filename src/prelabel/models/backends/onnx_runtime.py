"""Any ONNX detector through ONNX Runtime: preprocess (``prelabel.models.preprocess``), run, decode
(``prelabel.models.decoders``), NMS, map boxes back to image pixels.

Options: ``min_score`` (default 0.25), ``threads`` (intra-op threads, default 2), ``nms`` ``class`` (default) |
``agnostic`` | ``none``, ``iou`` (NMS threshold, default 0.5), ``max_detections`` (default 100), ``class_map``
(``{"<model class id>": <index into the classes>}``, to drop or remap a model's classes), ``device`` (``cpu``,
``cuda[:N]``, ``tensorrt``, ``openvino``; see ``prelabel.models.backends.providers``), ``native_masks`` (attach
the model's own instance masks, for segmentation decoders such as ``yolo-e2e`` on a ``-seg`` export), ``batch``
(most images per session run in :meth:`TensorDetector.detect_batch`; default 1 on CPU, where batching measured no
faster, 8 on GPU providers; only for a model whose input has a dynamic batch dimension), plus the preprocessing
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
from prelabel.errors import PrelabelError, UnknownNameError, UnreadableInputError
from prelabel.models.decoders import DecodeContext, get_decoder
from prelabel.models.preprocess import Preprocess, Transform

NMS_MODES = ("class", "agnostic", "none")
MAX_CANDIDATES = 2000
GPU_BATCH = 8


def onnx_session(path: Path, threads: int | None = None, device: str | None = None, data: bytes | None = None) -> Any:
    """A session for the model at ``path``; ``data``: its bytes when the caller has read them already."""
    import onnxruntime as ort

    from prelabel.models.backends.providers import check_session, providers_for

    providers = providers_for(device)  # an unavailable device fails here, before the model is read

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads or 2)
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    # no busy-waiting between ops: prelabel often runs several workers per machine (measured here on NanoDet with
    # 2 threads: 48.8 ms per frame without spinning, 55.1 ms with it, on a shared 2-core machine)
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if data is not None:  # external-data weights (files beside the .onnx) are found next to the file
        so.add_session_config_entry("session.model_external_initializers_file_folder_path", str(path.resolve().parent))
    try:
        session = ort.InferenceSession(str(path) if data is None else data, so, providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types for a bad file
        raise UnreadableInputError(f"ONNX model {path}", f"{type(e).__name__}: {e}") from e
    check_session(session, device, f"ONNX model {path}")
    return session


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
        native_masks: bool = False,
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
        self.native_masks = bool(native_masks)
        self.mask_threshold = float(options.pop("mask_threshold", 0.5))
        options.pop("threads", None)
        device = str(options.pop("device", None) or "cpu")
        batch = options.pop("batch", None)
        self.max_batch = max(1, int(batch if batch is not None else (1 if device == "cpu" else GPU_BATCH)))
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

    #: whether the model's input takes any batch size (a subclass that knows sets it)
    dynamic_batch: bool = False

    def _infer(self, x: npt.NDArray[np.float32]) -> list[npt.NDArray[Any]]:
        raise NotImplementedError

    @property
    def source(self) -> str:
        return f"model:{self.model_id}@{self.version}"

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        return self.run(self.prepare(image))

    def prepare(self, image: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], Transform]:
        """The network input and how its pixels map back (``prelabel.models.base``: run it with :meth:`run`)."""
        return self.preprocess(image)

    def run(self, prepared: tuple[npt.NDArray[np.float32], Transform]) -> Detections:
        x, tf = prepared
        return self._finish(self._infer(x), tf)

    def detect_batch(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        """Several images (any sizes): up to ``batch`` of them per run when the model's batch dimension is dynamic,
        one run each otherwise. The same boxes as :meth:`detect` on each (to float tolerance)."""
        return self.run_batch([self.prepare(im) for im in images])

    def run_batch(self, prepared: Sequence[tuple[npt.NDArray[np.float32], Transform]]) -> list[Detections]:
        """:meth:`detect_batch` on inputs :meth:`prepare` made."""
        step = self.max_batch if self.dynamic_batch else 1
        if step <= 1 or len(prepared) <= 1:
            return [self.run(p) for p in prepared]
        out: list[Detections] = []
        for start in range(0, len(prepared), step):
            chunk = prepared[start : start + step]
            outputs = self._infer(np.concatenate([x for x, _ in chunk]))
            n = len(chunk)
            for i, (_, tf) in enumerate(chunk):
                mine = [o[i : i + 1] if o.ndim and o.shape[0] == n else o for o in map(np.asarray, outputs)]
                out.append(self._finish(mine, tf))
        return out

    def _finish(self, outputs: Sequence[npt.NDArray[Any]], tf: Any) -> Detections:
        """One image's outputs -> detections in its pixels (decode, class map, NMS, map back, masks)."""
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
        rows = np.arange(len(d.scores))
        class_ids = d.class_ids
        if self.class_map:
            mapped = np.array([self.class_map.get(int(c), -1) for c in class_ids], dtype=np.int64)
            rows, class_ids = rows[mapped >= 0], mapped[mapped >= 0]
        valid = (class_ids >= 0) & (class_ids < len(self.classes))
        rows, class_ids = rows[valid], class_ids[valid]
        xyxy, scores = d.xyxy[rows], d.scores[rows]
        if len(scores) > MAX_CANDIDATES:  # bound the NMS cost on a flat, low-threshold score map
            top = np.argsort(-scores, kind="stable")[:MAX_CANDIDATES]
            rows, xyxy, scores, class_ids = rows[top], xyxy[top], scores[top], class_ids[top]
        if self.nms != "none" and len(scores):
            keep = nms(xyxy, scores, self.iou, class_ids if self.nms == "class" else None)
        else:
            keep = np.argsort(-scores, kind="stable")
        keep = keep[: self.max_detections]
        boxes = tf.to_image(xyxy[keep])
        dets = Detections(boxes, scores[keep], class_ids[keep]).clip(tf.width, tf.height)
        if self.native_masks:
            dets.masks = self._masks(d, rows[keep], dets.xyxy, tf)
        return dets

    def _masks(self, d: Any, rows: npt.NDArray[np.int64], boxes: npt.NDArray[np.float32], tf: Any) -> Any:
        from prelabel.models.decoders.yolo_e2e import InstanceDecoded, instance_masks

        if not isinstance(d, InstanceDecoded) or d.coefficients is None or d.prototypes is None:
            raise PrelabelError(
                f"--masks native: model {self.model_id} gave no mask coefficients and prototypes; use a segmentation "
                "model (yolo11n-seg-coco) or --masks sam"
            )
        content = (max(1, round(tf.width * tf.sx)), max(1, round(tf.height * tf.sy)))
        return instance_masks(
            d.coefficients[rows],
            d.prototypes,
            boxes,
            content=content,
            input_size=(self.preprocess.width, self.preprocess.height),
            frame_size=(tf.width, tf.height),
            threshold=self.mask_threshold,
        )


class OnnxDetector(TensorDetector):
    """A local ONNX file through ONNX Runtime (``threads`` intra-op threads)."""

    def __init__(
        self,
        *,
        onnx_path: Path,
        threads: int | None = None,
        device: str | None = None,
        model_bytes: bytes | None = None,
        **kwargs: Any,
    ) -> None:
        self.device = device or "cpu"
        self._session = onnx_session(onnx_path, threads, device, model_bytes)  # model_bytes: already read
        first = self._session.get_inputs()[0]
        self._input = first.name
        self.dynamic_batch = bool(first.shape) and not isinstance(first.shape[0], int)
        outs = self._session.get_outputs()
        names = [o.name for o in outs]
        if kwargs.get("native_masks") and not any(len(o.shape) == 4 for o in outs):
            shapes = ", ".join(f"{o.name} {o.shape}" for o in outs)
            raise PrelabelError(
                f"--masks native needs a segmentation model with mask prototypes (an output of rank 4); "
                f"{kwargs.get('model_id')} has outputs {shapes}; use yolo11n-seg-coco or --masks sam"
            )
        super().__init__(output_names=names, device=device, **kwargs)

    def _infer(self, x: npt.NDArray[np.float32]) -> list[npt.NDArray[Any]]:
        return list(self._session.run(self._outputs, {self._input: x}))
