"""Resolve a model reference to a loaded detector.

A reference is a zoo id (``ssd-mobilenet-v2-coco`` or ``id@version``). Later: a private registry name
(``team/name@version``) or an endpoint URL. Runtimes register a factory here; unknown ones list the valid names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prelabel.errors import UnknownNameError
from prelabel.models.base import Detector
from prelabel.models.fetch import fetch_entry
from prelabel.models.zoo import ModelEntry, get_entry

Factory = Callable[..., Detector]


def _opencv_tf(entry: ModelEntry, files: dict[str, Path], **options: Any) -> Detector:
    from prelabel.models.backends.opencv_tf import OpenCVTFDetector

    return OpenCVTFDetector(entry, files, **options)


RUNTIMES: dict[str, Factory] = {"opencv-tf": _opencv_tf}


def load_entry(entry: ModelEntry, cache: str | Path | None = None, **options: Any) -> Detector:
    if entry.runtime not in RUNTIMES:
        raise UnknownNameError("runtime", entry.runtime, RUNTIMES)
    files = fetch_entry(entry, cache)
    return RUNTIMES[entry.runtime](entry, files, **{**entry.options, **options})


def load_detector(model: str, cache: str | Path | None = None, **options: Any) -> Detector:
    """Load ``model`` once; options (``min_score``, ``threads``...) go to the backend."""
    return load_entry(get_entry(model), cache, **options)
