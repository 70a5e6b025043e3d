"""Storage by URI: local paths, ``file://`` and anything fsspec knows (``s3://`` with s3fs). Atomic writes.

The one place that knows local from remote: :func:`open` reads and (atomically) writes any URI, :func:`atomic_path`
gives a path that tools write to and that takes the target's place only on success, :func:`glob` and
:func:`remove` list and delete. Callers never branch on ``is_local`` to do I/O.

S3 settings come from the usual AWS variables; ``PRELABEL_S3_ENDPOINT`` (or ``AWS_ENDPOINT_URL``) points at an
S3-compatible server such as MinIO, rclone or moto.
"""

from __future__ import annotations

import builtins
import functools
import io
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from prelabel.errors import InputNotFoundError


def is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def local_path(uri: str) -> Path:
    return Path(local_str(uri))


def local_str(uri: str) -> str:
    """:func:`local_path` as a string, without building a ``Path`` (for code that runs on every request)."""
    return uri[len("file://") :] if uri.startswith("file://") else uri


def filesystem(uri: str) -> Any:
    """The fsspec filesystem for a URI (imported lazily: plain local use never loads fsspec's backends)."""
    import fsspec

    protocol = uri.split("://", 1)[0] if "://" in uri else "file"
    options: dict[str, Any] = {}
    if protocol == "s3":
        endpoint = os.environ.get("PRELABEL_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            options["client_kwargs"] = {"endpoint_url": endpoint}
        options["use_listings_cache"] = False
    return fsspec.filesystem(protocol, **options)


def exists(uri: str) -> bool:
    if is_local(uri):
        return local_path(uri).exists()
    return bool(filesystem(uri).exists(uri))


def existing_file(uri: str) -> Path:
    """A local URI as a path to a file that is there (missing, or a folder: :class:`InputNotFoundError`)."""
    p = local_path(uri)
    if not p.exists():
        raise InputNotFoundError(str(p))
    if p.is_dir():
        raise InputNotFoundError(str(p), what="file (got a folder)")
    return p


def read_bytes(uri: str) -> bytes:
    if is_local(uri):
        return existing_file(uri).read_bytes()
    fs = filesystem(uri)
    try:
        data: bytes = fs.cat_file(uri)
    except FileNotFoundError as e:
        raise InputNotFoundError(uri) from e
    return data


@contextmanager
def atomic_local(
    path: Path, mode: str = "wb", *, exclusive: bool = False, fsync: bool = True, **open_kwargs: Any
) -> Iterator[IO[Any]]:
    """A handle on a temporary file beside ``path`` that takes its place only when the block ends without error.

    The content is fsynced first (unless ``fsync`` is False), so readers see the old file or the whole new one,
    never a half-written one, also after a power cut.
    ``exclusive``: the file is hard-linked into place instead of renamed, so :class:`FileExistsError` is raised
    (and nothing replaced) when ``path`` already exists; two writers can never both create it.
    """
    tmp, fd = _open_temp_beside(path)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


#: The names :func:`_unique_temp_beside` gives: ``.<stem>.<8 random>.tmp<suffix>`` (also the older ``.<name>.<8
#: random>.tmp``). Whoever cleans up after killed writes matches this, and nothing else.
TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?$")


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file an atomic write leaves beside its target when it is killed."""
    return TEMP_NAME.match(name) is not None


def _unique_temp_beside(path: Path) -> Path:
    """An empty, uniquely named file beside ``path`` (two writers never share one); keeps the suffix for tools
    that choose their encoder by extension."""
    tmp, fd = _open_temp_beside(path)
    os.close(fd)
    return tmp


_TEMP_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _open_temp_beside(path: Path) -> tuple[Path, int]:
    """A new, uniquely named file beside ``path`` and its open descriptor, created with ``O_EXCL`` and mode 0600 as
    :func:`tempfile.mkstemp` does (one system call when the folder exists: this runs for every service output)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            return tmp, os.open(tmp, _TEMP_FLAGS, 0o600)
        except FileExistsError:
            continue
        except FileNotFoundError:  # the folder is new
            path.parent.mkdir(parents=True, exist_ok=True)
    raise FileExistsError(f"no free temporary name beside {path}")


@contextmanager
def atomic_path(uri: str | Path, *, fsync: bool = True) -> Iterator[Path]:
    """A unique temporary local path to write the file for ``uri`` to; it takes the target's place only when the
    block ends without error, and is removed otherwise.

    Local targets: the temp file is beside the target (same file system), fsynced, then renamed into place, so
    readers see the old file or the whole new one. Remote targets: the file is written to a local temp file and
    uploaded (one PUT or multipart upload, atomic per object) when the block succeeds.
    """
    uri = str(uri)
    local = is_local(uri)
    if local:
        tmp = _unique_temp_beside(local_path(uri))
    else:
        fd, name = tempfile.mkstemp(prefix=".prelabel-upload.", suffix=Path(uri).suffix)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if not tmp.is_file():
            raise FileNotFoundError(f"nothing was written to the temporary file for {uri}")
        if local:
            if fsync:
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            os.replace(tmp, local_path(uri))
        else:
            filesystem(uri).put_file(str(tmp), uri)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def open(
    uri: str | Path, mode: str = "rb", *, encoding: str | None = None, newline: str | None = None
) -> Iterator[IO[Any]]:
    """Open a local path or URI for reading (``r``, ``rb``) or for an atomic write (``w``, ``wb``).

    Reading a missing file or a folder raises :class:`InputNotFoundError`. Writing: the content appears at ``uri``
    only when the block ends without error (local: temp file beside it, fsynced and renamed; remote: a streamed
    upload that is aborted on error), so nothing the user had is replaced by half a file. Text modes default to
    UTF-8.
    """
    uri = str(uri)
    if mode not in ("r", "rb", "w", "wb"):
        raise ValueError(f"storage.open mode {mode!r}: expected one of r, rb, w, wb")
    text = "b" not in mode
    if text and encoding is None:
        encoding = "utf-8"
    if mode.startswith("r"):
        if is_local(uri):
            with builtins.open(existing_file(uri), mode, encoding=encoding, newline=newline) as fh:
                yield fh
            return
        fs = filesystem(uri)
        try:
            raw = fs.open(uri, "rb")
        except FileNotFoundError as e:
            raise InputNotFoundError(uri) from e
        with raw:
            yield io.TextIOWrapper(raw, encoding=encoding, newline=newline) if text else raw
        return
    if is_local(uri):
        with atomic_local(local_path(uri), mode, encoding=encoding, newline=newline) as fh:
            yield fh
        return
    upload = filesystem(uri).open(uri, "wb")  # multipart upload: the object appears whole when it completes
    handle: IO[Any] = io.TextIOWrapper(upload, encoding=encoding, newline=newline) if text else upload
    try:
        yield handle
        if text:
            handle.flush()
    except BaseException:
        if text:
            handle.detach()  # type: ignore[attr-defined]
        if hasattr(upload, "discard"):
            upload.discard()  # abort the multipart upload: nothing appears at uri
            upload.closed = True  # closing would try to finish the upload
        raise
    if text:
        handle.detach()  # type: ignore[attr-defined]
    upload.close()


_size_cache: dict[str, tuple[int, int] | None] = {}


def image_size(uri: str | Path) -> tuple[int, int] | None:
    """(width, height) from an image file's header (no pixel decoding); None when missing or unreadable."""
    key = str(uri)
    if key in _size_cache:
        return _size_cache[key]
    size: tuple[int, int] | None = None
    try:
        from PIL import Image

        with open(key, "rb") as fh, Image.open(fh) as im:
            size = (int(im.width), int(im.height))
    except Exception:
        size = None
    if len(_size_cache) > 100_000:
        _size_cache.clear()
    _size_cache[key] = size
    return size


def put_file(src: str | Path, uri: str) -> None:
    """Copy the local file ``src`` to ``uri``, atomically (local: copied beside, then renamed; remote: uploaded)."""
    if is_local(uri):
        with atomic_path(uri) as tmp:
            shutil.copyfile(src, tmp)
        return
    filesystem(uri).put_file(str(src), uri)


def glob(pattern: str) -> list[str]:
    """Paths (local) or URIs (remote, with their scheme) matching ``pattern``, sorted."""
    import glob as globlib

    if is_local(pattern):
        return sorted(globlib.glob(str(local_path(pattern)), recursive=True))
    scheme = pattern.split("://", 1)[0]
    return sorted(f"{scheme}://" + p.split("://")[-1] for p in filesystem(pattern).glob(pattern))


def remove(uri: str, *, recursive: bool = False) -> None:
    """Delete a file, or a folder with everything under it (``recursive``). A missing target is not an error."""
    if is_local(uri):
        p = local_path(uri)
        if p.is_dir() and recursive:
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
        return
    fs = filesystem(uri)
    if fs.exists(uri):
        fs.rm(uri, recursive=recursive)


def write_bytes(uri: str, data: bytes, *, exclusive: bool = False, fsync: bool = True) -> bool:
    """Write atomically: readers see the old content or the new, never a half-written file.

    ``exclusive``: write only if nothing is at ``uri`` yet; returns False (and writes nothing) if something is.
    ``fsync``: local files are flushed to the disk before they take their place (False: for files nobody needs
    after a power cut, e.g. a synchronous call's payload; a killed process still leaves them whole or absent).
    Object stores: each PUT is atomic; the exclusive check there is check-then-put.
    """
    if is_local(uri):
        try:
            with atomic_local(local_path(uri), "wb", exclusive=exclusive, fsync=fsync) as f:
                f.write(data)
        except FileExistsError:
            if exclusive:
                return False
            raise
        return True
    if exclusive and exists(uri):
        return False
    filesystem(uri).pipe_file(uri, data)
    return True


def write_text(uri: str, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


def read_text(uri: str) -> str:
    return read_bytes(uri).decode("utf-8")


def join(base: str, *parts: str) -> str:
    if is_local(base):
        if parts and all(p and "/" not in p and p not in (".", "..") for p in parts):  # names: no Path needed
            return _local_folder(base).rstrip("/") + "/" + "/".join(parts)
        return str(local_path(base).joinpath(*parts))
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


@functools.lru_cache(maxsize=256)
def _local_folder(base: str) -> str:
    """A local folder as ``Path`` writes it (repeated and trailing slashes, ``.`` parts folded)."""
    return str(local_path(base))


def parent(uri: str) -> str:
    """The folder holding ``uri`` (local path or URI, the scheme kept): ``s3://b/x/m.json`` -> ``s3://b/x``."""
    if is_local(uri):
        return str(local_path(uri).parent)
    return uri.rstrip("/").rsplit("/", 1)[0]
