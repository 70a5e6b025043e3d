"""Resolve a model reference to a loaded detector.

A reference is one of:

- a zoo id, ``ssd-mobilenet-v2-coco`` or ``id@version``;
- a private registry model, ``team/name@version`` (or ``team/name`` for its newest version), looked up in the
  registry given as ``registry=`` or ``$PRELABEL_REGISTRY`` (a folder or an ``s3://`` prefix);
- an inference endpoint URL, ``http(s)://...``: prelabel's own endpoint protocol by default, or the KServe v2
  protocol when the URL holds ``/v2/models/<name>`` or ``protocol="kserve"`` is given.

Runtimes register a factory in :data:`RUNTIMES`; an unknown one lists the valid names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prelabel.errors import UnknownNameError
from prelabel.models.base import Detector
from prelabel.models.fetch import fetch_entry, model_dir
from prelabel.models.zoo import ModelEntry, get_entry

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


RUNTIMES: dict[str, Factory] = {"opencv-tf": _opencv_tf, "opencv-darknet": _opencv_darknet, "onnx": _onnx}


def prepare_entry(entry: ModelEntry, cache: str | Path | None = None) -> dict[str, Path]:
    """Fetch and verify the entry's files; for entries with ``convert``, add the converted model as ``onnx``."""
    from prelabel.models.fetch import cache_dir

    files = fetch_entry(entry, cache)
    if entry.convert:
        from prelabel.models.convert import ensure_converted

        files = {**files, "onnx": ensure_converted(entry.convert, files, model_dir(entry, cache_dir(cache)), entry.ref)}
    return files


def load_entry(entry: ModelEntry, cache: str | Path | None = None, **options: Any) -> Detector:
    if entry.runtime not in RUNTIMES:
        raise UnknownNameError("runtime", entry.runtime, RUNTIMES)
    files = prepare_entry(entry, cache)
    merged = {**entry.options, **{k: v for k, v in options.items() if v is not None}}
    return RUNTIMES[entry.runtime](entry, files, **merged)


def is_url(model: str) -> bool:
    return model.startswith(("http://", "https://"))


def is_registry_ref(model: str) -> bool:
    return "/" in model.partition("@")[0] and not is_url(model)


def is_onnx_file(model: str) -> bool:
    return model.lower().endswith(".onnx") and not is_url(model)


def load_detector(model: str, cache: str | Path | None = None, **options: Any) -> Detector:
    """Load ``model`` once; options (``min_score``, ``threads``, ``registry``, ``timeout``...) go to the backend."""
    if is_onnx_file(model):  # your own ONNX file, described by its metadata (prelabel.models.onnx_file)
        from prelabel.models.onnx_file import load_onnx_file

        options.pop("registry", None)
        return load_onnx_file(model, **options)
    if is_url(model):
        from prelabel.models.endpoints import load_endpoint

        return load_endpoint(model, **options)
    registry = options.pop("registry", None)
    if is_registry_ref(model):
        from prelabel.models.registry import Registry

        Registry.parse(model)  # a malformed reference fails before the registry is even needed
        entry = Registry.open(registry).resolve(model)
        return load_entry(entry, cache, **options)
    return load_entry(get_entry(model), cache, **options)


def check_model_ref(model: str, registry: str | None = None) -> str:
    """Check a reference without loading weights: 'zoo', 'registry', 'endpoint' or 'file'; raises if bad."""
    if is_onnx_file(model):
        from prelabel.models.onnx_file import inspect

        inspect(model)
        return "file"
    if is_url(model):
        from urllib.parse import urlparse

        from prelabel.errors import FormatError

        if not urlparse(model).hostname:
            raise FormatError(model, "endpoint URL has no host")
        return "endpoint"
    if is_registry_ref(model):
        from prelabel.models.registry import Registry

        Registry.parse(model)
        Registry.open(registry).resolve(model)
        return "registry"
    get_entry(model)
    return "zoo"
