"""CenterNet outputs, in either of two forms.

- Decoded in the graph: one (K, 6) output ``x1 y1 x2 y2 score class`` in input pixels (the zoo's
  CenterNet-MobileNetV3).
- Raw heads: a heatmap (H, W, C) or (C, H, W) of class scores and a size head with 2 channels (w, h) or 4 channels
  (left, top, right, bottom distances), plus an optional 2-channel centre offset. Peaks are the cells equal to
  their 3x3 neighbourhood maximum; sizes are in heatmap cells (x stride = input / heatmap size) unless
  ``size_in_pixels`` is true. ``layout`` ``nhwc`` | ``nchw`` (default: guessed from where C is),
  ``sigmoid`` true when the heatmap is logits, ``top_k`` (default 100).
"""

from __future__ import annotations

import numpy as np

from prelabel.models.decoders import Array, DecodeContext, Decoded, squeeze_batch


def _peaks(heat: Array) -> Array:
    """Boolean (H, W, C): cells equal to their 3x3 neighbourhood max."""
    h, w, _ = heat.shape
    padded = np.pad(heat, ((1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    best = np.full_like(heat, -np.inf)
    for dy in range(3):
        for dx in range(3):
            best = np.maximum(best, padded[dy : dy + h, dx : dx + w])
    return heat >= best


def _hwc(a: Array, channels: int | None, layout: str | None) -> Array:
    if a.ndim != 3:
        raise ValueError(f"centernet head must be 3-D after the batch; got {a.shape}")
    if layout == "nchw" or (layout is None and channels is not None and a.shape[0] == channels != a.shape[2]):
        return a.transpose(1, 2, 0)
    return a


def decode(outputs: list[Array], ctx: DecodeContext) -> Decoded:
    arrays = [squeeze_batch(o).astype(np.float32) for o in outputs]
    dets = next((a for a in arrays if a.ndim == 2 and a.shape[1] == 6), None)
    if dets is not None:
        keep = dets[:, 4] >= ctx.min_score
        d = dets[keep]
        return Decoded(d[:, :4].copy(), d[:, 4].copy(), d[:, 5].astype(np.int64))
    layout = ctx.options.get("layout")
    c = ctx.num_classes
    heads = [a for a in arrays if a.ndim == 3]
    if not any(c in (a.shape[0], a.shape[2]) for a in heads):
        raise ValueError(f"centernet: no heatmap with {c} classes among outputs {[a.shape for a in arrays]}")
    heat_raw = next(h for h in heads if c in (h.shape[0], h.shape[2]))
    rest = [a for a in heads if a is not heat_raw]
    others = [_hwc(a, a.shape[0] if a.shape[0] in (2, 4) and a.shape[2] not in (2, 4) else None, layout) for a in rest]
    size = next((a for a in others if a.shape[2] == 4), None)
    if size is None:
        size = next((a for a in others if a.shape[2] == 2), None)
    if size is None:
        raise ValueError(f"centernet: no 2- or 4-channel size head among outputs {[a.shape for a in arrays]}")
    offset = next((a for a in others if a.shape[2] == 2 and a is not size), None)
    heat = _hwc(heat_raw, c, layout)
    if ctx.options.get("sigmoid"):
        heat = 1.0 / (1.0 + np.exp(-heat))
    hh, hw, _ = heat.shape
    stride_x, stride_y = ctx.input_width / hw, ctx.input_height / hh
    cand = _peaks(heat) & (heat >= ctx.min_score)
    ys, xs, cs = np.nonzero(cand)
    scores = heat[ys, xs, cs]
    order = np.argsort(-scores, kind="stable")[: int(ctx.options.get("top_k", 100))]
    ys, xs, cs, scores = ys[order], xs[order], cs[order], scores[order]
    cx = xs.astype(np.float32)
    cy = ys.astype(np.float32)
    if offset is not None:
        cx = cx + offset[ys, xs, 0]
        cy = cy + offset[ys, xs, 1]
    s = size[ys, xs]
    in_px = bool(ctx.options.get("size_in_pixels"))
    fx, fy = (1.0, 1.0) if in_px else (stride_x, stride_y)
    px, py = cx * stride_x, cy * stride_y
    if size.shape[2] == 4:
        xyxy = np.stack([px - s[:, 0] * fx, py - s[:, 1] * fy, px + s[:, 2] * fx, py + s[:, 3] * fy], axis=1)
    else:
        xyxy = np.stack(
            [px - s[:, 0] * fx / 2, py - s[:, 1] * fy / 2, px + s[:, 0] * fx / 2, py + s[:, 1] * fy / 2], axis=1
        )
    return Decoded(xyxy.astype(np.float32), scores.astype(np.float32), cs.astype(np.int64))
