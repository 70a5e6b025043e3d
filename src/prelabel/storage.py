"""Storage by URI: local paths, ``file://`` and anything fsspec knows (``s3://`` with s3fs). Atomic writes.

S3 settings come from the usual AWS variables; ``PRELABEL_S3_ENDPOINT`` (or ``AWS_ENDPOINT_URL``) points at an
S3-compatible server such as MinIO, rclone or moto.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from prelabel.errors import InputNotFoundError


def is_local(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file://")


def local_path(uri: str) -> Path:
    return Path(uri[len("file://") :] if uri.startswith("file://") else uri)


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


def read_bytes(uri: str) -> bytes:
    if is_local(uri):
        p = local_path(uri)
        if not p.exists():
            raise InputNotFoundError(str(p))
        if p.is_dir():
            raise InputNotFoundError(str(p), what="file (got a folder)")
        return p.read_bytes()
    fs = filesystem(uri)
    try:
        data: bytes = fs.cat_file(uri)
    except FileNotFoundError as e:
        raise InputNotFoundError(uri) from e
    return data


@contextmanager
def atomic_local(path: Path, mode: str = "wb", *, exclusive: bool = False, **open_kwargs: Any) -> Iterator[IO[Any]]:
    """A handle on a temporary file beside ``path`` that takes its place only when the block ends without error.

    The content is fsynced first, so readers see the old file or the whole new one, never a half-written one.
    ``exclusive``: the file is hard-linked into place instead of renamed, so :class:`FileExistsError` is raised
    (and nothing replaced) when ``path`` already exists; two writers can never both create it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_bytes(uri: str, data: bytes, *, exclusive: bool = False) -> bool:
    """Write atomically: readers see the old content or the new, never a half-written file.

    ``exclusive``: write only if nothing is at ``uri`` yet; returns False (and writes nothing) if something is.
    Object stores: each PUT is atomic; the exclusive check there is check-then-put.
    """
    if is_local(uri):
        try:
            with atomic_local(local_path(uri), "wb", exclusive=exclusive) as f:
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
        return str(local_path(base).joinpath(*parts))
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])
