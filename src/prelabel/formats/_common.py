"""Shared plumbing for format modules: streaming JSON, atomic writers, image sizes, ids and summaries.

Every format converts coordinates at its own edge; nothing here knows a box convention.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from prelabel import storage
from prelabel.core.labels import Label, make_label_id
from prelabel.errors import FormatError, InputNotFoundError, OutputExistsError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
_CHUNK = 1 << 16


@dataclass
class WriteSummary:
    """What a writer did: frames and labels written, files made, and what the format could not hold."""

    format: str
    dst: str
    frames: int = 0
    labels: int = 0
    files: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    categories: list[str] = field(default_factory=list)  # class list in id order, where the format numbers classes

    def drop(self, what: str, n: int = 1) -> None:
        self.dropped[what] = self.dropped.get(what, 0) + n

    def __str__(self) -> str:
        s = f"wrote {self.frames} frames, {self.labels} labels as {self.format} to {self.dst}"
        if self.dropped:
            s += "; not representable in this format: " + ", ".join(f"{k} x{v}" for k, v in self.dropped.items())
        return s


def frame_id_from_name(name: str) -> str:
    """A frame id from a file name or relative path: the path without its extension (``a/b.jpg`` -> ``a/b``)."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.suffix.lower() in IMAGE_EXTENSIONS or p.suffix.lower() in (".txt", ".xml", ".json", ".bin", ".pcd"):
        p = p.with_suffix("")
    s = p.as_posix().lstrip("/")
    return s or name


def import_source(fmt: str) -> str:
    return f"import:{fmt}"


def label_id(fmt: str, frame_id: str, index: int, native: object = "") -> str:
    """Stable ids for imported labels: the same file read twice gives the same ids."""
    return make_label_id("import", fmt, frame_id, index, native)


def clamp_score(v: Any) -> float | None:
    if v is None:
        return None
    s = float(v)
    if not math.isfinite(s):
        return None
    return min(max(s, 0.0), 1.0)


def num(v: float, digits: int | None = None) -> float | int:
    """A number for a file: whole numbers as integers; ``digits`` rounds away float noise (``12.300000001``)."""
    r = float(v) if digits is None else round(float(v), digits)
    return int(r) if r == int(r) and abs(r) < 1e15 else r


def check_dst(dst: str, overwrite: bool) -> None:
    """Refuse to replace what the user already has, unless told."""
    if not overwrite and storage.exists(dst):
        raise OutputExistsError(dst, hint="pass overwrite=True (--overwrite) to replace it")


def open_text(src: str) -> IO[str]:
    """Open a local or remote text file for streaming reads."""
    if storage.is_local(src):
        p = storage.local_path(src)
        if not p.exists():
            raise InputNotFoundError(str(p))
        if p.is_dir():
            raise InputNotFoundError(str(p), what="file (got a folder)")
        return open(p, encoding="utf-8")
    if not storage.exists(src):
        raise InputNotFoundError(src)
    import io

    return io.TextIOWrapper(storage.filesystem(src).open(src, "rb"), encoding="utf-8")


def open_bytes(src: str) -> IO[bytes]:
    """Open a local or remote file for streaming binary reads (lines decoded one by one, so errors name the line)."""
    if storage.is_local(src):
        p = storage.local_path(src)
        if not p.exists():
            raise InputNotFoundError(str(p))
        if p.is_dir():
            raise InputNotFoundError(str(p), what="file (got a folder)")
        return open(p, "rb")
    if not storage.exists(src):
        raise InputNotFoundError(src)
    fh: IO[bytes] = storage.filesystem(src).open(src, "rb")
    return fh


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows (expected a finite number)")


