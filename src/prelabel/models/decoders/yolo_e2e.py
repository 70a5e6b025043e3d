"""End-to-end Ultralytics exports (``nms=True``; YOLO11, YOLOv8/v10 exported with NMS inside the graph).

- Detection: one output (1, K, 6) rows ``x1 y1 x2 y2 score class`` in network-input pixels, best first; rows the
  graph did not fill are zero padding (score 0), so ``min_score`` drops them.
- Segmentation: output0 (1, K, 6 + M) with M mask coefficients after the six values, and prototypes
  output1 (1, M, Hp, Wp) covering the network input at 1/4 scale. The instance mask is
  ``sigmoid(coefficients @ prototypes)``, cropped to the box and resized to the frame (:func:`instance_masks`).

Options: ``normalized`` (coordinates are 0-1 fractions of the input), ``mask_threshold`` (default 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prelabel.models.decoders import Array, DecodeContext, Decoded, squeeze_batch


@dataclass
class InstanceDecoded(Decoded):
    """Decoded boxes that also carry mask coefficients (N, M) and the frame's prototypes (M, Hp, Wp)."""

    coefficients: Array | None = None
    prototypes: Array | None = None

    def keep(self, mask: Array) -> InstanceDecoded:
        coeffs = None if self.coefficients is None else self.coefficients[mask]
        return InstanceDecoded(self.xyxy[mask], self.scores[mask], self.class_ids[mask], coeffs, self.prototypes)


def _split(outputs: list[Array]) -> tuple[Array, Array | None]:
    rows: Array | None = None
    protos: Array | None = None
    for out in outputs:
        a = np.asarray(out)
        if a.ndim == 4 and protos is None:
            protos = squeeze_batch(a)
        elif a.ndim in (2, 3) and rows is None:
            rows = squeeze_batch(a)
    if rows is None or rows.ndim != 2 or rows.shape[1] < 6:
        shapes = [tuple(np.asarray(o).shape) for o in outputs]
        raise ValueError(f"yolo-e2e decoder needs an output (1, K, 6) or (1, K, 6 + M); got shapes {shapes}")
    return rows.astype(np.float32), protos


def decode(outputs: list[Array], ctx: DecodeContext) -> Decoded:
    rows, protos = _split(outputs)
    rows = rows[rows[:, 4] >= ctx.min_score]
    xyxy = rows[:, :4].copy()
    if ctx.options.get("normalized"):
        xyxy[:, [0, 2]] *= ctx.input_width
        xyxy[:, [1, 3]] *= ctx.input_height
    scores = rows[:, 4].astype(np.float32)
    class_ids = np.rint(rows[:, 5]).astype(np.int64)
    n_coeff = rows.shape[1] - 6
    if n_coeff and protos is not None:
        if protos.shape[0] != n_coeff:
            raise ValueError(f"yolo-e2e: {n_coeff} mask coefficients per row but prototypes of shape {protos.shape}")
        return InstanceDecoded(xyxy, scores, class_ids, rows[:, 6:], np.asarray(protos, np.float32))
    return Decoded(xyxy, scores, class_ids)


def instance_masks(
    coefficients: Array,
    prototypes: Array,
    boxes_frame: Array,
    content: tuple[int, int],
    input_size: tuple[int, int],
    frame_size: tuple[int, int],
    threshold: float = 0.5,
) -> Array:
    """Boolean masks (N, H, W) over the frame.

    ``content`` is the (width, height) of the resized image inside the network input (the rest is letterbox
    padding), ``input_size`` the network input (width, height), ``frame_size`` the frame (width, height) and
    ``boxes_frame`` the boxes (N, 4) in frame pixels, to which each mask is cropped.
    """
    import cv2

    n = len(coefficients)
    fw, fh = frame_size
    out = np.zeros((n, fh, fw), dtype=bool)
    if n == 0:
        return out
    m, ph, pw = prototypes.shape
    logits = (np.asarray(coefficients, np.float32) @ prototypes.reshape(m, -1)).reshape(n, ph, pw)
    # the prototypes cover the network input; keep the part that shows the image (drop the letterbox padding)
    cw = max(1, min(pw, round(content[0] * pw / input_size[0])))
    ch = max(1, min(ph, round(content[1] * ph / input_size[1])))
    cut = 1.0 / (1.0 + np.exp(-logits[:, :ch, :cw]))
    for i in range(n):
        x1, y1, x2, y2 = boxes_frame[i]
        c0, r0 = max(0, int(np.floor(x1))), max(0, int(np.floor(y1)))
        c1, r1 = min(fw, int(np.ceil(x2))), min(fh, int(np.ceil(y2)))
        if c1 <= c0 or r1 <= r0:
            continue
        full = cv2.resize(np.ascontiguousarray(cut[i]), (fw, fh), interpolation=cv2.INTER_LINEAR)
        out[i, r0:r1, c0:c1] = full[r0:r1, c0:c1] > threshold
    return out
