"""Reading one invocation's input, bounded: its size is checked before a byte is read, and only a regular file
(or an object in a bucket) is read at all. ``/dev/zero``, a FIFO or a 40 GB file never reach memory."""

from __future__ import annotations

import os
import stat

from prelabel import limits, storage
from prelabel.errors import InputNotFoundError, UnreadableInputError


def read_input(uri: str, lim: limits.Limits | None = None) -> bytes:
    """The bytes at ``uri``; :class:`~prelabel.errors.LimitExceededError` (naming the limit) when the input is
    larger than ``max_input_bytes`` (from its size in storage, before reading, and again while reading)."""
    lim = lim or limits.current()
    if storage.is_local(uri):
        path = storage.local_path(uri)
        try:
            st = os.stat(path)
        except FileNotFoundError as e:
            raise InputNotFoundError(str(path)) from e
        except OSError as e:  # e.g. a path under a regular file
            raise InputNotFoundError(str(path), what=f"input ({type(e).__name__}: {e.strerror})") from e
        if stat.S_ISDIR(st.st_mode):
            raise InputNotFoundError(str(path), what="file (got a folder)")
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableInputError(str(path), "not a regular file (a device, pipe or socket); expected an image")
        limits.check_bytes(st.st_size, str(path), lim)
        with open(path, "rb") as f:
            data = f.read(lim.max_input_bytes + 1)
        limits.check_bytes(len(data), str(path), lim)  # it grew since the stat
        return data
    fs = storage.filesystem(uri)
    try:
        info = fs.info(uri)
    except FileNotFoundError as e:
        raise InputNotFoundError(uri) from e
    if info.get("type") == "directory":
        raise InputNotFoundError(uri, what="object (got a prefix)")
    size = info.get("size")
    if size is not None:
        limits.check_bytes(int(size), uri, lim)
    data = storage.read_bytes(uri)
    limits.check_bytes(len(data), uri, lim)
    return data
