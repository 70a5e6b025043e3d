"""Shared plumbing for format modules: streaming JSON, atomic writers, image sizes, ids and summaries.

Every format converts coordinates at its own edge; nothing here knows a box convention.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from prelabel import storage
from prelabel.core.labels import FrameRecord, Label, make_label_id
from prelabel.errors import FormatError, OutputExistsError

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

    def usable(self, records: Iterable[FrameRecord]) -> Iterator[FrameRecord]:
        """The records a writer writes: a frame the run failed on is counted as dropped and left out."""
        for rec in records:
            if rec.status == "failed":
                self.drop("failed frames")
                continue
            yield rec

    def boxed(self, labels: Iterable[Label]) -> Iterator[Label]:
        """The labels a 2D-box writer writes: one without a 2D box is counted as dropped and left out."""
        for lab in labels:
            if lab.box is None:
                self.drop("labels without a 2D box")
                continue
            yield lab

    def __str__(self) -> str:
        s = f"wrote {self.frames} frames, {self.labels} labels as {self.format} to {self.dst}"
        if self.dropped:
            s += "; not representable in this format: " + ", ".join(f"{k} x{v}" for k, v in self.dropped.items())
        return s


def sequence_targets(
    summary: WriteSummary, records: Iterable[FrameRecord], dst: str, ext: str, *, overwrite: bool
) -> Iterator[tuple[str, list[FrameRecord], str]]:
    """A tracking writer's work: ``(sequence, its frames in order, target file)``. ``dst`` ending in ``ext`` takes one
    sequence; any other ``dst`` is a folder (made here) with one ``<sequence><ext>`` each. Failed frames are
    dropped (counted in ``summary``), track ids must be unique in a sequence, and no target is replaced unless
    ``overwrite``."""
    from prelabel.core.sequences import check_track_ids, group_sequences

    recs = list(summary.usable(records))
    check_track_ids(recs, dst)
    seqs = group_sequences(recs)
    single = dst.endswith(ext)
    if single and len(seqs) > 1:
        raise FormatError(dst, f"holds {len(seqs)} sequences ({sorted(seqs)[:5]}); write to a folder instead")
    for seq, frames in seqs.items():
        target = dst if single else str(Path(dst) / f"{seq or 'sequence'}{ext}")
        check_dst(target, overwrite)
        if not single:
            Path(dst).mkdir(parents=True, exist_ok=True)
        yield seq, frames, target


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


def head(src: str, size: int = 4096) -> bytes:
    """The first ``size`` bytes of a file (for a format's ``sniff``); empty when it cannot be read."""
    try:
        with storage.open(src, "rb") as fh:
            data: bytes = fh.read(size)
    except (OSError, ValueError):
        return b""
    return data


def first_json_line(src: str) -> Any:
    """The first non-empty line of a JSON-lines file, parsed; None when missing, empty or not JSON."""
    for raw in head(src, 1 << 20).splitlines():
        if raw.strip():
            try:
                return json.loads(raw)
            except ValueError:
                return None
    return None


def local_dir(src: str) -> Path | None:
    """``src`` as a local folder, or None (sniffing looks inside local folders only)."""
    if not storage.is_local(src):
        return None
    p = storage.local_path(src)
    return p if p.is_dir() else None


def check_dst(dst: str, overwrite: bool) -> None:
    """Refuse to replace what the user already has, unless told."""
    if not overwrite and storage.exists(dst):
        raise OutputExistsError(dst, hint="pass overwrite=True (--overwrite) to replace it")


def open_text(src: str) -> AbstractContextManager[IO[str]]:
    """Open a local or remote text file for streaming reads (missing file or folder: InputNotFoundError)."""
    return storage.open(src, "r")


def open_bytes(src: str) -> AbstractContextManager[IO[bytes]]:
    """Open a local or remote file for streaming binary reads (lines decoded one by one, so errors name the line)."""
    return storage.open(src, "rb")


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


def iter_json_lines(
    src: str, *, max_bytes: int | None = None, limit_by: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Stream ``(where, object)`` for each non-blank line of a JSON-lines file; ``where`` is ``<src>:<line number>``.

    A line that is not JSON, not an object, or longer than ``max_bytes`` (a limit set by ``limit_by``) raises
    :class:`FormatError` naming the line.
    """
    with open_bytes(src) as fh:
        for n, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            where = f"{src}:{n}"
            if max_bytes is not None and len(raw.rstrip(b"\r\n")) > max_bytes:
                raise FormatError(where, f"line of {len(raw):,} bytes; {limit_by} allows {max_bytes:,}")
            line = parse_json_text(raw, where)
            if not isinstance(line, dict):
                raise FormatError(where, f"expected a JSON object per line; got {type(line).__name__}")
            yield where, line


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

    Local files stream to a temporary file beside ``dst`` and are renamed into place; remote URIs stream as one
    upload that is aborted on error (see :func:`prelabel.storage.open`).
    """
    with storage.open(dst, "w", newline="\n") as f:
        yield f


def write_small_file(path: Path, text: str) -> None:
    """One per-frame file (YOLO, VOC, KITTI): written beside, then renamed into place, so a reader never sees
    half a file. Not fsynced one by one (thousands of fsyncs would dominate an export); the OS flushes them."""
    with storage.atomic_path(path, fsync=False) as tmp:
        tmp.write_text(text, encoding="utf-8")


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
    size = storage.image_size(uri)
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
