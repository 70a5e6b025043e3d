"""Mask overlap on COCO RLE: hand-computed values and pycocotools' own answers."""

from __future__ import annotations

import numpy as np
import pytest

from prelabel.core.geometry.masks2d import mask_overlap
from prelabel.core.labels import Mask


def test_mask_overlap_hand_values_and_pycocotools() -> None:
    a = np.zeros((6, 8), bool)
    a[0:4, 0:4] = True  # 16 px
    b = np.zeros((6, 8), bool)
    b[2:6, 2:6] = True  # 16 px, 4 shared
    masks = [Mask.from_array(a), Mask.from_array(b), Mask.from_array(np.zeros((6, 8), bool))]
    got = mask_overlap(masks, masks)
    assert np.allclose(got, [[1, 4 / 28, 0], [4 / 28, 1, 0], [0, 0, 0]])  # empty masks: 0, not NaN
    assert mask_overlap(masks[:1], masks[1:2], "ioa")[0, 0] == pytest.approx(4 / 16)
    mask_api = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(3)
    arrays = [rng.random((37, 53)) < p for p in (0.1, 0.3, 0.5, 0.7)]
    arrays.append(np.zeros((37, 53), bool))
    ours = [Mask.from_array(x) for x in arrays]
    theirs = [{"size": list(m.size), "counts": m.counts.encode()} for m in ours]
    for crowd in ([False] * 5, [True, False, True, False, True]):
        expected = mask_api.iou(theirs, theirs, np.asarray(crowd, np.uint8))
        assert np.allclose(mask_overlap(ours, ours, "crowd", crowd=crowd), expected, atol=1e-12)
