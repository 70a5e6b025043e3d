"""``--device``: names map to ONNX Runtime providers, and a device this install cannot use is refused clearly
(never a silent fall-back to CPU). This machine has the CPU build of onnxruntime only; GPU runs are untested here."""

from __future__ import annotations

import onnxruntime as ort
import pytest

from prelabel.errors import UnknownNameError
from prelabel.models.backends.providers import (
    DeviceUnavailableError,
    is_gpu,
    parse_device,
    providers_for,
    require_cpu,
)


def test_device_names() -> None:
    assert parse_device(None) == ("cpu", 0) and parse_device("cuda:1") == ("cuda", 1)
    assert is_gpu("cuda") and is_gpu("tensorrt:0") and not is_gpu("openvino") and not is_gpu(None)
    assert providers_for("cpu") == ["CPUExecutionProvider"]
    for bad in ("gpu", "cuda:x", "openvino:1", "cpu:0"):
        with pytest.raises(UnknownNameError, match="expected one of: cpu, cuda, cuda:N, openvino"):
            parse_device(bad)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "tensorrt", "openvino"])
def test_unavailable_provider_is_refused(device: str) -> None:
    from prelabel.models.backends.providers import PROVIDER

    if PROVIDER[parse_device(device)[0]] in ort.get_available_providers():
        pytest.skip(f"this install has {device}")
    with pytest.raises(DeviceUnavailableError, match=f"device '{device}' needs ONNX Runtime's .* or pass --device cpu"):
        providers_for(device)


def test_zoo_models_refuse_unavailable_devices() -> None:
    from prelabel.models import load_detector

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this install has CUDA")
    with pytest.raises(DeviceUnavailableError, match="CUDAExecutionProvider"):
        load_detector("yolo11n-coco", device="cuda")
    with pytest.raises(DeviceUnavailableError, match="runs on OpenCV DNN"):
        load_detector("ssd-mobilenet-v2-coco", device="cuda")
    require_cpu("cpu", "m", "OpenCV DNN")
    assert load_detector("yolo11n-coco", device="cpu").device == "cpu"  # type: ignore[attr-defined]
