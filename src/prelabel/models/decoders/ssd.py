"""SSD-style outputs: one box tensor (N, 4) and one score tensor (N, C) (or (N,) scores with (N,) classes).

Options: ``box_format`` ``xyxy`` (default) | ``yxyx`` | ``cxcywh``; ``normalized`` true/false (default: true when
every coordinate is within [-0.5, 1.5]); ``background`` true when score column 0 is a background class to drop;
``sigmoid`` / ``softmax`` true to activate raw logits.
"""

from __future__ import annotations

import numpy as np

from prelabel.models.decoders import Array, DecodeContext, Decoded, best_class, cxcywh_to_xyxy, squeeze_batch


def _activate(scores: Array, ctx: DecodeContext) -> Array:
    if ctx.options.get("sigmoid"):
        return 1.0 / (1.0 + np.exp(-scores))
    if ctx.options.get("softmax"):
        e = np.exp(scores - scores.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return scores


def decode(outputs: list[Array], ctx: DecodeContext) -> Decoded:
    arrays = [squeeze_batch(o).astype(np.float32) for o in outputs]
    boxes = next((a for a in arrays if a.ndim == 2 and a.shape[1] == 4), None)
    if boxes is None:
        raise ValueError(f"ssd decoder needs a (N, 4) box output; got shapes {[a.shape for a in arrays]}")
    rest = [a for a in arrays if a is not boxes]
    n = len(boxes)
    fmt = ctx.options.get("box_format", "xyxy")
    if fmt == "yxyx":
        boxes = boxes[:, [1, 0, 3, 2]]
    elif fmt == "cxcywh":
        boxes = cxcywh_to_xyxy(boxes)
    normalized = ctx.options.get("normalized")
    if normalized is None:
        normalized = bool(n) and float(boxes.min()) >= -0.5 and float(boxes.max()) <= 1.5
    if normalized:
        boxes = boxes * np.array([ctx.input_width, ctx.input_height] * 2, np.float32)
    matrix = next((a for a in rest if a.ndim == 2 and a.shape[0] == n), None)
    if matrix is not None:
        scores = _activate(matrix, ctx)
        if ctx.options.get("background"):
            scores = scores[:, 1:]
        rows, best, cls = best_class(scores, ctx.min_score)
        return Decoded(boxes[rows], best, cls)
    vectors = [a.reshape(-1) for a in rest if a.size == n]
    if len(vectors) < 2:
        raise ValueError(
            f"ssd decoder needs (N, C) scores or (N,) scores + (N,) classes; got {[a.shape for a in rest]}"
        )
    scores, classes = vectors[0], vectors[1]
    keep = scores >= ctx.min_score
    return Decoded(boxes[keep], scores[keep], classes[keep].astype(np.int64))
