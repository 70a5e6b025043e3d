"""DETR-style set prediction: class logits (Q, C [+ 1 no-object]) and boxes (Q, 4) as normalised cx cy w h.

Options: ``activation`` ``softmax`` (default when there are C + 1 columns: the last one is "no object") or
``sigmoid`` (RT-DETR, Deformable DETR: C columns, no no-object class); ``box_format`` ``cxcywh`` (default) | ``xyxy``;
``normalized`` (default true).
"""

from __future__ import annotations

import numpy as np

from prelabel.models.decoders import Array, DecodeContext, Decoded, best_class, cxcywh_to_xyxy, squeeze_batch


def decode(outputs: list[Array], ctx: DecodeContext) -> Decoded:
    arrays = [squeeze_batch(o).astype(np.float32) for o in outputs]
    c = ctx.num_classes
    names = ctx.output_names if len(ctx.output_names) == len(arrays) else [""] * len(arrays)
    named_box = [i for i, n in enumerate(names) if "box" in n.lower()]
    box_i = named_box[0] if named_box else None
    if box_i is None:  # the (Q, 4) output that is not the only logits candidate; DETR exports logits first
        fours = [i for i, a in enumerate(arrays) if a.ndim == 2 and a.shape[1] == 4]
        box_i = fours[-1] if fours else None
    logits = next((a for i, a in enumerate(arrays) if i != box_i and a.ndim == 2 and a.shape[1] in (c, c + 1)), None)
    boxes = arrays[box_i] if box_i is not None else None
    if logits is None or boxes is None:
        raise ValueError(
            f"detr decoder needs (Q, {c} or {c + 1}) logits and (Q, 4) boxes; got {[a.shape for a in arrays]}"
        )
    activation = ctx.options.get("activation") or ("softmax" if logits.shape[1] == c + 1 else "sigmoid")
    if activation == "softmax":
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = e / e.sum(axis=1, keepdims=True)
        if logits.shape[1] == c + 1:
            probs = probs[:, :c]
    else:
        probs = 1.0 / (1.0 + np.exp(-logits))
    rows, best, cls = best_class(probs, ctx.min_score)
    b = boxes[rows]
    if ctx.options.get("box_format", "cxcywh") == "cxcywh":
        b = cxcywh_to_xyxy(b)
    if ctx.options.get("normalized", True):
        b = b * np.array([ctx.input_width, ctx.input_height] * 2, np.float32)
    return Decoded(b.astype(np.float32), best, cls)
