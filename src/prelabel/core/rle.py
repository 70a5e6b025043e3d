"""COCO run-length encoding of binary masks, in numpy (no pycocotools).

COCO RLE runs over the mask in column-major (Fortran) order, starting with a run of zeros (possibly empty).
The compressed string form is COCO's: each count is written as 5-bit groups with a continuation bit, offset by 48
into printable ASCII, counts after the second stored as the difference to the count two places before.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def encode_counts(mask: npt.NDArray[np.bool_] | npt.NDArray[np.uint8]) -> list[int]:
    """Uncompressed COCO counts for a 2D mask of shape (height, width)."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2D (height, width); got shape {mask.shape}")
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return [0]
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0, *runs]
    return [int(r) for r in runs]


def decode_counts(counts: list[int], height: int, width: int) -> npt.NDArray[np.bool_]:
    total = int(sum(counts))
    if total != height * width:
        raise ValueError(f"RLE counts sum to {total}; expected height*width = {height}*{width} = {height * width}")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, counts)
    return flat.reshape((height, width), order="F")


def compress(counts: list[int]) -> str:
    """COCO's compressed string for uncompressed counts (same as pycocotools' ``rleToString``)."""
    out: list[str] = []
    for i, count in enumerate(counts):
        x = int(count)
        if i > 2:
            x -= int(counts[i - 2])
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def decompress(s: str) -> list[int]:
    """Inverse of :func:`compress` (pycocotools' ``rleFrString``)."""
    counts: list[int] = []
    p = 0
    n = len(s)
    while p < n:
        x = 0
        k = 0
        more = True
        while more:
            if p >= n:
                raise ValueError("truncated compressed RLE string")
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def area(counts: list[int]) -> int:
    return int(sum(counts[1::2]))


def bbox_xyxy(mask: npt.NDArray[np.bool_]) -> tuple[float, float, float, float] | None:
    """Tight pixel-edge box of the set pixels, or None for an empty mask."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)
