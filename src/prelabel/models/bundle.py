"""Offline model bundles for air-gapped sites: one tar holding a manifest, the model files and their sha256.

``bundle.json`` lists each model's manifest entry (zoo or registry) with its file sources rewritten to paths
inside the tar (``files/<id>/<version>/<role>-<name>``). Import reads only the members the manifest names, checks
every file's sha256 before placing anything (one bad file refuses the whole bundle), then puts zoo models into the
cache (where the fetcher finds them, so ``load_detector(id)`` works offline) and registry models into a registry.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prelabel.errors import FormatError, IntegrityError, OutputExistsError
from prelabel.models.zoo import ModelEntry

BUNDLE_MANIFEST = "bundle.json"
SCHEMA = 1


@dataclass
class Imported:
    ref: str
    origin: str  # "zoo" | "registry"
    status: str  # "imported" | "already present"
    where: str


def _member_name(entry: ModelEntry, role: str) -> str:
    src = entry.files[role]
    base = Path(src.member or src.source.split("?")[0]).name
    return f"files/{entry.id.replace('/', '__')}/{entry.version}/{role}-{base}"


def write_bundle(
    refs: Sequence[str], out: str | Path, cache: str | Path | None = None, registry: str | None = None
) -> list[ModelEntry]:
    """Fetch (and verify) every model in ``refs`` and write them into the tar ``out``."""
    from prelabel.models.fetch import fetch_entry
    from prelabel.models.loader import is_registry_ref, is_url
    from prelabel.models.zoo import get_entry

    out = Path(out)
    if out.exists():
        raise OutputExistsError(str(out), hint="choose another file name or delete it")
    models = []
    entries = []
    with tempfile.TemporaryDirectory(prefix=".bundle-", dir=out.parent if out.parent.exists() else None) as tmp:
        tmp_tar = Path(tmp) / out.name
        with tarfile.open(tmp_tar, "w") as tar:
            for ref in refs:
                if is_url(ref):
                    raise FormatError(ref, "an endpoint URL cannot be bundled; bundle zoo or registry models")
                if is_registry_ref(ref):
                    from prelabel.models.registry import Registry

                    entry, origin = Registry.open(registry).resolve(ref), "registry"
                else:
                    entry, origin = get_entry(ref), "zoo"
                files = fetch_entry(entry, cache)
                packed = entry.model_copy(deep=True)
                for role, path in files.items():
                    name = _member_name(entry, role)
                    tar.add(str(path), arcname=name)
                    packed.files[role] = packed.files[role].model_copy(update={"source": name, "member": None})
                models.append({"origin": origin, "entry": json.loads(packed.model_dump_json())})
                entries.append(entry)
            manifest = json.dumps(
                {"schema": SCHEMA, "created": datetime.now(UTC).isoformat(timespec="seconds"), "models": models},
                indent=2,
            ).encode()
            info = tarfile.TarInfo(BUNDLE_MANIFEST)
            info.size = len(manifest)
            import io

            tar.addfile(info, io.BytesIO(manifest))
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(tmp_tar), out)
    return entries


def read_manifest(bundle: str | Path) -> list[tuple[str, ModelEntry]]:
    path = Path(bundle)
    if not path.is_file():
        from prelabel.errors import InputNotFoundError

        raise InputNotFoundError(str(path), what="model bundle")
    try:
        with tarfile.open(path) as tar:
            member = tar.extractfile(BUNDLE_MANIFEST)
            if member is None:
                raise KeyError(BUNDLE_MANIFEST)
            raw = json.loads(member.read())
    except (tarfile.TarError, KeyError) as e:
        raise FormatError(str(path), f"not a prelabel model bundle (expected a tar holding {BUNDLE_MANIFEST})") from e
    if raw.get("schema") != SCHEMA:
        raise FormatError(str(path), f"bundle schema {raw.get('schema')!r}; this prelabel reads schema {SCHEMA}")
    return [(m["origin"], ModelEntry.model_validate(m["entry"])) for m in raw["models"]]


def import_bundle(bundle: str | Path, cache: str | Path | None = None, registry: str | None = None) -> list[Imported]:
    """Verify every file in ``bundle``, then place zoo models in the cache and registry models in ``registry``."""
    from prelabel.models.fetch import cache_dir, file_path, sha256_file

    path = Path(bundle)
    models = read_manifest(path)
    root = cache_dir(cache)
    root.mkdir(parents=True, exist_ok=True)
    results: list[Imported] = []
    with tempfile.TemporaryDirectory(prefix=".import-", dir=root) as tmp, tarfile.open(path) as tar:
        staged: dict[tuple[str, str], Path] = {}
        for i, (origin, entry) in enumerate(models):  # verify everything before placing anything
            for role, src in entry.files.items():
                if origin == "zoo":
                    target = file_path(entry, role, root).resolve()
                    if root.resolve() not in target.parents:
                        raise FormatError(str(path), f"{entry.ref} {role}: would be written outside the cache")
                member = tar.extractfile(src.source) if src.source in tar.getnames() else None
                if member is None:
                    raise FormatError(str(path), f"{entry.ref} {role}: member {src.source!r} is missing")
                dest = Path(tmp) / f"{i}-{role}"
                with member, open(dest, "wb") as f:
                    shutil.copyfileobj(member, f, 1 << 20)
                got = sha256_file(dest)
                if got != src.sha256:
                    raise IntegrityError(f"{entry.ref} {role} ({src.source}) in bundle {path}", src.sha256, got)
                staged[(entry.ref, role)] = dest
        for origin, entry in models:
            if origin == "registry":
                results.append(_place_registry(entry, staged, registry))
                continue
            placed = False
            for role, src in entry.files.items():
                target = file_path(entry, role, root)
                if target.exists() and sha256_file(target) == src.sha256:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(staged[(entry.ref, role)], target)
                placed = True
            where = str(file_path(entry, next(iter(entry.files)), root).parent)
            results.append(Imported(entry.ref, "zoo", "imported" if placed else "already present", where))
    return results


def _place_registry(entry: ModelEntry, staged: dict[tuple[str, str], Path], registry: str | None) -> Imported:
    from prelabel.models.registry import Registry, RegistryError

    try:
        reg = Registry.open(registry)
    except RegistryError as e:
        raise RegistryError(f"bundle holds registry model {entry.ref}: {e}") from None
    try:
        have = reg.resolve(entry.ref)
    except Exception:
        have = None
    if have is not None:
        if have.files["model"].sha256 == entry.files["model"].sha256:
            return Imported(entry.ref, "registry", "already present", reg.root)
        raise OutputExistsError(
            f"{entry.ref} in {reg.root}", hint="it holds a different model file; versions are immutable"
        )
    reg.register(
        staged[(entry.ref, "model")],
        name=entry.id,
        version=entry.version,
        decoder=entry.decoder,
        classes=entry.classes if isinstance(entry.classes, str) else list(entry.classes),
        input_size=entry.input_size,
        options=entry.options,
        description=entry.description,
        licence=entry.licence,
    )
    return Imported(entry.ref, "registry", "imported", reg.root)
