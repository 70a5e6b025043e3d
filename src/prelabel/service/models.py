"""What a service model reference is, and how a worker loads it (once per worker process).

- a zoo id: ``ssd-mobilenet-v2-coco`` or ``id@version`` (checked against the zoo when the model is created);
- a private model: ``team/name@version`` (resolved by :func:`prelabel.models.loader.load_detector`);
- an existing endpoint: ``http(s)://host:port/endpoints/NAME`` (a running prelabel endpoint, called through its
  synchronous route by the loader);
- ``python:package.module:factory``: a callable returning a :class:`~prelabel.models.base.Detector` (custom code,
  importable by the worker process).
"""

from __future__ import annotations

import os
from typing import Any

from prelabel.errors import PrelabelError
from prelabel.models.base import Detector


def model_kind(ref: str) -> str:
    """zoo, private, endpoint, python or onnx (the service's names for :mod:`prelabel.models.refs` kinds)."""
    from prelabel.models.refs import parse_model_ref

    kind = parse_model_ref(ref).kind
    return {"registry": "private"}.get(kind, kind)


def check_model(ref: str, options: dict[str, Any] | None = None) -> str:
    """The kind of ``ref`` (zoo, private, endpoint, python, onnx), checked without loading weights; raises a
    :class:`PrelabelError` naming what is wrong and the valid choices."""
    from prelabel.models.refs import parse_model_ref

    if parse_model_ref(ref).kind == "python":
        return "python"  # the module is imported by the worker process, where it must be importable
    from prelabel.models.loader import check_model_ref

    kind = check_model_ref(ref, (options or {}).get("registry"), options)
    return {"registry": "private"}.get(kind, kind)


def load_model(ref: str, options: dict[str, Any]) -> Detector:
    """Load the detector ``ref`` names (slow: weights are read here, once per worker)."""
    if model_kind(ref) == "python":
        if os.environ.get("PRELABEL_ALLOW_PYTHON_MODELS") != "1":  # set for workers by serve --allow-python-models
            raise PrelabelError(f"model {ref!r}: python: references are disabled; start with --allow-python-models")
        from prelabel.models.loader import load_detector

        detector = load_detector(ref, **options)
        _check_detector(ref, detector)
        return detector
    from prelabel.models.loader import load_detector

    return load_detector(ref, **options)


def _check_detector(ref: str, obj: object) -> None:
    """Refuse what a factory returned unless it has a detector's interface (checked before the first image)."""
    missing = [name for name in ("model_id", "version", "classes") if not hasattr(obj, name)]
    if not callable(getattr(obj, "detect", None)):
        missing.append("detect(image)")
    if missing:
        raise PrelabelError(
            f"model reference {ref!r}: the factory returned {type(obj).__name__}, not a detector "
            f"(missing {', '.join(missing)}); expected an object with model_id, version, classes and detect(image)"
        )
