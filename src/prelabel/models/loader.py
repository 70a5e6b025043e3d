"""Resolve a model reference to a loaded detector.

References (parsed once, by :func:`prelabel.models.refs.parse_model_ref`): a zoo id (``id`` or ``id@version``), a
private registry model ``team/name@version`` (registry from ``registry=`` or ``$PRELABEL_REGISTRY``), an endpoint
URL (prelabel's protocol, or KServe v2 for ``/v2/models/<name>`` or ``protocol="kserve"``),
``python:module:factory``, or a plain ``.onnx`` file.

Runtimes are factories in :data:`RUNTIMES` (built-ins and ``prelabel.runtimes`` entry points,
``name = "package.module:factory"`` with ``factory(entry, files, **options) -> Detector``); an unknown one lists
the valid names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prelabel.errors import PrelabelError, UnknownNameError
from prelabel.models.base import Detector
from prelabel.models.fetch import fetch_entry, model_dir
from prelabel.models.refs import PYTHON, ModelRef, check_python_ref, parse_model_ref
from prelabel.models.zoo import ModelEntry, get_entry
from prelabel.plugins import Registry

Factory = Callable[..., Detector]


def _opencv_tf(entry: ModelEntry, files: dict[str, Path], **options: Any) -> Detector:
    from prelabel.models.backends.opencv_tf import OpenCVTFDetector

    return OpenCVTFDetector(entry, files, **options)


def _opencv_darknet(entry: ModelEntry, files: dict[str, Path], **options: Any) -> Detector:
    from prelabel.models.backends.opencv_darknet import OpenCVDarknetDetector

    return OpenCVDarknetDetector(entry, files, **options)


def _onnx(entry: ModelEntry, files: dict[str, Path], **options: Any) -> Detector:
    from prelabel.models.backends.onnx_runtime import OnnxDetector

    path = files.get("onnx") or files.get("model")
    if path is None:
        raise UnknownNameError("file role for an onnx model", "(none)", ["model", "onnx"])
    return OnnxDetector(
        model_id=entry.id,
        version=entry.version,
        classes=entry.class_names,
        onnx_path=path,
        input_size=entry.input_size,
        decoder=options.pop("decoder", entry.decoder),
        **options,
    )


def _check_factory(name: str, obj: Any) -> Factory:
    if not callable(obj):
        raise TypeError(f"expected a factory(entry, files, **options) -> Detector, got {type(obj).__name__}")
    return obj


#: runtime name -> factory, as pyproject.toml declares them in the ``prelabel.runtimes`` group.
RUNTIMES: Registry[Factory] = Registry(
    "prelabel.runtimes",
    "runtime",
    {
        "onnx": "prelabel.models.loader:_onnx",
        "opencv-darknet": "prelabel.models.loader:_opencv_darknet",
        "opencv-tf": "prelabel.models.loader:_opencv_tf",
    },
    _check_factory,
)


def prepare_entry(entry: ModelEntry, cache: str | Path | None = None) -> dict[str, Path]:
    """Fetch and verify the entry's files; for entries with ``convert``, add the converted model as ``onnx``."""
    from prelabel.models.fetch import cache_dir

    files = fetch_entry(entry, cache)
    if entry.convert:
        from prelabel.models.convert import ensure_converted

        files = {**files, "onnx": ensure_converted(entry.convert, files, model_dir(entry, cache_dir(cache)), entry.ref)}
    return files


def load_entry(entry: ModelEntry, cache: str | Path | None = None, **options: Any) -> Detector:
    if entry.task not in ("detect", "segment"):  # a segmentation model detects too (its masks: --masks native)
        hint = "; add masks to a detector's boxes with `prelabel label --masks sam`" if "box" in entry.task else ""
        raise PrelabelError(f"model {entry.ref} is a {entry.task} model, not a detector{hint}")
    factory = RUNTIMES.get(entry.runtime)  # an unknown runtime lists the valid ones
    files = prepare_entry(entry, cache)
    merged = {**entry.options, **{k: v for k, v in options.items() if v is not None}}
    return factory(entry, files, **merged)


def is_url(model: str) -> bool:
    return model.startswith(("http://", "https://"))


def is_registry_ref(model: str) -> bool:
    """Looks like ``team/name[@version]`` (the kind :func:`parse_model_ref` gives, without validating it)."""
    if is_url(model) or model.startswith(PYTHON) or model.lower().endswith(".onnx"):
        return False
    return "/" in model.partition("@")[0]


def load_detector(model: str, cache: str | Path | None = None, **options: Any) -> Detector:
    """Load ``model`` once (any reference :mod:`prelabel.models.refs` parses); options (``min_score``,
    ``threads``, ``registry``, ``decoder``, ``classes``...) go to the backend."""
    ref = parse_model_ref(model)
    if ref.kind == "onnx":  # your own ONNX file, described by its metadata (prelabel.models.onnx_file)
        from prelabel.models.onnx_file import load_onnx_file

        options.pop("registry", None)
        return load_onnx_file(ref.name, **options)
    if ref.kind == "endpoint":
        from prelabel.models.endpoints import load_endpoint

        return load_endpoint(model, **options)
    if ref.kind == "python":
        return _load_python(ref, options)
    registry = options.pop("registry", None)
    if ref.kind == "registry":
        from prelabel.models.registry import Registry

        return load_entry(Registry.open(registry).resolve(model), cache, **options)
    return load_entry(get_entry(model), cache, **options)


def _load_python(ref: ModelRef, options: dict[str, Any]) -> Detector:
    """``python:module:factory``: the factory called with the options."""
    check_python_ref(ref)
    try:
        module = importlib.import_module(ref.name)
    except Exception as e:
        raise PrelabelError(f"model {ref.text}: importing {ref.name} failed: {type(e).__name__}: {e}") from e
    factory = getattr(module, ref.attr or "", None)
    if not callable(factory):
        raise PrelabelError(f"model {ref.text}: {ref.name} has no callable {ref.attr!r}")
    detector = factory(**{k: v for k, v in options.items() if v is not None and k != "registry"})
    if not callable(getattr(detector, "detect", None)):
        raise PrelabelError(f"model {ref.text}: the factory returned {type(detector).__name__}, not a detector")
    result: Detector = detector
    return result


def check_model_ref(model: str, registry: str | None = None, options: dict[str, Any] | None = None) -> str:
    """Check a reference without loading weights: its kind (see :data:`prelabel.models.refs.KINDS`); raises a
    clear error if it is malformed or names nothing. ``options``: what it would be loaded with (a plain .onnx
    file is checked with its ``decoder`` and ``classes`` overrides: one without names needs ``classes``)."""
    ref = parse_model_ref(model)
    if ref.kind == "registry":
        from prelabel.models.registry import Registry

        Registry.open(registry).resolve(model)
    elif ref.kind == "zoo":
        get_entry(model)
    elif ref.kind == "python":
        check_python_ref(ref)
    elif ref.kind == "onnx":
        from prelabel.models.onnx_file import check_onnx_file

        opts = options or {}
        check_onnx_file(ref.name, decoder=opts.get("decoder"), classes=opts.get("classes"))
    return ref.kind
