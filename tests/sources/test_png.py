"""The fast PNG path gives exactly OpenCV's pixels for every PNG it takes (KITTI's frames, and PNGs written here
with None and Sub rows), and hands everything else back to OpenCV."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from prelabel.errors import UnreadableInputError
from prelabel.sources.images import decode_image
from prelabel.sources.png import SIGNATURE, decode_simple_png


def opencv(data: bytes) -> npt.NDArray[np.uint8] | None:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)  # type: ignore[no-any-return]


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def write_png(rgb: npt.NDArray[np.uint8], filters: list[int], extra: bytes = b"") -> bytes:
    """An 8-bit RGB PNG whose row ``y`` uses filter ``filters[y]`` (0: None, 1: Sub, 2: Up), in 8 KiB IDATs."""
    h, w = rgb.shape[:2]
    rows = []
    for y in range(h):
        line = rgb[y].reshape(-1).astype(np.int16)
        if filters[y] == 1:
            line[3:] -= rgb[y].reshape(-1)[:-3]
        elif filters[y] == 2 and y > 0:
            line -= rgb[y - 1].reshape(-1)
        rows.append(bytes([filters[y]]) + (line % 256).astype(np.uint8).tobytes())
    stream = zlib.compress(b"".join(rows), 6)
    idats = b"".join(chunk(b"IDAT", stream[i : i + 8192]) for i in range(0, len(stream), 8192))
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    return SIGNATURE + ihdr + extra + idats + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def kitti_pngs(kitti: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((kitti / "image_2").glob("*.png"))]


def test_every_kitti_frame_decodes_to_opencvs_pixels(kitti_pngs: list[bytes]) -> None:
    assert len(kitti_pngs) == 30
    for data in kitti_pngs:
        got = decode_simple_png(data)
        assert got is not None and got.dtype == np.uint8 and got.flags.c_contiguous
        assert np.array_equal(got, opencv(data))
        assert np.array_equal(decode_image(data, "frame"), got)


def test_none_and_sub_rows_mixed_and_text_chunks(kitti_pngs: list[bytes]) -> None:
    rgb = opencv(kitti_pngs[3])
    assert rgb is not None
    crop = np.ascontiguousarray(rgb[100:160, 200:517])
    mixed = [y % 3 % 2 for y in range(len(crop))]  # 0, 1, 0, 0, 1, 0, ...
    for filters in (mixed, [0] * len(crop), [1] * len(crop)):
        data = write_png(crop, filters, extra=chunk(b"tEXt", b"Comment\x00prelabel"))
        got = decode_simple_png(data)
        assert got is not None and np.array_equal(got, crop) and np.array_equal(got, opencv(data))


def test_other_pngs_go_to_opencv(kitti_pngs: list[bytes]) -> None:
    rgb = opencv(kitti_pngs[0])
    assert rgb is not None
    crop = np.ascontiguousarray(rgb[:64, :96])
    bgr = np.ascontiguousarray(crop[:, :, ::-1])
    written = cv2.imencode(".png", bgr)[1].tobytes()  # OpenCV writes Sub rows: the fast path takes it
    assert np.array_equal(decode_simple_png(written), crop)  # type: ignore[arg-type]
    encoded = {
        "an Up row": write_png(crop, [1] * 10 + [2] + [1] * 53),
        "grey": cv2.imencode(".png", cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))[1].tobytes(),
        "alpha": cv2.imencode(".png", cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))[1].tobytes(),
        "16-bit": cv2.imencode(".png", bgr.astype(np.uint16) * 257)[1].tobytes(),
        "a gamma chunk": write_png(crop, [1] * 64, extra=chunk(b"gAMA", struct.pack(">I", 45455))),
        "not a PNG": cv2.imencode(".jpg", bgr)[1].tobytes(),
    }
    for what, data in encoded.items():
        assert decode_simple_png(data) is None, what
        assert np.array_equal(decode_image(data, what), opencv(data)), what


def test_damaged_files_go_to_opencv_and_fail_as_unreadable(kitti_pngs: list[bytes]) -> None:
    data = bytearray(kitti_pngs[5])
    at = data.index(b"IDAT") + 4 + 1000
    data[at] ^= 0xFF  # a CRC error in the first IDAT
    truncated = kitti_pngs[5][: len(kitti_pngs[5]) // 2]
    for bad in (bytes(data), truncated):
        assert decode_simple_png(bad) is None
        if opencv(bad) is None:
            with pytest.raises(UnreadableInputError, match="not a decodable image"):
                decode_image(bad, "frame.png")


def test_a_stream_that_inflates_past_the_declared_size_is_left_to_opencv() -> None:
    """A 4x4 PNG whose IDAT inflates to 64 MiB: the fast path stops one byte past the declared size."""
    import struct
    import zlib

    from prelabel.sources.png import decode_simple_png

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    bomb = zlib.compress(b"\0" * (64 << 20), 9)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", bomb) + chunk(b"IEND", b"")
    assert decode_simple_png(data) is None
