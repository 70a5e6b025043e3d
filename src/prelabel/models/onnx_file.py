"""Your own ONNX file as-is: ``--model path/to/model.onnx``.

An Ultralytics export says what it is in its metadata (``names``, ``imgsz``, ``task``, ``stride``); together with
the output shapes that chooses the decoder and the class names:

- one output (1, K, 6), or (1, K, 6 + M) plus prototypes (1, M, H/4, W/4): an end-to-end export (``nms=True``),
  decoder ``yolo-e2e`` (segmentation exports give native masks);
- one output (1, 4 + C, N) or (1, N, 4 + C) with C the number of names: a raw YOLOv8/YOLO11 head, ``yolov8``;
- one output (1, N, 5 + C): a YOLOv5 head, ``yolov5``.

Preprocessing is Ultralytics': RGB scaled to 0-1, letterboxed with 114 padding, NCHW. ``decoder=`` and
``classes=`` override what the file says; a file without names needs ``classes``, and a file whose outputs match
none of the above needs ``decoder`` (any name in ``prelabel.models.decoders``). What cannot be understood is an
error that says what was found and what was expected.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prelabel.errors import FormatError, InputNotFoundError, PrelabelError, UnreadableInputError
from prelabel.models.base import Detector

ULTRALYTICS_OPTIONS: dict[str, Any] = {
    "resize": "letterbox",
    "layout": "nchw",
    "channels": "rgb",
    "scale": 1 / 255,
    "pad_value": 114,
}
TASKS = ("detect", "segment")
# where ONNX Runtime looks for external-data files (weights saved beside the .onnx) of a model given as bytes
EXTERNAL_DATA_FOLDER = "session.model_external_initializers_file_folder_path"


@dataclass
class OnnxFileInfo:
    """What the file says about itself."""

    path: Path
    metadata: dict[str, str]
    input_shape: list[Any]
    outputs: list[tuple[str, list[Any]]]
    names: list[str] | None = None
    task: str | None = None
    imgsz: list[int] | None = None  # [height, width] as Ultralytics writes it
    notes: list[str] = field(default_factory=list)

    def found(self) -> str:
        outs = ", ".join(f"{n} {s}" for n, s in self.outputs)
        meta = ", ".join(sorted(self.metadata)) or "no metadata"
        return f"input {self.input_shape}, outputs {outs}; metadata keys: {meta}"


def _literal(text: str, what: str, path: Path) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as e:
        raise FormatError(f"{path} metadata {what!r}", f"expected a Python literal; got {text[:80]!r}") from e


def read_model(path: str | Path) -> tuple[Path, bytes]:
    """The file's bytes, read once: :func:`inspect`, the sha256 version and the inference session all use them."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputNotFoundError(str(p), what="ONNX model file")
    try:
        return p, p.read_bytes()
    except OSError as e:
        raise UnreadableInputError(f"ONNX model {p}", f"{type(e).__name__}: {e}") from e


def inspect(path: str | Path, data: bytes | None = None) -> OnnxFileInfo:
    """Read the metadata and shapes of an ONNX file (no inference); ``data``: its bytes when already read."""
    import onnxruntime as ort

    p, data = (Path(path).expanduser(), data) if data is not None else read_model(path)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.add_session_config_entry(EXTERNAL_DATA_FOLDER, str(p.resolve().parent))  # weights in files beside it
    try:
        session = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for a bad file
        raise UnreadableInputError(f"ONNX model {p}", f"{type(e).__name__}: {e}") from e
    meta = dict(session.get_modelmeta().custom_metadata_map)
    info = OnnxFileInfo(
        path=p,
        metadata=meta,
        input_shape=list(session.get_inputs()[0].shape),
        outputs=[(o.name, list(o.shape)) for o in session.get_outputs()],
    )
    if "names" in meta:
        names = _literal(meta["names"], "names", p)
        if isinstance(names, dict):
            info.names = [str(names[k]) for k in sorted(names)]
        elif isinstance(names, list | tuple):
            info.names = [str(n) for n in names]
    if "imgsz" in meta:
        size = _literal(meta["imgsz"], "imgsz", p)
        size = [size, size] if isinstance(size, int) else list(size)
        info.imgsz = [int(v) for v in size]
    info.task = meta.get("task")
    return info


def default_options(decoder: str) -> dict[str, Any]:
    """Ultralytics preprocessing, and NMS unless the graph does it (end-to-end exports)."""
    return {**ULTRALYTICS_OPTIONS, **({"nms": "none"} if decoder == "yolo-e2e" else {"iou": 0.6})}


