"""Fixtures for the model tests: zoo detectors loaded once per session (fetched and converted into the user cache,
verified on every load), KITTI frames with their labels, and small ONNX graphs whose outputs are known."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

KITTI_TRAIN_CLASSES = {"Car": "car", "Van": "car", "Truck": "truck", "Pedestrian": "person", "Cyclist": "person"}


def kitti_boxes(kitti: Path, frame: str, min_height: float = 25.0) -> list[tuple[str, list[float]]]:
    """KITTI label_2 objects of the driving classes that are at least ``min_height`` pixels tall."""
    out = []
    for line in (kitti / "label_2" / f"{frame}.txt").read_text().splitlines():
        f = line.split()
        if f[0] in KITTI_TRAIN_CLASSES and float(f[7]) - float(f[5]) >= min_height:
            out.append((f[0], [float(v) for v in f[4:8]]))
    return out


@pytest.fixture(scope="session")
def zoo_detectors() -> dict[str, Any]:
    from prelabel.models import load_detector

    cache: dict[str, Any] = {}

    class _Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, key: str) -> Any:
            cache[key] = load_detector(key, threads=2, min_score=0.25)
            self[key] = cache[key]
            return cache[key]

    return _Lazy()


def const_model(path: Path, outputs: dict[str, np.ndarray], input_shape: list[int]) -> Path:
    """An ONNX graph whose outputs are the given constants (tied to the input by ``+ 0 * sum(input)``)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceSum", ["image"], ["s"], keepdims=0),
        helper.make_node("Mul", ["s", "zero"], ["z"]),
    ]
    inits = [numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
    outs = []
    for name, value in outputs.items():
        value = np.asarray(value, np.float32)
        inits.append(numpy_helper.from_array(value, f"{name}_value"))
        nodes.append(helper.make_node("Add", [f"{name}_value", "z"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(
        nodes, "known", [helper.make_tensor_value_info("image", TensorProto.FLOAT, input_shape)], outs, inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save_model(model, str(path))
    return path
