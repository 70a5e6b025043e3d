"""int8 variants of the zoo's ONNX detectors: ONNX Runtime static quantisation (QDQ), calibrated on real frames.

``quantize_entry(entry, images)`` writes ``<cache>/models/<id>/<version>/model.int8-<ops>.onnx`` once
(convolutions and matrix products only: weights int8 per channel, activations uint8; MinMax ranges from the
calibration images run through the model's own pre-processing, each image whole and as the square tiles
:class:`~prelabel.refine.tiling.TiledDetector` would feed it);
``load_int8(entry, images)`` loads a detector on it. Only ``onnx`` runtime entries can be quantised. Whether int8
is worth it is measured per model in ``benchmarks/bench_detectors.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel import storage
from prelabel.errors import PrelabelError
from prelabel.models.base import Detector
from prelabel.models.zoo import ModelEntry

INT8_RUNTIMES = ("onnx",)
# Only the compute-heavy ops. Quantising everything (the reshapes, concats and the heads' outputs) wrecked the
# decoded boxes of NanoDet and CenterNet (AP50 0 on KITTI); convolutions alone keep the outputs within a few %.
QUANTIZED_OPS = ("Conv", "MatMul", "Gemm")


def supports_int8(entry: ModelEntry) -> bool:
    return entry.runtime in INT8_RUNTIMES


def int8_path(entry: ModelEntry, cache: str | Path | None = None) -> Path:
    from prelabel.models.fetch import cache_dir, model_dir

    ops = "-".join(op.lower() for op in QUANTIZED_OPS)
    return model_dir(entry, cache_dir(cache)) / f"model.int8-{ops}.onnx"


def calibration_inputs(detector: Any, images: Sequence[npt.NDArray[np.uint8]]) -> Iterator[npt.NDArray[np.float32]]:
    """The detector's network inputs for each image and for each of its tiles."""
    from prelabel.core.geometry.boxes2d import tile_grid

    for image in images:
        h, w = image.shape[:2]
        yield detector.preprocess(image)[0]
        for t in tile_grid(w, h):
            if (t.width, t.height) != (w, h):
                yield detector.preprocess(np.ascontiguousarray(image[t.y0 : t.y1, t.x0 : t.x1]))[0]


def quantize_entry(
    entry: ModelEntry,
    images: Sequence[npt.NDArray[np.uint8]],
    cache: str | Path | None = None,
    *,
    force: bool = False,
) -> Path:
    """Quantise ``entry``'s ONNX graph once (QDQ, static, calibrated on ``images``); return the int8 file."""
    if not supports_int8(entry):
        raise PrelabelError(
            f"model {entry.ref} runs on {entry.runtime!r}; int8 quantisation needs one of: {', '.join(INT8_RUNTIMES)}"
        )
    out = int8_path(entry, cache)
    if out.exists() and not force:
        return out
    if not images:
        raise PrelabelError(f"quantising {entry.ref} needs calibration images; got none")
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from prelabel.models.loader import load_entry, prepare_entry

    files = prepare_entry(entry, cache)
    fp32 = files.get("onnx") or files.get("model")
    if fp32 is None:
        raise PrelabelError(f"model {entry.ref} has no ONNX file to quantise")
    detector = load_entry(entry, cache, threads=2)
    session = getattr(detector, "_session", None)
    if session is None or not hasattr(detector, "preprocess"):
        raise PrelabelError(f"model {entry.ref}: its backend does not expose the ONNX session and pre-processing")
    input_name = session.get_inputs()[0].name
    batches = [{input_name: x} for x in calibration_inputs(detector, images)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(batches)

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            return next(self._it, None)

    with storage.atomic_path(out) as staged:  # unique temp name: two workers quantising at once never clobber
        quantize_static(
            str(fp32), str(staged), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=list(QUANTIZED_OPS),
        )  # fmt: skip
    return out


def load_int8(
    entry: ModelEntry, images: Sequence[npt.NDArray[np.uint8]], cache: str | Path | None = None, **options: Any
) -> Detector:
    """A detector on the int8 graph (quantised on first use); ``options`` as for ``load_detector``."""
    from prelabel.models.loader import RUNTIMES, prepare_entry

    path = quantize_entry(entry, images, cache)
    files = {**prepare_entry(entry, cache), "onnx": path}
    merged = {**entry.options, **{k: v for k, v in options.items() if v is not None}}
    return RUNTIMES[entry.runtime](entry, files, **merged)
