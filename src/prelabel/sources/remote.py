"""Local copies of remote inputs: bag and video readers need seekable local files, so an ``s3://`` bag or video is
downloaded once into the cache (``$PRELABEL_INPUT_CACHE``, default ``$PRELABEL_CACHE/inputs``) and reused while
its size and ETag (every file's, for a folder) stay the same: a changed object gets a new cache entry."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from prelabel import storage
from prelabel.errors import InputNotFoundError


def cache_root() -> Path:
    if os.environ.get("PRELABEL_INPUT_CACHE"):
        return Path(os.environ["PRELABEL_INPUT_CACHE"])
    base = os.environ.get("PRELABEL_CACHE") or str(Path.home() / ".cache" / "prelabel")
    return Path(base) / "inputs"


def _fingerprint(info: dict[str, Any]) -> str:
    return f"{info.get('size')}-{info.get('ETag') or info.get('etag') or info.get('mtime') or ''}"


def localize(uri: str) -> Path:
    """A local path holding ``uri`` (a file or a folder such as a rosbag2 bag): the path itself when local.

    Safe when several processes (Ray actors) localize the same URI at once: each downloads into its own temp folder
    and the first to finish publishes its copy; the others use it."""
    if storage.is_local(uri):
        p = storage.local_path(uri)
        if not p.exists():
            raise InputNotFoundError(str(p))
        return p
    fs = storage.filesystem(uri)
    try:
        info = fs.info(uri)
    except FileNotFoundError as e:
        raise InputNotFoundError(uri) from e
    is_dir = info.get("type") == "directory"
    if is_dir:
        listing = fs.find(uri.rstrip("/"), detail=True)
        fp = hashlib.sha1("\n".join(f"{k}:{_fingerprint(v)}" for k, v in sorted(listing.items())).encode()).hexdigest()
    else:
        fp = _fingerprint(info)
    key = hashlib.sha1(f"{uri}\n{fp}".encode()).hexdigest()[:16]
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    dest = cache_root() / key / name
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".dl-", dir=dest.parent))
    try:
        target = tmp / name
        if is_dir:
            fs.get(uri.rstrip("/") + "/", str(target), recursive=True)
        else:
            fs.get(uri, str(target))
        try:
            os.rename(target, dest)  # atomic publish; fails if another process published first
        except OSError:
            if not dest.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
