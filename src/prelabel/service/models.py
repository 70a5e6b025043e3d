"""What a service model reference is, and how a worker loads it (once per worker process).

- a zoo id: ``ssd-mobilenet-v2-coco`` or ``id@version`` (checked against the zoo when the model is created);
- a private model: ``team/name@version`` (resolved by :func:`prelabel.models.loader.load_detector`);
- an existing endpoint: ``http(s)://host:port/endpoints/NAME`` (a running prelabel endpoint, called through its
  synchronous route by the loader);
- ``python:package.module:factory``: a callable returning a :class:`~prelabel.models.base.Detector` (custom code,
  importable by the worker process).

``options.ontology`` (``{"class_map": "kitti", "classes": ["Car", "Pedestrian"]}``) gives the labels a team's own
class names, as ``prelabel label --class-map/--classes`` does (``prelabel.inference.ontology``): checked when the
model is created, applied around the detector when a worker loads it.
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
    :class:`PrelabelError` naming what is wrong and the valid choices (``options.ontology`` included)."""
    from prelabel.inference.ontology import split_options
    from prelabel.models.refs import parse_model_ref

    backend, ontology = split_options(options)
    parsed = parse_model_ref(ref)
    if parsed.kind == "python":
        if ontology is not None:
            ontology.check(None, files=False)
        return "python"  # the module is imported by the worker process, where it must be importable
    from prelabel.models.loader import check_model_ref

    kind = check_model_ref(ref, backend.get("registry"), backend)
    if ontology is not None:
        ontology.check(_known_classes(parsed.kind, ref, parsed.name, backend), files=False)
    return {"registry": "private"}.get(kind, kind)


def _known_classes(kind: str, ref: str, name: str, options: dict[str, Any]) -> list[str] | None:
    """A model's class names when they are known without loading it (zoo manifest, ONNX metadata)."""
    if kind == "zoo":
        from prelabel.models.zoo import get_entry

        return list(get_entry(ref).class_names)
    if kind == "onnx":
        from prelabel.models.onnx_file import inspect, resolve

        return resolve(inspect(name), options.get("decoder"), options.get("classes"))[0]
    return None


def load_model(ref: str, options: dict[str, Any]) -> Detector:
    """Load the detector ``ref`` names (slow: weights are read here, once per worker), in its ontology if the
    options give one."""
    from prelabel.inference.ontology import split_options
    from prelabel.models.loader import load_detector

    backend, ontology = split_options(options)
    if model_kind(ref) == "python":
        if os.environ.get("PRELABEL_ALLOW_PYTHON_MODELS") != "1":  # set for workers by serve --allow-python-models
            raise PrelabelError(f"model {ref!r}: python: references are disabled; start with --allow-python-models")
        detector = load_detector(ref, **backend)
        _check_detector(ref, detector)
    else:
        detector = load_detector(ref, **backend)
    return ontology.wrap(detector) if ontology is not None else detector


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
