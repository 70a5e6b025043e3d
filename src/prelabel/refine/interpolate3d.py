"""Keyframe interpolation of 3D boxes along a track: the boxes between two human keyframes, blended.

A box is ``[x, y, z, length, width, height, yaw]`` (metres, radians about up). Between keyframes at sequence
positions ``p1 < p2``, the box at ``p`` (``w = (p - p1) / (p2 - p1)``) has the centre and size blended linearly and
the yaw turned from the first keyframe's by ``w`` times the *shorter* way round to the second's (``3.1`` to ``-3.1``
turns 0.083 rad through pi, not 6.2 rad back through 0), wrapped into (-pi, pi]. Centre and size are rounded to
0.1 mm and yaw to 1e-5 rad, as the portal stores answers. A track is never extended past its first or last
keyframe.

The 3D review page does the same in the browser (``review/static/task3d_interp.js``); a Chromium test checks
both give the same boxes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence


def wrap(a: float) -> float:
    """An angle in (-pi, pi]."""
    return math.atan2(math.sin(a), math.cos(a))


def _round(v: float, n: int) -> float:
    # the browser's Math.round(v * 10 ** n) / 10 ** n: halves go up (Python's round() goes to even)
    return math.floor(v * 10**n + 0.5) / 10**n


def lerp_box(a: Sequence[float], b: Sequence[float], w: float) -> list[float]:
    """The box a fraction ``w`` (0..1) of the way from keyframe box ``a`` to ``b``."""
    if len(a) != 7 or len(b) != 7:
        raise ValueError(f"boxes must be [x, y, z, length, width, height, yaw]; got {len(a)} and {len(b)} values")
    out = [_round((1 - w) * p + w * q, 4) for p, q in zip(a[:6], b[:6], strict=True)]
    return [*out, _round(wrap(a[6] + w * wrap(b[6] - a[6])), 5)]


def interpolate_track(keyframes: Mapping[int, Sequence[float]], positions: Iterable[int]) -> dict[int, list[float]]:
    """The boxes at ``positions`` that lie strictly between two of the track's keyframes (position -> box).

    ``keyframes``: sequence position -> the human box there. Positions that are keyframes, or before the first or
    after the last keyframe, get nothing.
    """
    keys = sorted(keyframes)
    wanted = sorted(set(positions) - set(keys))
    out: dict[int, list[float]] = {}
    for p1, p2 in itertools.pairwise(keys):
        for p in wanted:
            if p1 < p < p2:
                out[p] = lerp_box(keyframes[p1], keyframes[p2], (p - p1) / (p2 - p1))
    return out
