"""Where a server may read and write: storage roots the operator configures, and the http(s) locations allowed.

A location is allowed when, normalised (``..`` folded; symlinks resolved for local paths), it lies under one of the
roots: a local folder, or an object-store prefix such as ``s3://bucket`` or ``s3://bucket/prefix``. ``http(s)://``
locations are allowed only under a URL prefix the operator lists (``--allow-url``), so that a request cannot make
the server fetch from or PUT to an address of its choosing (SSRF). Any other scheme is refused.

A refusal never looks at the location itself: a file outside the roots gets the same error whether it exists or not.
Reading goes through :meth:`AccessPolicy.read_bytes`, which opens regular files only (no devices, FIFOs or folders)
and checks the size before reading.

The policy travels to worker processes in the environment (:meth:`AccessPolicy.to_env` / :func:`from_env`).
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from prelabel import limits, storage
from prelabel.errors import InputNotFoundError, PrelabelError, UnreadableInputError

ENV_ROOTS = "PRELABEL_STORAGE_ROOTS"
ENV_ALLOW_URLS = "PRELABEL_ALLOW_URLS"
HOW = "the operator adds roots with `prelabel serve --root DIR|s3://bucket/prefix` (or PRELABEL_STORAGE_ROOTS)"


class LocationRefusedError(PrelabelError, PermissionError):
    """A location outside the configured storage roots or allowed URLs, or of a scheme that is not allowed."""

    def __init__(self, name: str, uri: str, reason: str) -> None:
        super().__init__(f"{name} {uri!r} is refused: {reason}")
        self.name = name
        self.uri = uri
        self.reason = reason


def split_list(raw: str) -> list[str]:
    return [p.strip() for p in raw.replace("\n", ",").split(",") if p.strip()]


def _object_parts(uri: str) -> tuple[str, str, str]:
    """(scheme, bucket, key) of ``scheme://bucket/key`` with the key normalised (``..`` folded, no edge slashes)."""
    scheme, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    key = posixpath.normpath("/" + key).lstrip("/") if key else ""
    return scheme.lower(), bucket, "" if key == "." else key


