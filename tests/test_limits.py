"""Pixel and byte limits: a PNG that declares 30000x30000 is refused from its header, before decoding."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from prelabel import limits
from prelabel.errors import LimitExceededError
from prelabel.sources.images import decode_image
from tests.helpers.images import png_header_only


def test_header_size_is_read_without_decoding() -> None:
    assert limits.image_size(png_header_only(30000, 30000)) == (30000, 30000)


def test_png_size_is_read_from_ihdr_as_pillow_reads_it(kitti: Path) -> None:
    from PIL import Image

    for f in sorted((kitti / "image_2").glob("*.png"))[:10]:
        data = f.read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            assert limits.image_size(data) == (im.width, im.height)
    header = bytearray(png_header_only(640, 480))
    header[17] ^= 0xFF  # width changed without its CRC: not a readable header (as for Pillow)
    assert limits.image_size(bytes(header)) is None


def test_huge_declared_image_is_refused_naming_the_limit() -> None:
    with pytest.raises(LimitExceededError) as e:
        decode_image(png_header_only(30000, 30000), "bomb.png")
    msg = str(e.value)
    assert "bomb.png" in msg and "30000x30000" in msg and "PRELABEL_MAX_PIXELS" in msg


def test_limit_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    ok, png = cv2.imencode(".png", np.zeros((20, 30, 3), np.uint8))
    assert ok
    monkeypatch.setenv(limits.ENV_MAX_PIXELS, "500")
    with pytest.raises(LimitExceededError, match="30x20"):
        decode_image(png.tobytes(), "small.png")
    monkeypatch.setenv(limits.ENV_MAX_PIXELS, "600")
    assert decode_image(png.tobytes(), "small.png").shape == (20, 30, 3)


@pytest.mark.parametrize("raw", ["abc", "-1", "0"])
def test_bad_environment_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(limits.ENV_MAX_PIXELS, raw)
    with pytest.raises(Exception, match="PRELABEL_MAX_PIXELS.*positive integer"):
        limits.current()


def test_bytes_limit() -> None:
    lim = limits.Limits(max_input_bytes=10)
    limits.check_bytes(10, "a", lim)
    with pytest.raises(LimitExceededError, match="a: input size"):
        limits.check_bytes(11, "a", lim)


def test_bag_image_messages_are_checked_before_decoding() -> None:
    from prelabel.sources.imagemsg import decode_compressed, decode_raw

    with pytest.raises(LimitExceededError, match="30000x30000"):
        decode_compressed(np.frombuffer(png_header_only(30000, 30000), np.uint8), "png", "bag://b#/cam@1")
    with pytest.raises(LimitExceededError, match="30000x30000"):  # a raw Image's declared size, not its data
        decode_raw(b"\x00" * 16, "rgb8", 30000, 30000, 90000, False, "bag://b#/cam@2")
