"""Keyframe interpolation of 3D boxes: centre and size blended, yaw the short way round, nothing past the ends."""

from __future__ import annotations

import math

import pytest

from prelabel.refine.interpolate3d import interpolate_track, lerp_box


def test_yaw_turns_the_short_way_through_pi() -> None:
    a = [0.0, 0.0, 0.0, 4.0, 2.0, 1.5, 3.1]
    b = [2.0, 4.0, 1.0, 5.0, 2.0, 1.5, -3.1]
    mid = lerp_box(a, b, 0.5)
    assert mid[:6] == [1.0, 2.0, 0.5, 4.5, 2.0, 1.5]
    assert abs(mid[6]) == pytest.approx(math.pi, abs=1e-5)  # through pi, not back through 0
    quarter = lerp_box(a, b, 0.25)
    assert quarter[6] == pytest.approx(3.1 + 0.25 * (2 * math.pi - 6.2), abs=1e-5)
    assert lerp_box(a, b, 0.0) == [*a[:6], 3.1] and lerp_box(a, b, 1.0)[6] == pytest.approx(-3.1, abs=1e-5)


def test_track_filled_only_between_keyframes() -> None:
    keys = {2: [0.0, 0.0, 0.0, 4.0, 2.0, 1.5, 0.0], 6: [4.0, 0.0, 0.0, 4.0, 2.0, 1.5, math.pi / 2]}
    out = interpolate_track(keys, range(10))
    assert sorted(out) == [3, 4, 5]  # not the keyframes, not before the first or after the last
    assert out[3][0] == 1.0 and out[5][6] == pytest.approx(3 * math.pi / 8, abs=1e-5)
    assert interpolate_track({4: keys[2]}, range(10)) == {}
    with pytest.raises(ValueError, match=r"\[x, y, z, length, width, height, yaw\]"):
        lerp_box([0.0] * 6, keys[2], 0.5)