def _url_parts(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, normalised path) of an http(s) URL; refuses user info (``http://ok@evil/``)."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None or not parts.hostname:
        raise ValueError("a URL with user info or without a host")
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    path = posixpath.normpath("/" + parts.path.lstrip("/")) if parts.path else "/"
    return scheme, parts.hostname.lower(), port, path


def _under(path: str, prefix: str) -> bool:
    prefix = prefix.rstrip("/")
    return prefix == "" or path == prefix or path.startswith(prefix + "/")


def _inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or below it (both resolved, absolute)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@dataclass(frozen=True)
class AccessPolicy:
    """``local_roots``: resolved folders; ``object_roots``: ``(scheme, bucket, key prefix)``; ``url_prefixes``:
    ``(scheme, host, port, path prefix)``. ``specs``/``urls`` keep what the operator wrote (for messages and env);
    ``excluded``: folders refused even inside a root (a server's own state)."""

    local_roots: tuple[Path, ...] = ()
    object_roots: tuple[tuple[str, str, str], ...] = ()
    url_prefixes: tuple[tuple[str, str, int, str], ...] = ()
    specs: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    excluded: tuple[Path, ...] = ()

    @classmethod
    def from_specs(cls, roots: Iterable[str], allow_urls: Iterable[str] = ()) -> AccessPolicy:
        """Roots: existing folders (relative ones from the working directory) or ``scheme://bucket[/prefix]``;
        URLs: ``http(s)://host[:port][/prefix]``. Raises :class:`PrelabelError` naming a malformed one."""
        local: list[Path] = []
        objects: list[tuple[str, str, str]] = []
        specs: list[str] = []
        for spec in roots:
            if spec.startswith(("http://", "https://")):
                raise PrelabelError(f"storage root {spec!r}: http(s) locations go in --allow-url, not --root")
            if storage.is_local(spec):
                p = storage.local_path(spec)
                if not p.is_absolute():
                    p = Path.cwd() / p
                if not p.is_dir():
                    raise PrelabelError(f"storage root {spec!r}: expected an existing folder; got none at {p}")
                local.append(p.resolve())
                specs.append(str(p.resolve()))
            else:
                scheme, bucket, key = _object_parts(spec)
                if not bucket or key.startswith(".."):
                    raise PrelabelError(f"storage root {spec!r}: expected scheme://bucket or scheme://bucket/prefix")
                objects.append((scheme, bucket, key))
                specs.append(f"{scheme}://{bucket}" + (f"/{key}" if key else ""))
        prefixes: list[tuple[str, str, int, str]] = []
        for url in allow_urls:
            try:
                if not url.startswith(("http://", "https://")):
                    raise ValueError("not http(s)")
                prefixes.append(_url_parts(url))
            except ValueError as e:
                raise PrelabelError(f"allowed URL {url!r}: expected http(s)://host[:port][/prefix] ({e})") from None
        return cls(tuple(local), tuple(objects), tuple(prefixes), tuple(specs), tuple(allow_urls))

    def with_root(self, folder: str | Path) -> AccessPolicy:
        """This policy plus one more local root (the service's own payload folder)."""
        p = Path(folder).resolve()
        return replace(self, local_roots=(*self.local_roots, p), specs=(*self.specs, str(p)))

    def excluding(self, folder: str | Path) -> AccessPolicy:
        """This policy with ``folder`` refused even where a root contains it (not carried by :meth:`to_env`)."""
        return replace(self, excluded=(*self.excluded, Path(folder).resolve()))

    def to_env(self) -> dict[str, str]:
        return {ENV_ROOTS: ",".join(self.specs), ENV_ALLOW_URLS: ",".join(self.urls)}

    def describe(self) -> str:
        roots = ", ".join(self.specs) or "(none)"
        return f"storage roots: {roots}" + (f"; allowed URLs: {', '.join(self.urls)}" if self.urls else "")

    # ---- checks
    def check(self, uri: str, name: str = "location") -> str:
        """The normalised location if it is allowed, else :class:`LocationRefusedError`. Touches nothing outside
        the roots: the answer does not depend on whether the location exists."""
        roots = ", ".join(self.specs) or "(none configured)"
        if uri.startswith(("http://", "https://")):
            try:
                scheme, host, port, path = _url_parts(uri)
            except ValueError as e:
                raise LocationRefusedError(name, uri, f"malformed URL ({e})") from None
            for s, h, p, prefix in self.url_prefixes:
                if (s, h, p) == (scheme, host, port) and _under(path, prefix):
                    return uri
            raise LocationRefusedError(
                name,
                uri,
                "http(s) locations are fetched only under URLs the operator allows (prelabel serve "
                "--allow-url PREFIX); use a storage root instead (roots: " + roots + ")",
            )
        if storage.is_local(uri):
            raw = storage.local_str(uri)
            if not os.path.isabs(raw):
                raise LocationRefusedError(name, uri, "expected an absolute path or a URI such as s3://bucket/key")
            norm = os.path.normpath(raw)
            if "\0" in norm:
                raise LocationRefusedError(name, uri, "a path with a NUL byte")
            resolved = os.path.realpath(norm)  # strings, not pathlib: this runs on every request
            if any(_inside(resolved, str(x)) for x in self.excluded):
                raise LocationRefusedError(name, uri, "inside the server's own state folder")
            if any(_inside(resolved, str(r)) for r in self.local_roots):
                return norm
            raise LocationRefusedError(name, uri, f"not under a storage root of this service (roots: {roots}); {HOW}")
        scheme, bucket, key = _object_parts(uri)
        if key.startswith(".."):
            raise LocationRefusedError(name, uri, "the key climbs above its bucket with '..'")
        for s, b, prefix in self.object_roots:
            if (s, b) == (scheme, bucket) and _under(key, prefix):
                return f"{scheme}://{bucket}/{key}" if key else f"{scheme}://{bucket}"
        raise LocationRefusedError(name, uri, f"not under a storage root of this service (roots: {roots}); {HOW}")

    def read_bytes(self, uri: str, name: str = "input", lim: limits.Limits | None = None) -> bytes:
        """Read a whole input after :meth:`check`: regular files only, at most ``max_input_bytes``."""
        location = self.check(uri, name)
        return read_regular(location, name, lim)


def read_regular(uri: str, name: str = "input", lim: limits.Limits | None = None) -> bytes:
    """Read a whole file: local ones only if regular (a device, FIFO or folder is refused without blocking on it),
    any of them only up to ``max_input_bytes`` (checked before reading)."""
    if storage.is_local(uri):
        path = str(storage.local_path(uri))
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise InputNotFoundError(path) from None
        except OSError as e:
            raise UnreadableInputError(path, f"cannot open it ({e.strerror})") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UnreadableInputError(
                    path, "not a regular file (a device, FIFO, socket or folder); expected a regular file"
                )
            limits.check_bytes(st.st_size, f"{name} {path}", lim)
            with os.fdopen(fd, "rb", closefd=False) as f:
                return f.read(st.st_size)
        finally:
            os.close(fd)
    fs = storage.filesystem(uri)
    try:
        info = fs.info(uri)
    except FileNotFoundError:
        raise InputNotFoundError(uri) from None
    if info.get("type") == "directory":
        raise InputNotFoundError(uri, what="object (got a prefix)")
    if info.get("size") is not None:
        limits.check_bytes(int(info["size"]), f"{name} {uri}", lim)
    data = storage.read_bytes(uri)
    limits.check_bytes(len(data), f"{name} {uri}", lim)  # it grew since the size was read
    return data


def from_env() -> AccessPolicy | None:
    """The policy a server passed to this (worker) process, or None when none was passed."""
    if ENV_ROOTS not in os.environ and ENV_ALLOW_URLS not in os.environ:
        return None
    roots, urls = os.environ.get(ENV_ROOTS, ""), os.environ.get(ENV_ALLOW_URLS, "")
    return AccessPolicy.from_specs(split_list(roots), split_list(urls))


def check_from_env(uri: str, name: str = "input") -> str:
    """The location, normalised, if the policy a server passed to this process allows it (any, without one)."""
    policy = from_env()
    return uri if policy is None else policy.check(uri, name)


def read_input(uri: str, name: str = "input") -> bytes:
    """How a worker reads an input: confined to the policy its server passed (if any), regular files only."""
    policy = from_env()
    if policy is not None:
        return policy.read_bytes(uri, name)
    return read_regular(uri, name)
