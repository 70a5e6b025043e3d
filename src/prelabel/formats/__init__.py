"""Label formats: one module per format with ``read(src, **opts)`` and ``write(records, dst, **opts)``.

``read`` yields :class:`~prelabel.core.labels.FrameRecord` s (streamed where the format allows); ``write`` takes any
iterable of records and returns a :class:`~prelabel.formats._common.WriteSummary`. Boxes inside prelabel are
absolute pixel ``xyxy``; each module converts at its own edge. Modules are imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from prelabel.core.labels import FrameRecord
from prelabel.errors import UnknownNameError

# format name -> module under prelabel.formats
_MODULES: dict[str, str] = {
    "labels": "native",
    "groundtruth": "groundtruth",
    "coco": "coco",
    "yolo": "yolo",
    "voc": "voc",
    "kitti": "kitti",
    "scalabel": "scalabel",
    "labelstudio": "labelstudio",
    "cvat": "cvat",
    "nuscenes": "nuscenes",
    "mot": "mot",
    "cvat-video": "cvat_video",
    "groundtruth-video": "groundtruth_video",
    "nuscenes-detection": "nuscenes_detection",
    "av2": "av2",
}
# other spellings people use
ALIASES: dict[str, str] = {
    "prelabel": "labels",
    "jsonl": "labels",
    "gt": "groundtruth",
    "sagemaker": "groundtruth",
    "bdd": "scalabel",
    "bdd100k": "scalabel",
    "pascal": "voc",
    "pascal_voc": "voc",
    "label-studio": "labelstudio",
    "label_studio": "labelstudio",
    "cvat-images": "cvat",
    "motchallenge": "mot",
    "cvat_video": "cvat-video",
    "gt-video": "groundtruth-video",
}


class FormatModule(Protocol):
    def read(self, src: str, **opts: Any) -> Iterator[FrameRecord]: ...

    def write(self, records: Iterable[FrameRecord], dst: str, **opts: Any) -> Any: ...


def names() -> list[str]:
    """The format names ``get`` accepts (canonical names; aliases also work)."""
    return sorted(_MODULES)


def canonical(name: str) -> str:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in _MODULES:
        raise UnknownNameError("label format", name, names())
    return key


def get(name: str) -> FormatModule:
    """The module for a format name, e.g. ``get("coco").read("instances.json")``."""
    mod: Any = importlib.import_module(f"prelabel.formats.{_MODULES[canonical(name)]}")
    return mod


def read(name: str, src: str, **opts: Any) -> Iterator[FrameRecord]:
    return get(name).read(src, **opts)


def write(name: str, records: Iterable[FrameRecord], dst: str, **opts: Any) -> Any:
    return get(name).write(records, dst, **opts)
