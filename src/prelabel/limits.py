"""Bounds on what one input may cost: decoded pixels per image, bytes per input, bytes per request body.

Defaults are generous for driving data (an 8K frame is 33 MP) and small enough that one hostile file cannot take the
machine's memory. Each limit can be raised with an environment variable (read when :func:`current` is called) or
by the flags of the command that takes the input; a refusal names the limit and how to raise it.
"""

from __future__ import annotations

import io
import os
import threading
import zlib
from dataclasses import dataclass, replace

from prelabel.errors import LimitExceededError, UnreadableInputError

ENV_MAX_PIXELS = "PRELABEL_MAX_PIXELS"
ENV_MAX_INPUT_BYTES = "PRELABEL_MAX_INPUT_BYTES"
ENV_MAX_BODY_BYTES = "PRELABEL_MAX_BODY_BYTES"
_PILLOW_LOCK = threading.Lock()


@dataclass(frozen=True)
class Limits:
    """``max_pixels``: width x height of one decoded image; ``max_input_bytes``: one input file read whole into
    memory (an image, a manifest, a labels file); ``max_body_bytes``: one HTTP request body."""

    max_pixels: int = 64_000_000
    max_input_bytes: int = 256 * 1024 * 1024
    max_body_bytes: int = 32 * 1024 * 1024

    def with_overrides(
        self, max_pixels: int | None = None, max_input_bytes: int | None = None, max_body_bytes: int | None = None
    ) -> Limits:
        return replace(
            self,
            max_pixels=self.max_pixels if max_pixels is None else max_pixels,
            max_input_bytes=self.max_input_bytes if max_input_bytes is None else max_input_bytes,
            max_body_bytes=self.max_body_bytes if max_body_bytes is None else max_body_bytes,
        )


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise UnreadableInputError(f"environment variable {name}", f"expected a positive integer; got {raw!r}")
    return value


def current() -> Limits:
    """The defaults, overridden by the ``PRELABEL_MAX_PIXELS/_INPUT_BYTES/_BODY_BYTES`` variables."""
    d = Limits()
    return Limits(
        max_pixels=_env_int(ENV_MAX_PIXELS, d.max_pixels),
        max_input_bytes=_env_int(ENV_MAX_INPUT_BYTES, d.max_input_bytes),
        max_body_bytes=_env_int(ENV_MAX_BODY_BYTES, d.max_body_bytes),
    )


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk (the first chunk, CRC checked as Pillow does); None otherwise."""
    if len(data) < 33 or not data.startswith(_PNG_SIGNATURE) or data[8:16] != b"\x00\x00\x00\x0dIHDR":
        return None
    if zlib.crc32(data[12:29]) != int.from_bytes(data[29:33], "big"):
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return (width, height) if width > 0 and height > 0 else None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from the image header only (no pixel decoding); None if Pillow cannot read the header.

    A PNG's is read straight from its IHDR chunk (a few microseconds; Pillow's open costs a few hundred on every
    input the service takes). Pillow's own decompression-bomb check is suspended for the header read, so that our
    limit is the one applied.
    """
    png = _png_size(data)
    if png is not None:
        return png
    from PIL import Image

    with _PILLOW_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            with Image.open(io.BytesIO(data)) as im:
                return int(im.width), int(im.height)
        except Exception:
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def check_pixels(width: int, height: int, item: str, limits: Limits | None = None) -> None:
    lim = limits or current()
    pixels = int(width) * int(height)
    if pixels > lim.max_pixels:
        raise LimitExceededError(
            item,
            f"decoded size {width}x{height} =",
            pixels,
            lim.max_pixels,
            f"raise it with {ENV_MAX_PIXELS} or --max-pixels",
        )


def check_image_header(data: bytes, item: str, limits: Limits | None = None) -> None:
    """Refuse an image whose header declares more pixels than allowed, before any decoding."""
    size = image_size(data)
    if size is not None:  # a format Pillow cannot read: the decoder will say what is wrong
        check_pixels(size[0], size[1], item, limits)


def check_bytes(size: int, item: str, limits: Limits | None = None, *, what: str = "input size (bytes)") -> None:
    lim = limits or current()
    if size > lim.max_input_bytes:
        raise LimitExceededError(
            item, what, size, lim.max_input_bytes, f"raise it with {ENV_MAX_INPUT_BYTES} or --max-input-bytes"
        )
