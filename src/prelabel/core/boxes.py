"""Vectorised operations on ``xyxy`` pixel boxes (N, 4)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]


def area(xyxy: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def iou_matrix(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Pairwise IoU, shape (len(a), len(b))."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = area(a)[:, None] + area(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return out


def nms(
    xyxy: npt.NDArray[np.floating],
    scores: npt.NDArray[np.floating],
    iou_threshold: float = 0.5,
    class_ids: npt.NDArray[np.integer] | None = None,
) -> npt.NDArray[np.int64]:
    """Greedy non-maximum suppression; indices kept, best first. Class-aware when ``class_ids`` is given."""
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    if class_ids is not None:
        # offset boxes per class so that boxes of different classes never overlap
        span = float(boxes.max()) + 1.0
        boxes = boxes + (np.asarray(class_ids, dtype=np.float64) * span)[:, None]
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        ious = iou_matrix(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)
