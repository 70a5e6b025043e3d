"""Overlap of binary instance masks held as COCO RLE (:class:`~prelabel.core.labels.Mask`), as in pycocotools.

Masks are decoded once to packed bits (1 bit per pixel), so ``n`` masks of a 1242x375 frame take ``n`` x 58 KB,
and each pair costs one AND and a bit count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from prelabel.core import rle
from prelabel.core.geometry.boxes2d import METRICS, overlap_from_areas
from prelabel.core.labels import Mask

F64 = npt.NDArray[np.float64]


def _packed(masks: Sequence[Mask], size: tuple[int, int] | None) -> tuple[npt.NDArray[np.uint8], F64]:
    rows = []
    for i, m in enumerate(masks):
        if size is not None and tuple(m.size) != size:
            raise ValueError(f"mask {i}: expected size [height, width] = {list(size)}; got {list(m.size)}")
        counts = rle.decompress(m.counts)
        values = np.zeros(len(counts), dtype=bool)
        values[1::2] = True
        rows.append(np.packbits(np.repeat(values, counts)))
    bits = np.stack(rows) if rows else np.zeros((0, 0), np.uint8)
    areas = np.bitwise_count(bits).sum(axis=1, dtype=np.int64).astype(np.float64) if rows else np.zeros(0)
    return bits, areas


def mask_overlap(
    a: Sequence[Mask], b: Sequence[Mask], metric: str = "iou", *, crowd: npt.ArrayLike | None = None
) -> F64:
    """Pairwise overlap of masks ``a`` (rows) and ``b`` (columns), ``(len(a), len(b))``; the metrics of
    :func:`~prelabel.core.geometry.boxes2d.overlap` (``iou``, ``ioa``, ``crowd``). All masks must share one size."""
    if metric not in METRICS:
        from prelabel.errors import UnknownNameError

        raise UnknownNameError("overlap metric", metric, METRICS)
    if not a or not b:
        return np.zeros((len(a), len(b)))
    size = (int(a[0].size[0]), int(a[0].size[1]))
    pa, area_a = _packed(a, size)
    pb, area_b = _packed(b, size)
    inter = np.empty((len(a), len(b)))
    for i in range(len(a)):
        inter[i] = np.bitwise_count(pa[i][None, :] & pb).sum(axis=1, dtype=np.int64)
    c = None
    if metric == "crowd" and crowd is not None:
        c = np.asarray(crowd, dtype=bool).reshape(-1)
        if c.shape != (len(b),):
            raise ValueError(f"crowd: expected one flag per mask of b, shape ({len(b)},); got {c.shape}")
    return overlap_from_areas(inter, area_a, area_b, metric, crowd=c)
