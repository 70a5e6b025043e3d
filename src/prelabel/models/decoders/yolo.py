"""YOLO raw heads.

- ``yolov5``: (N, 5 + C) rows ``cx cy w h objectness class-scores`` in input pixels; score = objectness x class.
- ``yolov8``: (4 + C, N) (as exported) or (N, 4 + C) rows ``cx cy w h class-scores``; no objectness.

Options: ``normalized`` true when coordinates are 0-1 fractions of the input size.
"""

from __future__ import annotations

import numpy as np

from prelabel.models.decoders import Array, DecodeContext, Decoded, best_class, cxcywh_to_xyxy, squeeze_batch


def _rows(outputs: list[Array], ctx: DecodeContext, extra: int) -> Array:
    out = squeeze_batch(outputs[0]).astype(np.float32)
    if out.ndim != 2:
        raise ValueError(f"yolo decoder needs one (N, {extra} + C) output; got shape {out.shape}")
    width = extra + ctx.num_classes
    if out.shape[1] != width and out.shape[0] == width:
        out = out.T
    if out.shape[1] != width:
        raise ValueError(
            f"yolo output has rows of {out.shape[1]} values; expected {extra} + {ctx.num_classes} classes = {width}"
        )
    if ctx.options.get("normalized"):
        out = out.copy()
        out[:, [0, 2]] *= ctx.input_width
        out[:, [1, 3]] *= ctx.input_height
    return out


def decode_v5(outputs: list[Array], ctx: DecodeContext) -> Decoded:
    rows = _rows(outputs, ctx, 5)
    rows = rows[rows[:, 4] >= ctx.min_score]
    keep, best, cls = best_class(rows[:, 5:] * rows[:, 4:5], ctx.min_score)
    return Decoded(cxcywh_to_xyxy(rows[keep, :4]), best, cls)


def decode_v8(outputs: list[Array], ctx: DecodeContext) -> Decoded:
    rows = _rows(outputs, ctx, 4)
    keep, best, cls = best_class(rows[:, 4:], ctx.min_score)
    return Decoded(cxcywh_to_xyxy(rows[keep, :4]), best, cls)
