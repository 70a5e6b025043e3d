"""NanoDet / GFL heads: per level, class scores (N_l, C) and box distributions (N_l, 4 x (reg_max + 1)).

Either one pair of outputs per stride (matched by row count: N_l = (H / s) x (W / s)) or one merged output
(N, C + 4 x (reg_max + 1)) over all levels in stride order. A box side is the softmax expectation over the bins
times the stride, measured from the cell centre ``(grid + center_offset) x stride``.

Options: ``strides`` (default [8, 16, 32]), ``reg_max`` (default 7), ``center_offset`` (default 0.5; checked on
KITTI frames for the zoo's NanoDet-m, where 0.5 matched the labels and 0 did not), ``sigmoid`` true when scores
are logits.
"""

from __future__ import annotations

import numpy as np

from prelabel.models.decoders import Array, DecodeContext, Decoded, best_class, squeeze_batch


def _centres(ctx: DecodeContext, stride: int, offset: float) -> Array:
    nx = int(np.ceil(ctx.input_width / stride))
    ny = int(np.ceil(ctx.input_height / stride))
    gy, gx = np.divmod(np.arange(nx * ny), nx)
    return np.stack([(gx + offset) * stride, (gy + offset) * stride], axis=1).astype(np.float32)


def _level(cls: Array, reg: Array, stride: int, ctx: DecodeContext, bins: int, offset: float) -> Decoded:
    if ctx.options.get("sigmoid"):
        cls = 1.0 / (1.0 + np.exp(-cls))
    rows, best, cid = best_class(cls, ctx.min_score)
    if not len(rows):
        return Decoded.empty()
    logits = reg[rows].reshape(len(rows), 4, bins)
    e = np.exp(logits - logits.max(axis=2, keepdims=True))
    dist = (e / e.sum(axis=2, keepdims=True) * np.arange(bins, dtype=np.float32)).sum(axis=2) * stride
    c = _centres(ctx, stride, offset)[rows]
    xyxy = np.concatenate([c - dist[:, :2], c + dist[:, 2:]], axis=1)
    return Decoded(xyxy.astype(np.float32), best, cid)


def decode(outputs: list[Array], ctx: DecodeContext) -> Decoded:
    strides = [int(s) for s in ctx.options.get("strides", [8, 16, 32])]
    bins = int(ctx.options.get("reg_max", 7)) + 1
    offset = float(ctx.options.get("center_offset", 0.5))
    c = ctx.num_classes
    arrays = [squeeze_batch(o).astype(np.float32) for o in outputs]
    counts = [int(np.ceil(ctx.input_width / s) * np.ceil(ctx.input_height / s)) for s in strides]
    parts: list[Decoded] = []
    if len(arrays) == 1:
        merged = arrays[0]
        if merged.ndim != 2 or merged.shape[1] != c + 4 * bins or len(merged) != sum(counts):
            raise ValueError(f"nanodet-gfl merged output must be ({sum(counts)}, {c} + 4 x {bins}); got {merged.shape}")
        start = 0
        for s, n in zip(strides, counts, strict=True):
            block = merged[start : start + n]
            parts.append(_level(block[:, :c], block[:, c:], s, ctx, bins, offset))
            start += n
    else:
        for s, n in zip(strides, counts, strict=True):
            cls = next((a for a in arrays if a.shape == (n, c)), None)
            reg = next((a for a in arrays if a.shape == (n, 4 * bins)), None)
            if cls is None or reg is None:
                raise ValueError(
                    f"nanodet-gfl: stride {s} needs outputs ({n}, {c}) and ({n}, {4 * bins}); "
                    f"got {[a.shape for a in arrays]}"
                )
            parts.append(_level(cls, reg, s, ctx, bins, offset))
    parts = [p for p in parts if len(p.scores)]
    if not parts:
        return Decoded.empty()
    return Decoded(
        np.concatenate([p.xyxy for p in parts]),
        np.concatenate([p.scores for p in parts]),
        np.concatenate([p.class_ids for p in parts]),
    )