def parse_json_text(text: str | bytes, where: str) -> Any:
    """``json.loads`` that refuses NaN/Infinity and too deeply nested input with a :class:`FormatError` naming
    ``where`` (a file, or ``file:line``)."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, parse_constant=_no_constants)
    except UnicodeDecodeError as e:
        raise FormatError(where, f"not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})") from None
    except RecursionError:
        raise FormatError(where, "JSON nested too deeply to read") from None
    except ValueError as e:
        raise FormatError(where, f"not valid JSON: {e}") from None


def load_json(src: str) -> Any:
    return parse_json_text(storage.read_bytes(src), src)


def iter_json_array(src: str, *, key: str | None = None) -> Iterator[Any]:
    """Stream the elements of a top-level JSON array (or of ``{key: [...]}``) without loading the file whole.

    Elements are decoded one at a time from 64 KiB chunks, so memory stays near the size of one element.
    A file that is a JSON object without ``key`` yields the object itself once. Text that is not UTF-8, NaN or
    Infinity, and nesting too deep to decode raise :class:`FormatError` naming ``src``.
    """
    try:
        yield from _iter_json_array(src, key=key)
    except UnicodeDecodeError as e:
        raise FormatError(src, f"not UTF-8 text (byte 0x{e.object[e.start]:02x})") from None
    except RecursionError:
        raise FormatError(src, "JSON nested too deeply to read") from None


def _iter_json_array(src: str, *, key: str | None = None) -> Iterator[Any]:
    dec = json.JSONDecoder(parse_constant=_no_constants)
    with open_text(src) as fh:
        buf = ""
        pos = 0
        eof = False

        def fill() -> bool:
            nonlocal buf, pos, eof
            chunk = fh.read(_CHUNK)
            if not chunk:
                eof = True
                return False
            buf = buf[pos:] + chunk
            pos = 0
            return True

        def skip_ws() -> None:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\r\n":
                    pos += 1
                if pos < len(buf) or eof or not fill():
                    return

        skip_ws()
        if pos >= len(buf):
            raise FormatError(src, "empty file; expected a JSON array")
        if buf[pos] == "{":
            # an object: the list lives under ``key``; objects are small enough to decode whole
            while fill():
                pass
            obj = parse_json_text(buf[pos:], src)
            items = obj.get(key) if key else None
            if key and isinstance(items, list):
                yield from items
            else:
                yield obj
            return
        if buf[pos] != "[":
            raise FormatError(src, f"expected a JSON array; got {buf[pos]!r} at the start")
        pos += 1
        index = 0
        while True:
            skip_ws()
            if pos >= len(buf):
                raise FormatError(src, f"truncated JSON array after element {index}")
            if buf[pos] == "]":
                return
            if index and buf[pos] == ",":
                pos += 1
                skip_ws()
            while True:
                try:
                    value, end = dec.raw_decode(buf, pos)
                    # a number at the buffer's end may continue in the next chunk
                    if end >= len(buf) and not eof and fill():
                        continue
                    break
                except ValueError as e:
                    if not eof and fill():
                        continue
                    raise FormatError(src, f"element {index} of the JSON array is not valid JSON: {e}") from e
            pos = end
            yield value
            index += 1


@contextmanager
def atomic_text_writer(dst: str) -> Iterator[IO[str]]:
    """A text handle whose content appears at ``dst`` only when the block ends without error.

    Local files stream to a temporary file beside ``dst`` and are renamed into place; remote URIs are buffered and
    written with one PUT (atomic per object).
    """
    if storage.is_local(dst):
        with storage.atomic_local(storage.local_path(dst), "w", encoding="utf-8", newline="\n") as f:
            yield f
        return
    import io

    buf = io.StringIO()
    yield buf
    storage.write_text(dst, buf.getvalue())


def write_small_file(path: Path, text: str) -> None:
    """One per-frame file (YOLO, VOC, KITTI): written beside, then renamed into place, so a reader never sees
    half a file. Not fsynced one by one (thousands of fsyncs would dominate an export); the OS flushes them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_size_cache: dict[str, tuple[int, int] | None] = {}


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) from an image file's header (no pixel decoding); None when missing or unreadable."""
    key = str(path)
    if key in _size_cache:
        return _size_cache[key]
    size: tuple[int, int] | None = None
    try:
        from PIL import Image

        if storage.is_local(key):
            if Path(key).is_file():
                with Image.open(key) as im:
                    size = (int(im.width), int(im.height))
        elif storage.exists(key):
            with storage.filesystem(key).open(key, "rb") as fh, Image.open(fh) as im:
                size = (int(im.width), int(im.height))
    except Exception:
        size = None
    if len(_size_cache) > 100_000:
        _size_cache.clear()
    _size_cache[key] = size
    return size


def find_image(folder: Path, stem: str) -> Path | None:
    """The image file called ``stem`` with any known extension in ``folder``."""
    for ext in IMAGE_EXTENSIONS:
        p = folder / f"{stem}{ext}"
        if p.is_file():
            return p
    for ext in IMAGE_EXTENSIONS:
        p = folder / f"{stem}{ext.upper()}"
        if p.is_file():
            return p
    return None


def frame_size(uri: str, width: int | None, height: int | None) -> tuple[int | None, int | None]:
    """The frame's size as stored, else read from the image header when the image can be reached."""
    if width and height:
        return width, height
    size = image_size(uri)
    return (size[0], size[1]) if size else (width, height)


def require_size(frame_id: str, uri: str, width: int | None, height: int | None, fmt: str) -> tuple[int, int]:
    w, h = frame_size(uri, width, height)
    if not w or not h:
        raise FormatError(
            f"frame {frame_id}",
            f"{fmt} needs the image width and height (normalised or percent coordinates); the record has none "
            f"and the image {uri} cannot be read; pass image_size=(width, height) or an image folder",
        )
    return int(w), int(h)


def primary_box(label: Label) -> tuple[float, float, float, float] | None:
    """The label's 2D box, else the bounds of its polygon or mask."""
    if label.box is not None:
        return label.box.xyxy
    if label.polygon is not None:
        return label.polygon.bounds().xyxy
    if label.mask is not None:
        from prelabel.core import rle

        b = rle.bbox_xyxy(label.mask.to_array())
        return None if b is None else b
    return None
