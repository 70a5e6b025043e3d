"""Deprecated location, kept so code written against prelabel 0.1 still imports: use
:mod:`prelabel.core.geometry.boxes2d` (``overlap``, ``nms``, ``area``)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from prelabel.core.geometry.boxes2d import area, nms, overlap

__all__ = ["area", "iou_matrix", "nms"]


def iou_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Pairwise IoU, shape (len(a), len(b)): ``overlap(a, b, "iou")``."""
    return overlap(a, b, "iou")
