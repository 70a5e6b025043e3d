"""Class maps for evaluation and fusion: presets, ``a=b,c=d`` strings and JSON files.

A class map renames categories (``{"car": "Car"}``); a name mapped to ``null``/empty is dropped; names not listed
are kept as they are, unless the map is *strict* (presets are strict: every other class is dropped).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from prelabel.errors import FormatError, UnknownNameError
from prelabel.quality.evaluate import COCO_TO_KITTI

# COCO-80 -> BDD100K / Scalabel detection classes
COCO_TO_BDD: dict[str, str | None] = {
    "person": "pedestrian",
    "car": "car",
    "truck": "truck",
    "bus": "bus",
    "train": "train",
    "motorcycle": "motorcycle",
    "bicycle": "bicycle",
    "traffic light": "traffic light",
    "stop sign": "traffic sign",
}

PRESETS: dict[str, dict[str, str | None]] = {"coco-to-kitti": COCO_TO_KITTI, "coco-to-bdd": COCO_TO_BDD}


def strict(mapping: Mapping[str, str | None]) -> Callable[[str], str | None]:
    """Only the listed names survive."""
    return lambda name: mapping.get(name)


def parse_class_map(spec: str | None) -> Callable[[str], str | None] | None:
    """``None``; a preset name (:data:`PRESETS`); ``a=b,c=d`` (``a=`` drops a); or a JSON file of ``{from: to}``.

    Preset and ``*`` maps are strict: ``car=Car,*=`` keeps only car. Otherwise unlisted names are kept.
    """
    if spec is None or not spec.strip():
        return None
    spec = spec.strip()
    if spec in PRESETS:
        return strict(PRESETS[spec])
    raw: dict[str, str | None]
    if spec.endswith(".json") or Path(spec).is_file():
        p = Path(spec)
        if not p.is_file():
            raise FormatError(spec, "class map file not found")
        try:
            data = json.loads(p.read_text("utf-8"))
        except ValueError as e:
            raise FormatError(spec, f"class map is not valid JSON: {e}") from e
        if not isinstance(data, dict) or not all(isinstance(v, str | None) for v in data.values()):
            raise FormatError(spec, 'class map must be a JSON object {"from": "to" or null}')
        raw = {str(k): (v or None) for k, v in data.items()}
    elif "=" in spec:
        raw = {}
        for part in spec.split(","):
            if "=" not in part:
                raise FormatError(spec, f"class map entry {part!r} is not 'from=to'")
            a, b = (s.strip() for s in part.split("=", 1))
            raw[a] = b or None
    else:
        raise UnknownNameError("class map", spec, [*PRESETS, "a=b,c=d", "file.json"])
    if "*" in raw:
        default = raw.pop("*")
        return lambda name: raw.get(name, default)
    return lambda name: raw.get(name, name)
