"""Labels files: one :class:`FrameRecord` per JSON line, written incrementally, never half-written.

Each record is appended with a single ``write`` of a complete line and flushed; a reader drops a torn final line
(a crash mid-write) so a crashed run leaves complete records only. A writer opened on an existing file first cuts
such a torn tail away.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

from prelabel import storage
from prelabel.core.labels import FrameRecord
from prelabel.errors import FormatError, InputNotFoundError


def _cut_torn_tail(path: Path) -> int:
    """Truncate bytes after the last newline. Returns how many bytes were cut."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as f:
        chunk = min(size, 1 << 20)
        f.seek(size - chunk)
        tail = f.read(chunk)
        nl = tail.rfind(b"\n")
        keep = (size - chunk + nl + 1) if nl >= 0 else 0
        if nl < 0 and chunk < size:  # a single line longer than 1 MiB: scan from the start
            f.seek(0)
            data = f.read()
            keep = data.rfind(b"\n") + 1
        if keep < size:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        return size - keep


class LabelWriter:
    """Appends records to a local labels file. ``fsync_every`` records are made durable together."""

    def __init__(self, path: str | Path, *, append: bool = False, fsync_every: int = 16) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if append and self.path.exists():
            cut = _cut_torn_tail(self.path)
            if cut:
                warnings.warn(f"{self.path}: dropped a torn final line ({cut} bytes) left by a crash", stacklevel=2)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (0 if append else os.O_TRUNC)
        self._fd = os.open(self.path, flags, 0o644)
        self._fsync_every = max(1, fsync_every)
        self._pending = 0
        self.written = 0

    def write(self, record: FrameRecord) -> None:
        os.write(self._fd, (record.to_json() + "\n").encode("utf-8"))
        self.written += 1
        self._pending += 1
        if self._pending >= self._fsync_every:
            self.flush()

    def write_all(self, records: Iterable[FrameRecord]) -> None:
        for r in records:
            self.write(r)

    def flush(self) -> None:
        os.fsync(self._fd)
        self._pending = 0

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> LabelWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


LABELS_NAME = "labels.jsonl"  # what ``prelabel label --out DIR`` writes in DIR


def resolve_labels_uri(uri: str | Path) -> str:
    """A labels file's location: ``uri`` itself, or ``uri/labels.jsonl`` when ``uri`` is the folder that
    ``prelabel label --out DIR`` wrote."""
    uri = str(uri)
    if storage.is_local(uri):
        p = storage.local_path(uri)
        if p.is_dir():
            inner = p / LABELS_NAME
            if not inner.is_file():
                raise InputNotFoundError(
                    f"{inner} (a folder was given; expected a labels file or a folder holding {LABELS_NAME})",
                    what="labels file",
                )
            return str(inner)
        return uri
    if not storage.exists(uri):
        inner_uri = storage.join(uri, LABELS_NAME)
        if storage.exists(inner_uri):
            return inner_uri
    return uri


def iter_records(uri: str | Path, *, strict: bool = True) -> Iterator[FrameRecord]:
    """Stream records from a labels file (local or any storage URI), or from the ``labels.jsonl`` in the folder
    ``prelabel label --out DIR`` wrote. A torn final line is skipped with a warning.

    ``strict``: a malformed complete line raises :class:`FormatError` naming the line; otherwise it is skipped
    with a warning.
    """
    uri = resolve_labels_uri(uri)
    if storage.is_local(uri):
        p = storage.local_path(uri)
        if not p.exists():
            raise InputNotFoundError(str(p), what="labels file")
        fh = open(p, "rb")
    else:
        if not storage.exists(uri):
            raise InputNotFoundError(uri, what="labels file")
        fh = storage.filesystem(uri).open(uri, "rb")
    with fh:
        lineno = 0
        for raw in fh:
            lineno += 1
            if not raw.endswith(b"\n"):
                warnings.warn(f"{uri}: skipped a torn final line {lineno} (a crashed write)", stacklevel=2)
                break
            line = raw.strip()
            if not line:
                continue
            try:
                yield FrameRecord.from_json(line.decode("utf-8"))
            except ValueError as e:
                msg = f"line {lineno} is not a valid frame record: {e}".splitlines()[0]
                if strict:
                    raise FormatError(f"{uri}", f"{msg} (see docs/schema.md)") from e
                warnings.warn(f"{uri}: {msg}; skipped", stacklevel=2)


def read_records(uri: str | Path, *, strict: bool = True) -> list[FrameRecord]:
    return list(iter_records(uri, strict=strict))


def write_records(uri: str | Path, records: Iterable[FrameRecord]) -> int:
    """Write a whole labels file atomically (local or storage URI). Returns the record count."""
    lines = [r.to_json() + "\n" for r in records]
    storage.write_text(str(uri), "".join(lines))
    return len(lines)
