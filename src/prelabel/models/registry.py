"""The private model registry: a team's own ONNX detectors, in a folder or under an ``s3://`` prefix they share.

Layout (one folder per version; ``manifest.json`` is written last, so a version exists once it is complete)::

    <registry>/<team>/<name>/<version>/model.onnx
    <registry>/<team>/<name>/<version>/manifest.json   # a zoo-style entry; file sources relative to the folder

Versions are immutable: registering an existing ``team/name@version`` is refused; ``remove`` deletes one
version on purpose. A model loads by reference ``team/name@version`` (``team/name`` = its newest version)
through the same fetcher as zoo models, so its file is copied into the cache and checked against the sha256
recorded at registration before every use. The registry location is the ``registry`` argument or
``$PRELABEL_REGISTRY``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prelabel import storage
from prelabel.errors import InputNotFoundError, OutputExistsError, PrelabelError, UnknownNameError
from prelabel.models.zoo import CLASS_LISTS, ModelEntry

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*$")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MANIFEST = "manifest.json"
MODEL_FILE = "model.onnx"


class RegistryError(PrelabelError):
    pass


def read_classes(spec: str | Sequence[str]) -> list[str] | str:
    """A class list: a named list (``coco80``), a text file with one class per line, or the names themselves."""
    if not isinstance(spec, str):
        names = [str(c).strip() for c in spec if str(c).strip()]
    elif spec in CLASS_LISTS:
        return spec
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise InputNotFoundError(str(path), what="class list file")
        names = [line.strip() for line in path.read_text("utf-8").splitlines() if line.strip()]
    if not names:
        raise RegistryError(f"class list {spec!r} is empty; expected one class name per line")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RegistryError(f"class list {spec!r} repeats {', '.join(dupes)}; class names must be unique")
    return names


def _version_key(v: str) -> tuple[Any, ...]:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[._-]", v))


def onnx_input_info(path: Path) -> tuple[list[int] | None, str | None]:
    """(input size [W, H], layout) from the model's first input when static, else (None, None)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError and others for a file that is not a model
        raise RegistryError(f"{path} is not a readable ONNX model: {type(e).__name__}: {e}") from e
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if not inputs:
        raise RegistryError(f"{path} has no graph input")
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4:
        raise RegistryError(f"{path}: first input has {len(dims)} dims; expected an image tensor of 4")
    if dims[1] == 3 and dims[2] and dims[3]:
        return [dims[3], dims[2]], "nchw"
    if dims[3] == 3 and dims[1] and dims[2]:
        return [dims[2], dims[1]], "nhwc"
    return None, "nchw" if dims[1] == 3 else ("nhwc" if dims[3] == 3 else None)


