"""Class maps: renaming and merging categories between vocabularies, as data.

A class map is a JSON file (shipped ones live in ``prelabel/core/classmaps/``)::

    {"name": "coco80-to-kitti", "from": "coco80", "to": "kitti", "unmapped": "drop",
     "map": {"car": "Car", "person": "Pedestrian", "bus": "Truck", "kite": null}}

``map`` sends a source category to a target category, or to ``null`` to drop it. ``unmapped`` says what happens
to categories not listed: ``"drop"`` (the default for vocabulary changes) or ``"keep"`` (for merges such as
car/truck/bus -> vehicle that leave the other classes alone).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from prelabel.errors import FormatError, InputNotFoundError, UnknownNameError

Unmapped = Literal["drop", "keep"]


def builtin_names() -> list[str]:
    """Names of the class maps shipped with prelabel."""
    folder = resources.files("prelabel.core").joinpath("classmaps")
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


@dataclass(frozen=True)
class ClassMap:
    name: str
    mapping: Mapping[str, str | None]
    unmapped: Unmapped = "drop"
    source_vocab: str | None = None
    target_vocab: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.unmapped not in ("drop", "keep"):
            raise FormatError(f"class map {self.name}", f"'unmapped' must be 'drop' or 'keep'; got {self.unmapped!r}")
        for k, v in self.mapping.items():
            if not isinstance(k, str) or not k or (v is not None and (not isinstance(v, str) or not v)):
                raise FormatError(
                    f"class map {self.name}", f"entries must map a category name to a name or null; got {k!r}: {v!r}"
                )

    @classmethod
    def from_dict(cls, data: Any, name: str = "class map") -> ClassMap:
        if not isinstance(data, dict) or not isinstance(data.get("map"), dict):
            raise FormatError(name, 'a class map is a JSON object with a "map" object (category -> name or null)')
        return cls(
            name=str(data.get("name") or name),
            mapping=dict(data["map"]),
            unmapped=data.get("unmapped", "drop"),
            source_vocab=data.get("from"),
            target_vocab=data.get("to"),
            description=str(data.get("description", "")),
        )

    @classmethod
    def load(cls, name_or_path: str | Path) -> ClassMap:
        """A shipped class map by name (see :func:`builtin_names`) or a JSON file by path."""
        text = str(name_or_path)
        if text in builtin_names():
            raw = resources.files("prelabel.core").joinpath("classmaps", f"{text}.json").read_text("utf-8")
            where = f"class map {text}"
        else:
            p = Path(text)
            if not p.suffix and not p.exists():
                raise UnknownNameError("class map", text, builtin_names())
            if not p.is_file():
                raise InputNotFoundError(text, what="class map file")
            raw = p.read_text("utf-8")
            where = str(p)
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise FormatError(where, f"not valid JSON: {e}") from e
        return cls.from_dict(data, name=text if text in builtin_names() else Path(text).stem)

    def map(self, category: str) -> str | None:
        """The target category, or None when the category is dropped."""
        if category in self.mapping:
            return self.mapping[category]
        return category if self.unmapped == "keep" else None

    __call__ = map

    def targets(self) -> list[str]:
        """Target categories this map can produce (excluding kept, unlisted ones)."""
        return sorted({v for v in self.mapping.values() if v is not None})

    def apply(self, records: Iterable[Any]) -> Iterable[Any]:
        """Records with every label's category mapped; dropped labels removed. Records are copied, not changed."""
        for rec in records:
            labels = []
            for lb in rec.labels:
                new = self.map(lb.category)
                if new is None:
                    continue
                labels.append(lb if new == lb.category else lb.model_copy(update={"category": new}))
            yield rec.model_copy(update={"labels": labels})

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "from": self.source_vocab,
            "to": self.target_vocab,
            "unmapped": self.unmapped,
            "map": dict(self.mapping),
        }
