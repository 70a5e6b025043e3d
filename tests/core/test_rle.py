from __future__ import annotations

import numpy as np
import pytest

from prelabel.core import rle
from prelabel.core.labels import Mask


@pytest.mark.parametrize("seed", range(8))
def test_random_masks_round_trip(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 40, size=2)
    mask = rng.random((h, w)) > rng.random()
    counts = rle.encode_counts(mask)
    assert sum(counts) == h * w
    assert rle.decompress(rle.compress(counts)) == counts
    assert np.array_equal(rle.decode_counts(counts, h, w), mask)
    assert Mask.from_array(mask).area == int(mask.sum())


def test_column_major_counts_start_with_zeros() -> None:
    mask = np.array([[1, 0], [1, 1]], dtype=bool)  # column-major: 1 1 0 1
    assert rle.encode_counts(mask) == [0, 2, 1, 1]


def test_compressed_string_matches_coco() -> None:
    # pycocotools.mask.encode of a 4x4 mask with the 2x2 block at rows 1-2, cols 1-2 gives b'52203'
    mask = np.zeros((4, 4), dtype=bool)
    mask[1:3, 1:3] = True
    assert rle.encode_counts(mask) == [5, 2, 2, 2, 5]
    assert rle.compress([5, 2, 2, 2, 5]) == "52203"
