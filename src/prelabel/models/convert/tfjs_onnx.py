"""TensorFlow.js graph model (``model.json`` + ``.bin`` shards) to ONNX, without TensorFlow.

Covers the ops that small detection CNNs exported to TF.js use (convolutions, depthwise convolutions, the fused
variants Grappler writes, pads, pools, resizes, element-wise maths, concat/split/reshape/slice, TopK and Gather);
the handlers live in :mod:`prelabel.models.convert.tfjs_ops`.
Tensors keep TensorFlow's NHWC layout; each convolution, pool and resize is wrapped in NCHW transposes that
ONNX Runtime's layout optimiser removes. Nodes whose inputs are all constant are folded in numpy. An op outside the
list raises :class:`TFJSConversionError` naming the node and the supported ops.

Weights: ``weightsManifest`` groups list ``paths`` (concatenated in order) and ``weights`` (name, shape, dtype,
optional ``quantization`` {dtype float16 | uint8 | uint16, scale, min}); quantised weights are dequantised to fp32.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel import storage
from prelabel.errors import PrelabelError

OPSET = 17

_TF_DTYPES: dict[str, Any] = {
    "DT_FLOAT": np.float32,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_BOOL": np.bool_,
    "DT_HALF": np.float16,
    "DT_UINT8": np.uint8,
}
_MANIFEST_DTYPES: dict[str, Any] = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANT_DTYPES: dict[str, Any] = {"float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}


class TFJSConversionError(PrelabelError):
    pass


def _attr(node: dict[str, Any], name: str, default: Any = None) -> Any:
    """Decode a TF AttrValue from the JSON form: s (base64), i, f, b, type, list.{i,s,f}."""
    v = node.get("attr", {}).get(name)
    if v is None:
        return default
    if "s" in v:
        return base64.b64decode(v["s"]).decode()
    if "i" in v:
        return int(v["i"])
    if "f" in v:
        return float(v["f"])
    if "b" in v:
        return bool(v["b"])
    if "type" in v:
        return v["type"]
    if "list" in v:
        lst = v["list"]
        if "i" in lst:
            return [int(x) for x in lst["i"]]
        if "s" in lst:
            return [base64.b64decode(x).decode() for x in lst["s"]]
        if "f" in lst:
            return [float(x) for x in lst["f"]]
        return []
    return default


def read_weights(
    model_json: dict[str, Any], folder: Path, shards: dict[str, Path] | None = None
) -> dict[str, npt.NDArray[Any]]:
    """Every weight of a TF.js graph model as a numpy array (quantised weights dequantised).

    ``shards`` maps a manifest path (``model.bin``) to the file holding it, where the files were renamed."""
    out: dict[str, npt.NDArray[Any]] = {}
    shards = shards or {}
    for group in model_json.get("weightsManifest", []):
        data = b"".join(Path(shards.get(p, folder / p)).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            dtype = _MANIFEST_DTYPES.get(w["dtype"])
            if dtype is None:
                raise TFJSConversionError(f"weight {w['name']}: unsupported dtype {w['dtype']!r}")
            if q:
                qdt = _QUANT_DTYPES.get(q["dtype"])
                if qdt is None:
                    raise TFJSConversionError(f"weight {w['name']}: unsupported quantization {q['dtype']!r}")
                nbytes = count * np.dtype(qdt).itemsize
                raw = np.frombuffer(data, dtype=qdt, count=count, offset=offset)
                if q["dtype"] == "float16":
                    arr = raw.astype(np.float32)
                else:
                    arr = raw.astype(np.float32) * float(q["scale"]) + float(q["min"])
                arr = arr.astype(dtype)
            else:
                nbytes = count * np.dtype(dtype).itemsize
                arr = np.frombuffer(data, dtype=dtype, count=count, offset=offset).copy()
            if offset + nbytes > len(data):
                raise TFJSConversionError(f"weight {w['name']} runs past the end of the weight files")
            offset += nbytes
            out[w["name"]] = arr.reshape(shape)
    return out


def _inline_tensor(node: dict[str, Any]) -> npt.NDArray[Any] | None:
    t = node.get("attr", {}).get("value", {}).get("tensor")
    if not t:
        return None
    dtype = _TF_DTYPES.get(t.get("dtype", ""), np.float32)
    shape = [int(d.get("size", 0)) for d in t.get("tensorShape", {}).get("dim", [])]
    if "tensorContent" in t:
        return np.frombuffer(base64.b64decode(t["tensorContent"]), dtype=dtype).reshape(shape).copy()
    for key in ("floatVal", "intVal", "int64Val", "boolVal"):
        if key in t:
            vals = np.asarray(t[key], dtype=dtype)
            count = int(np.prod(shape)) if shape else 1
            return np.broadcast_to(vals, (count,)).reshape(shape).copy() if vals.size == 1 else vals.reshape(shape)
    return None


class _Builder:
    def __init__(self) -> None:
        from onnx import helper

        self.helper = helper
        self.nodes: list[Any] = []
        self.initializers: dict[str, npt.NDArray[Any]] = {}
        self.consts: dict[str, npt.NDArray[Any]] = {}
        self._n = 0

    def fresh(self, base: str) -> str:
        self._n += 1
        return f"{base}__{self._n}"

    def const(self, value: Any, base: str = "c", dtype: Any = None) -> str:
        arr = np.asarray(value, dtype=dtype)
        name = self.fresh(base)
        self.initializers[name] = arr
        return name

    def ref_const(self, name: str) -> str:
        """Make a folded constant available as an initializer the first time a real node uses it."""
        if name in self.consts and name not in self.initializers:
            self.initializers[name] = self.consts[name]
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str] | None = None, **attrs: Any) -> list[str]:
        outputs = outputs or [self.fresh(op)]
        self.nodes.append(self.helper.make_node(op, inputs, outputs, **attrs))
        return outputs


class Converter:
    """One conversion: walks the TF.js nodes in order and emits ONNX nodes."""

    def __init__(self, model_json: dict[str, Any], weights: dict[str, npt.NDArray[Any]]) -> None:
        self.model = model_json
        self.weights = weights
        self.b = _Builder()
        self.dtypes: dict[str, Any] = {}
        self.nodes = {n["name"]: n for n in model_json["modelTopology"]["node"]}

    # names -------------------------------------------------------------
    @staticmethod
    def tensor(ref: str) -> str:
        """TF input ref (``node``, ``node:1``, ``^ctrl``) -> tensor name (output 0 is the bare node name)."""
        ref = ref.lstrip("^")
        if ref.endswith(":0"):
            ref = ref[:-2]
        return ref

    def inputs(self, node: dict[str, Any]) -> list[str]:
        return [self.tensor(i) for i in node.get("input", []) if not i.startswith("^")]

    def is_const(self, name: str) -> bool:
        return name in self.b.consts

    def value(self, name: str) -> npt.NDArray[Any]:
        if name not in self.b.consts:
            raise TFJSConversionError(f"tensor {name!r} must be constant for this op")
        return self.b.consts[name]

    def use(self, name: str) -> str:
        return self.b.ref_const(name)

    # conversion --------------------------------------------------------
    def convert(self) -> Any:
        from onnx import TensorProto, helper, numpy_helper

        from prelabel.models.convert.tfjs_ops import FOLDERS, HANDLERS

        graph_inputs = []
        order = self._topological()
        for node in order:
            op = node["op"]
            name = node["name"]
            if op == "Const":
                arr = self.weights.get(name)
                if arr is None:
                    arr = _inline_tensor(node)
                if arr is None:
                    raise TFJSConversionError(f"constant {name!r} has no value in the weights or the graph")
                self.b.consts[name] = arr
                continue
            if op == "Placeholder":
                dims = [int(d.get("size", -1)) for d in _attr_shape(node)]
                dtype = _TF_DTYPES[node["attr"]["dtype"]["type"]]
                elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
                graph_inputs.append(helper.make_tensor_value_info(name, elem, [d if d > 0 else None for d in dims]))
                self.dtypes[name] = dtype
                continue
            ins = self.inputs(node)
            if ins and all(self.is_const(i) for i in ins) and op in FOLDERS:
                folded = FOLDERS[op](self, node, [self.value(i) for i in ins])
                self.b.consts[name] = np.asarray(folded)
                continue
            handler = HANDLERS.get(op)
            if handler is None:
                raise TFJSConversionError(
                    f"node {name!r}: TF op {op!r} is not supported; supported: {', '.join(sorted(HANDLERS))}"
                )
            handler(self, node, ins)
        outputs = []
        for out, out_dims in self._output_names():
            t = self.tensor(out)
            if self.is_const(t):
                self.b.node("Identity", [self.use(t)], [t + "__out"])
                t = t + "__out"
            elem = helper.np_dtype_to_tensor_dtype(np.dtype(self.dtypes.get(t, np.float32)))
            shape: list[int | None] = [d if d > 0 else None for d in out_dims] if out_dims is not None else [None]
            outputs.append(helper.make_tensor_value_info(t, elem or TensorProto.FLOAT, shape))
        inits = [numpy_helper.from_array(np.ascontiguousarray(v), k) for k, v in self.b.initializers.items()]
        graph = helper.make_graph(self.b.nodes, "tfjs", graph_inputs, outputs, initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="prelabel")
        model.ir_version = 8
        return model

    def _output_names(self) -> list[tuple[str, list[int] | None]]:
        """Graph outputs (signature order, sorted by name) with their static dims where the signature has them."""
        sig = self.model.get("signature", {}).get("outputs")
        if sig:
            out = []
            for k in sorted(sig, key=_natural):
                dims = sig[k].get("tensorShape", {}).get("dim")
                out.append((sig[k].get("name", k), [int(d.get("size", -1)) for d in dims] if dims else None))
            return out
        consumed = {self.tensor(i).split(":")[0] for n in self.nodes.values() for i in n.get("input", [])}
        return [(n, None) for n, v in self.nodes.items() if n not in consumed and v["op"] != "Const"]

    def _topological(self) -> list[dict[str, Any]]:
        seen: set[str] = set()
        order: list[dict[str, Any]] = []
        for root in self.nodes:
            stack: list[tuple[str, bool]] = [(root, False)]
            while stack:
                name, done = stack.pop()
                if done:
                    order.append(self.nodes[name])
                    continue
                if name in seen:
                    continue
                seen.add(name)
                stack.append((name, True))
                for i in self.nodes[name].get("input", []):
                    dep = i.lstrip("^").split(":")[0]
                    if dep not in self.nodes:
                        raise TFJSConversionError(f"node {name!r} reads {dep!r}, which is not in the graph")
                    if dep not in seen:
                        stack.append((dep, False))
        return order


def _natural(name: str) -> tuple[str, int]:
    """``Identity_10:0`` sorts after ``Identity_2:0``; a bare ``Identity:0`` first."""
    base = name.split(":")[0]
    stem, _, num = base.rpartition("_")
    return (stem, int(num)) if num.isdigit() else (base, -1)


def _attr_shape(node: dict[str, Any]) -> list[dict[str, Any]]:
    dims: list[dict[str, Any]] = node.get("attr", {}).get("shape", {}).get("shape", {}).get("dim", [])
    return dims


# ---------------------------------------------------------------------------------------------------


def convert_tfjs(model_json_path: Path, out_path: Path, shards: dict[str, Path] | None = None) -> Path:
    """Convert the TF.js graph model at ``model_json_path`` (weight shards beside it, or named in ``shards``)."""
    import onnx

    model_json = json.loads(Path(model_json_path).read_text("utf-8"))
    if model_json.get("format") not in (None, "graph-model"):
        raise TFJSConversionError(f"{model_json_path}: format {model_json.get('format')!r}; expected graph-model")
    weights = read_weights(model_json, Path(model_json_path).parent, shards)
    model = Converter(model_json, weights).convert()
    onnx.checker.check_model(model)
    out_path = Path(out_path)
    with storage.atomic_path(out_path) as tmp:  # unique temp name: workers may race
        onnx.save_model(model, str(tmp))
    return out_path