def resolve(info: OnnxFileInfo, decoder: str | None = None, classes: list[str] | None = None) -> tuple[list[str], str]:
    """(class names, decoder) for a file: what it says, with ``classes``/``decoder`` as overrides; an error naming
    what was found when it says too little."""
    names = info.names
    if classes and (names is None or not set(classes) <= set(names)):
        names = list(classes)  # the file has no names, or these rename its outputs
    if names is None:
        raise PrelabelError(
            f"{info.path}: no class names in the file (found {info.found()}); expected Ultralytics 'names' metadata "
            "or --classes NAME,NAME,... in output order"
        )
    dec = decoder or choose_decoder(info, len(names))
    if dec == "yolo-e2e" and info.task == "segment" and not any(len(s) == 4 for _, s in info.outputs):
        raise PrelabelError(f"{info.path}: task 'segment' but no prototype output; found {info.found()}")
    return names, dec


def check_onnx_file(path: str | Path, decoder: str | None = None, classes: list[str] | None = None) -> None:
    """Fail now, with the reason, if :func:`load_onnx_file` would fail to understand the file (weights not loaded
    into a runtime session for inference)."""
    resolve(inspect(path), decoder, classes)


def _input_size(info: OnnxFileInfo) -> list[int]:
    """[width, height] of the network input, from ``imgsz`` or a static NCHW input shape."""
    if info.imgsz:
        return [info.imgsz[1], info.imgsz[0]]
    shape = info.input_shape
    if len(shape) == 4 and all(isinstance(v, int) for v in shape[2:]):
        return [int(shape[3]), int(shape[2])]
    raise PrelabelError(
        f"{info.path}: cannot tell the input size: found {info.found()}; expected Ultralytics 'imgsz' metadata or a "
        "static input (1, 3, H, W)"
    )


def choose_decoder(info: OnnxFileInfo, num_classes: int | None) -> str:
    """The decoder the output shapes call for (see the module docstring), or an error naming what was found."""
    if info.task is not None and info.task not in TASKS:
        raise PrelabelError(f"{info.path}: Ultralytics task {info.task!r} is not supported; expected one of {TASKS}")
    ranks = [len(s) for _, s in info.outputs]
    main = info.outputs[0][1]
    last = main[-1] if main and isinstance(main[-1], int) else None
    has_protos = 4 in ranks[1:]
    if len(main) == 3 and last is not None:
        if last == 6 and not has_protos:
            return "yolo-e2e"
        if has_protos and last > 6:
            proto = next(s for _, s in info.outputs[1:] if len(s) == 4)
            if proto[1] == last - 6:
                return "yolo-e2e"
        if num_classes is not None and not has_protos:
            mid = main[1] if isinstance(main[1], int) else None
            if 4 + num_classes in (last, mid):
                return "yolov8"
            if last == 5 + num_classes:
                return "yolov5"
    classes = f"{num_classes} classes" if num_classes is not None else "an unknown number of classes"
    raise PrelabelError(
        f"{info.path}: cannot choose a decoder: found {info.found()} ({classes}); expected an Ultralytics export: "
        "(1, K, 6) or (1, K, 6+M) with prototypes (1, M, h, w) [end to end], (1, 4+C, N) [YOLOv8/11], (1, N, 5+C) "
        "[YOLOv5]; pass --decoder (and --classes) for other heads"
    )


def load_onnx_file(
    path: str | Path,
    *,
    decoder: str | None = None,
    classes: list[str] | None = None,
    **options: Any,
) -> Detector:
    """A detector for ``path`` (see the module docstring); ``options`` as for the ONNX backend. The file is read
    once: its bytes give the metadata, the sha256 version and the inference session."""
    import hashlib

    from prelabel.models.backends.onnx_runtime import OnnxDetector

    p, data = read_model(path)
    info = inspect(p, data)
    names, dec = resolve(info, decoder, classes)
    merged = default_options(dec)
    merged.update({k: v for k, v in options.items() if v is not None})
    size = [int(v) for v in merged.pop("input_size")] if "input_size" in merged else _input_size(info)
    return OnnxDetector(
        model_id=info.path.stem,
        version=f"sha256-{hashlib.sha256(data).hexdigest()[:12]}",
        classes=names,
        onnx_path=info.path,
        model_bytes=data,
        input_size=size,
        decoder=dec,
        **merged,
    )


def registry_settings(path: str | Path, decoder: str | None = None, classes: list[str] | None = None) -> dict[str, Any]:
    """What ``prelabel models register`` needs (decoder, classes, input size, options) from the file itself, for
    the flags not given; the same rules as :func:`load_onnx_file`."""
    info = inspect(path)
    names = classes or info.names
    if names is None:
        raise PrelabelError(
            f"{info.path}: no class names in the file (found {info.found()}); pass --classes (a file or coco80)"
        )
    dec = decoder or choose_decoder(info, len(names))
    return {"decoder": dec, "classes": list(names), "input_size": _input_size(info), "options": default_options(dec)}