class Registry:
    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/") if "://" in root else str(Path(root).expanduser())

    @classmethod
    def open(cls, root: str | None = None) -> Registry:
        root = root or os.environ.get("PRELABEL_REGISTRY")
        if not root:
            raise RegistryError(
                "no model registry given: pass --registry DIR_OR_S3_PREFIX or set PRELABEL_REGISTRY "
                "(registry references look like team/name@version)"
            )
        return cls(root)

    # paths --------------------------------------------------------------------------------------
    def _dir(self, name: str, version: str) -> str:
        return storage.join(self.root, *name.split("/"), version)

    @staticmethod
    def parse(ref: str) -> tuple[str, str | None]:
        name, _, version = ref.partition("@")
        if name.endswith(".onnx"):
            raise RegistryError(
                f"{ref!r} is a file, not a model reference: register it first with 'prelabel models register "
                f"{ref} --name team/name --version 1 --decoder DECODER --classes CLASSES', then use team/name@1"
            )
        if not NAME_RE.match(name):
            raise RegistryError(f"registry model name {name!r} must look like team/name (lower case, digits, . _ -)")
        if version and not VERSION_RE.match(version):
            raise RegistryError(f"version {version!r} must be letters, digits, '.', '_' or '-'")
        return name, version or None

    # reading --------------------------------------------------------------------------------------
    def _manifests(self) -> list[str]:
        return storage.glob(storage.join(self.root, "*", "*", "*", MANIFEST))

    def _load(self, manifest_uri: str) -> ModelEntry:
        raw = json.loads(storage.read_text(manifest_uri))
        folder = manifest_uri.rsplit("/", 1)[0]
        for src in raw.get("files", {}).values():
            src["source"] = storage.join(folder, src["source"])
        return ModelEntry.model_validate(raw)

    def entries(self) -> list[ModelEntry]:
        return [self._load(m) for m in self._manifests()]

    def versions(self, name: str) -> list[str]:
        name, _ = self.parse(name)
        found = [e.version for e in self.entries() if e.id == name]
        return sorted(found, key=_version_key)

    def resolve(self, ref: str) -> ModelEntry:
        name, version = self.parse(ref)
        if version is None:
            versions = self.versions(name)
            if not versions:
                raise UnknownNameError("registry model", name, sorted({e.id for e in self.entries()}))
            version = versions[-1]
        manifest = storage.join(self._dir(name, version), MANIFEST)
        if not storage.exists(manifest):
            entries = self.entries()
            known = [f"{e.id}@{e.version}" for e in entries if e.id == name] or sorted({e.id for e in entries})
            raise UnknownNameError(f"registry model in {self.root}", f"{name}@{version}", known)
        return self._load(manifest)

    # writing --------------------------------------------------------------------------------------
    def register(
        self,
        model_path: str | Path,
        *,
        name: str,
        version: str,
        decoder: str,
        classes: str | Sequence[str],
        input_size: Sequence[int] | None = None,
        options: dict[str, Any] | None = None,
        description: str = "",
        licence: str = "private",
    ) -> ModelEntry:
        from prelabel.models.decoders import REGISTRY as DECODERS
        from prelabel.models.fetch import sha256_file

        name, _ = self.parse(name)
        if not VERSION_RE.match(str(version)):
            raise RegistryError(f"version {version!r} must be letters, digits, '.', '_' or '-'")
        if decoder not in DECODERS:
            raise UnknownNameError("decoder", decoder, DECODERS.names())
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise InputNotFoundError(str(path), what="ONNX model file")
        size, layout = onnx_input_info(path)
        if input_size:
            size = [int(v) for v in input_size]
        if not size:
            raise RegistryError(f"{path} has a dynamic input size; pass --input-size WIDTHxHEIGHT")
        folder = self._dir(name, str(version))
        manifest_uri = storage.join(folder, MANIFEST)
        if storage.exists(manifest_uri):
            raise OutputExistsError(
                f"{name}@{version} in {self.root}", hint="registered versions are immutable; register a new version"
            )
        opts = dict(options or {})
        if layout and "layout" not in opts:
            opts["layout"] = layout
        entry = ModelEntry(
            id=name,
            version=str(version),
            task="detect",
            classes=read_classes(classes),
            licence=licence,
            input_size=size,
            runtime="onnx",
            decoder=decoder,
            description=description or f"registered {datetime.now(UTC).isoformat(timespec='seconds')}",
            files={"model": {"source": MODEL_FILE, "sha256": sha256_file(path)}},  # type: ignore[dict-item]
            options=opts,
        )
        storage.put_file(path, storage.join(folder, MODEL_FILE))
        storage.write_text(manifest_uri, entry.model_dump_json(indent=2, exclude_defaults=True))
        return self.resolve(f"{name}@{version}")

    def remove(self, ref: str) -> ModelEntry:
        name, version = self.parse(ref)
        if version is None:
            raise RegistryError(f"remove needs an exact version: {name}@VERSION (have: {self.versions(name)})")
        entry = self.resolve(ref)
        folder = self._dir(name, version)
        storage.remove(storage.join(folder, MANIFEST))  # the version disappears first, then its files
        storage.remove(folder, recursive=True)
        return entry
