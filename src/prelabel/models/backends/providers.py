"""``--device`` -> ONNX Runtime execution providers, refusing a device this install cannot use.

Devices: ``cpu`` (the default), ``cuda`` or ``cuda:N`` (GPU N; package ``onnxruntime-gpu``, extra ``gpu``),
``tensorrt`` or ``tensorrt:N`` (TensorRT through ``onnxruntime-gpu`` built with it), ``openvino`` (Intel CPUs, GPUs
and NPUs; package ``onnxruntime-openvino``, extra ``openvino``). Only one onnxruntime package may be installed in an
environment: they all provide the same ``onnxruntime`` module and overwrite each other.

A device whose provider is not in ``onnxruntime.get_available_providers()`` is an error, and so is a session that
ONNX Runtime created on CPU after failing to start the requested provider: prelabel never falls back to CPU
silently. CPU stays last in the list so that operators the accelerator lacks still run (ONNX Runtime's normal
graph partitioning).
"""

from __future__ import annotations

from typing import Any

from prelabel.errors import PrelabelError, UnknownNameError

DEVICES = ("cpu", "cuda", "cuda:N", "tensorrt", "tensorrt:N", "openvino")
PROVIDER = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
}
PACKAGE = {  # no square brackets: the CLI prints errors through rich, which would read them as markup
    "cuda": "onnxruntime-gpu (prelabel's gpu extra)",
    "tensorrt": "onnxruntime-gpu with the TensorRT libraries (prelabel's gpu extra plus TensorRT)",
    "openvino": "onnxruntime-openvino (prelabel's openvino extra)",
}


class DeviceUnavailableError(PrelabelError):
    pass


def parse_device(device: str | None) -> tuple[str, int]:
    """``"cuda:1"`` -> ``("cuda", 1)``; ``None`` -> ``("cpu", 0)``; an unknown name lists the options."""
    text = (device or "cpu").strip().lower()
    kind, sep, index = text.partition(":")
    if kind not in PROVIDER or (sep and kind not in ("cuda", "tensorrt")):
        raise UnknownNameError("device", device or "", DEVICES)
    if sep and not index.isdigit():
        raise UnknownNameError("device", device or "", DEVICES)
    return kind, int(index) if sep else 0


def is_gpu(device: str | None) -> bool:
    return parse_device(device)[0] in ("cuda", "tensorrt")


def providers_for(device: str | None) -> list[Any]:
    """The provider list for ``InferenceSession``; raises :class:`DeviceUnavailableError` if it cannot run here."""
    import onnxruntime as ort

    kind, index = parse_device(device)
    if kind == "cpu":
        return ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    wanted = PROVIDER[kind]
    if wanted not in available:
        raise DeviceUnavailableError(
            f"device {device!r} needs ONNX Runtime's {wanted}, which this install does not have "
            f"(onnxruntime {ort.__version__} offers: {', '.join(available)}); install {PACKAGE[kind]} in place of "
            "the other onnxruntime package, or pass --device cpu"
        )
    if kind == "cuda":
        return [(wanted, {"device_id": index}), "CPUExecutionProvider"]
    if kind == "tensorrt":
        chain: list[Any] = [(wanted, {"device_id": index})]
        if "CUDAExecutionProvider" in available:
            chain.append(("CUDAExecutionProvider", {"device_id": index}))
        return [*chain, "CPUExecutionProvider"]
    return [wanted, "CPUExecutionProvider"]


def check_session(session: Any, device: str | None, what: str) -> None:
    """Raise if ONNX Runtime quietly dropped the requested accelerator when it built ``session``."""
    kind, _ = parse_device(device)
    if kind == "cpu":
        return
    got = list(session.get_providers())
    if PROVIDER[kind] not in got:
        raise DeviceUnavailableError(
            f"{what}: ONNX Runtime could not start {PROVIDER[kind]} for device {device!r} (the session got "
            f"{', '.join(got)}); check the GPU driver and CUDA/cuDNN libraries, or pass --device cpu"
        )


def require_cpu(device: str | None, model: str, runtime: str) -> None:
    """Backends that run on CPU only (OpenCV DNN) refuse any other device instead of ignoring it."""
    if parse_device(device)[0] != "cpu":
        raise DeviceUnavailableError(
            f"model {model} runs on {runtime}, which prelabel runs on CPU only; got --device {device}; "
            "use --device cpu or an ONNX model (e.g. yolo11n-coco)"
        )
