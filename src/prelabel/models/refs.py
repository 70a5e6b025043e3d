"""The one parser for model references, used by the CLI, bulk jobs, the Python API and the service.

A reference is one of:

- a zoo id, ``ssd-mobilenet-v2-coco`` or ``id@version``;
- a private registry model, ``team/name@version`` (or ``team/name`` for its newest version);
- an inference endpoint URL, ``http(s)://...``;
- ``python:package.module:factory``: a callable returning a :class:`~prelabel.models.base.Detector`;
- a plain ONNX file, ``path/to/model.onnx`` (options ``decoder`` and ``classes`` say how to read its outputs).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal

from prelabel.errors import FormatError, PrelabelError

Kind = Literal["zoo", "registry", "endpoint", "python", "onnx"]
KINDS: tuple[Kind, ...] = ("zoo", "registry", "endpoint", "python", "onnx")
PYTHON = "python:"


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference. ``name``: zoo id, ``team/name``, URL, module or file path; ``version`` where one is given;
    ``attr``: the factory's name for ``python:`` references."""

    text: str
    kind: Kind
    name: str
    version: str | None = None
    attr: str | None = None


def parse_model_ref(ref: str) -> ModelRef:
    """Parse without loading anything; a malformed reference is a :class:`PrelabelError` saying what was expected."""
    text = ref.strip()
    if not text:
        raise PrelabelError("model reference is empty; expected a zoo id, team/name@version, a URL, "
                            "python:module:factory or a .onnx file")  # fmt: skip
    if text.startswith(("http://", "https://")):
        from urllib.parse import urlparse

        if not urlparse(text).hostname:
            raise FormatError(text, "endpoint URL has no host")
        return ModelRef(text, "endpoint", text)
    if text.startswith(PYTHON):
        parts = text[len(PYTHON) :].split(":")
        if len(parts) != 2 or not all(parts):
            raise PrelabelError(f"model reference {text!r}: expected python:package.module:factory")
        return ModelRef(text, "python", parts[0], attr=parts[1])
    if text.lower().endswith(".onnx"):
        return ModelRef(text, "onnx", text)
    base, _, version = text.partition("@")
    if "/" in base:
        from prelabel.models.registry import Registry

        name, parsed_version = Registry.parse(text)
        return ModelRef(text, "registry", name, parsed_version)
    return ModelRef(text, "zoo", base, version or None)


def check_python_ref(ref: ModelRef) -> None:
    """The module of a ``python:`` reference can be found (it is not imported: that may be heavy)."""
    try:
        found = importlib.util.find_spec(ref.name)
    except (ImportError, ValueError) as e:
        found = None
        reason = f"{type(e).__name__}: {e}"
    else:
        reason = f"ModuleNotFoundError: No module named {ref.name!r}"
    if found is None:
        raise PrelabelError(f"model {ref.text}: cannot import {ref.name} ({reason})")
