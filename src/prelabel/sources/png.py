"""A faster decoder for the simplest PNGs: 8-bit RGB, not interlaced, every row filtered with None or Sub.

KITTI's camera frames are such PNGs (every row uses the Sub filter). OpenCV (libpng) decodes a 1242x375 frame in
about 10 ms of CPU, most of it zlib's inflate. Here ISA-L's inflate (``isal``, about twice as fast as zlib) and the
Sub filter undone as a prefix sum along each row (through OpenCV's integral image, into int32 buffers each thread
reuses: fresh ones cost thousands of page faults a frame) give the same pixels in 7-8 ms. Any other PNG (palette,
grey, alpha, 16-bit, interlaced, a row with the Up, Average or Paeth filter, a chunk that could change the pixels,
a bad CRC or zlib stream, too much or too little data) gets ``None``: OpenCV decodes it, as before. So the pixels
are always exactly OpenCV's (``tests/sources/test_png.py`` checks both).
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: ancillary chunks that leave the decoded pixels alone (any other chunk sends the file to OpenCV)
INERT = frozenset({b"tEXt", b"zTXt", b"iTXt", b"tIME", b"pHYs"})
#: the integral image sums in int32: above this many pixels (255 each) a plain prefix sum is used instead
INTEGRAL_MAX_PIXELS = (2**31 - 1) // 255


def _zlib() -> tuple[Callable[[], Any], Callable[..., int]]:
    """(a decompressobj factory, crc32): ISA-L's, or zlib's when isal is missing (same bytes, slower)."""
    try:
        from isal import isal_zlib
    except ImportError:  # isal is a dependency; without it zlib gives the same bytes, slower
        return zlib.decompressobj, zlib.crc32
    return isal_zlib.decompressobj, isal_zlib.crc32


def decode_simple_png(data: bytes) -> npt.NDArray[np.uint8] | None:
    """RGB uint8 (H, W, 3) for a PNG this module handles (see above), else ``None`` (decode it with OpenCV)."""
    if not data.startswith(SIGNATURE):
        return None
    try:
        found = _idat(data)
    except (struct.error, ValueError):
        return None
    if found is None:
        return None
    width, height, idat = found
    inflater, _ = _zlib()
    stride = width * 3 + 1
    expected = height * stride
    try:  # bounded: a stream that inflates past the declared size stops one byte over it (no zip bomb)
        stream = inflater()
        raw = stream.decompress(b"".join(idat), expected + 1)
    except Exception:  # a bad zlib stream: OpenCV says what is wrong
        return None
    if len(raw) != expected or not stream.eof:
        return None
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride)
    filters = rows[:, 0]
    if (filters > 1).any():  # Up, Average or Paeth rows: OpenCV's C loops undo those
        return None
    pixels = rows[:, 1:].reshape(height, width, 3)
    out = _row_prefix_sum(pixels)
    plain = filters == 0
    if plain.any():
        out[plain] = pixels[plain]
    return out


_HEAD = struct.Struct(">I4s")
_CRC = struct.Struct(">I")
_IHDR = struct.Struct(">IIBBBBB")


def _idat(data: bytes) -> tuple[int, int, list[Any]] | None:
    """(width, height, the IDAT payloads in order) for a well-formed PNG of the handled kind, else None."""
    _, crc32 = _zlib()
    head, crc_at = _HEAD.unpack_from, _CRC.unpack_from
    pos, end = len(SIGNATURE), len(data)
    view = memoryview(data)
    parts: list[Any] = []
    size: tuple[int, int] | None = None
    last = b""
    while pos + 12 <= end:
        length, kind = head(data, pos)
        body_end = pos + 8 + length
        if body_end + 4 > end or crc32(view[pos + 4 : body_end]) != crc_at(data, body_end)[0]:
            return None  # truncated, or a bad CRC
        if kind == b"IDAT":
            if size is None or (parts and last != b"IDAT"):
                return None  # IDAT chunks must be consecutive
            parts.append(view[pos + 8 : body_end])
        elif kind == b"IHDR":
            if size is not None or length != 13:
                return None
            width, height, *form = _IHDR.unpack_from(data, pos + 8)
            if form != [8, 2, 0, 0, 0] or not width or not height:  # 8-bit RGB, deflate, PNG filters, progressive
                return None
            size = (width, height)
        elif kind == b"IEND":
            return (size[0], size[1], parts) if size is not None and parts else None
        elif kind not in INERT:
            return None
        last = kind
        pos = body_end + 4
    return None  # no IEND


def _row_prefix_sum(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Per channel, each row's running sum modulo 256 (the Sub filter undone)."""
    import cv2

    h, w = pixels.shape[:2]
    if h * w > INTEGRAL_MAX_PIXELS:
        return np.cumsum(pixels, axis=1, dtype=np.uint8)
    total, rows = _scratch(h, w)  # reused: fresh buffers this size cost more in page faults than the sums
    cv2.integral(pixels, sum=total, sdepth=cv2.CV_32S)  # (h + 1, w + 1, 3): sums over rows above and columns left
    np.subtract(total[1:, 1:], total[:-1, 1:], out=rows)  # one row's running sum: < 2**31, exact
    return rows.astype(np.uint8)  # modulo 256


_local = threading.local()


def _scratch(h: int, w: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """This thread's int32 buffers for an ``h`` x ``w`` frame (the last size it decoded)."""
    held = getattr(_local, "buffers", None)
    if held is None or held[1].shape[:2] != (h, w):
        held = (np.empty((h + 1, w + 1, 3), np.int32), np.empty((h, w, 3), np.int32))
        _local.buffers = held
    return held
