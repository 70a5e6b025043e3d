"""Output decoders: raw network outputs -> boxes in network-input pixels, scores, class ids.

One module per family; :data:`REGISTRY` maps the names used in manifests and ``--decoder`` to them (built-ins and
``prelabel.decoders`` entry points, ``name = "package.module:decode"``). A decoder takes
the outputs in the model's output order plus a :class:`DecodeContext`; it does not apply NMS (the backend does,
as ``nms`` says). Unknown names list the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.plugins import Registry

Array = npt.NDArray[Any]


@dataclass
class DecodeContext:
    """What a decoder needs to know besides the outputs."""

    input_width: int
    input_height: int
    num_classes: int
    min_score: float = 0.25
    output_names: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Decoded:
    """Candidate boxes in network-input pixels (xyxy), before NMS."""

    xyxy: Array
    scores: Array
    class_ids: Array

    @classmethod
    def empty(cls) -> Decoded:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def keep(self, mask: Array) -> Decoded:
        return Decoded(self.xyxy[mask], self.scores[mask], self.class_ids[mask])


Decoder = Callable[[list[Array], DecodeContext], Decoded]


def cxcywh_to_xyxy(b: Array) -> Array:
    b = np.asarray(b, dtype=np.float32)
    out = np.empty_like(b)
    out[..., 0] = b[..., 0] - b[..., 2] / 2
    out[..., 1] = b[..., 1] - b[..., 3] / 2
    out[..., 2] = b[..., 0] + b[..., 2] / 2
    out[..., 3] = b[..., 1] + b[..., 3] / 2
    return out


def best_class(scores: Array, min_score: float) -> tuple[Array, Array, Array]:
    """Per-row best class: (row indices kept, scores, class ids) for rows whose best score >= min_score."""
    cls = np.argmax(scores, axis=1)
    best = scores[np.arange(len(scores)), cls]
    rows = np.nonzero(best >= min_score)[0]
    return rows, best[rows].astype(np.float32), cls[rows].astype(np.int64)


def squeeze_batch(x: Array) -> Array:
    x = np.asarray(x)
    return x[0] if x.ndim >= 2 and x.shape[0] == 1 else x


def _check_decoder(name: str, obj: Any) -> Decoder:
    if not callable(obj):
        raise TypeError(f"expected a decode(outputs, context) function, got {type(obj).__name__}")
    return obj


#: name -> decoder, as pyproject.toml declares them in the ``prelabel.decoders`` group.
BUILTINS = {
    "centernet": "prelabel.models.decoders.centernet:decode",
    "detr": "prelabel.models.decoders.detr:decode",
    "nanodet-gfl": "prelabel.models.decoders.gfl:decode",
    "ssd": "prelabel.models.decoders.ssd:decode",
    "yolov5": "prelabel.models.decoders.yolo:decode_v5",
    "yolov8": "prelabel.models.decoders.yolo:decode_v8",
    "yolo-e2e": "prelabel.models.decoders.yolo_e2e:decode",
}
REGISTRY: Registry[Decoder] = Registry("prelabel.decoders", "decoder", BUILTINS, _check_decoder)


def get_decoder(name: str) -> Decoder:
    """The decoder called ``name``; an unknown name lists the valid ones."""
    return REGISTRY.get(name)
