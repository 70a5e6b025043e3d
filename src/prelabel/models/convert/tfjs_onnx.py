"""TensorFlow.js graph model (``model.json`` + ``.bin`` shards) to ONNX, without TensorFlow.

Covers the ops that small detection CNNs exported to TF.js use (convolutions, depthwise convolutions, the fused
variants Grappler writes, pads, pools, resizes, element-wise maths, concat/split/reshape/slice, TopK and Gather).
Tensors keep TensorFlow's NHWC layout; each convolution, pool and resize is wrapped in NCHW transposes that
ONNX Runtime's layout optimiser removes. Nodes whose inputs are all constant are folded in numpy. An op outside the
list raises :class:`TFJSConversionError` naming the node and the supported ops.

Weights: ``weightsManifest`` groups list ``paths`` (concatenated in order) and ``weights`` (name, shape, dtype,
optional ``quantization`` {dtype float16 | uint8 | uint16, scale, min}); quantised weights are dequantised to fp32.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

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


def _nhwc_to_nchw(b: _Builder, x: str) -> str:
    return b.node("Transpose", [x], perm=[0, 3, 1, 2])[0]


def _nchw_to_nhwc(b: _Builder, x: str, out: str) -> str:
    return b.node("Transpose", [x], [out], perm=[0, 2, 3, 1])[0]


def _conv_attrs(node: dict[str, Any], kernel: tuple[int, int]) -> dict[str, Any]:
    fmt = _attr(node, "data_format", "NHWC")
    if fmt != "NHWC":
        raise TFJSConversionError(f"node {node['name']}: data_format {fmt!r} unsupported; expected NHWC")
    strides = _attr(node, "strides", [1, 1, 1, 1])
    dil = _attr(node, "dilations", [1, 1, 1, 1])
    padding = _attr(node, "padding", "VALID")
    attrs: dict[str, Any] = {"strides": strides[1:3], "dilations": dil[1:3], "kernel_shape": list(kernel)}
    if padding == "SAME":
        attrs["auto_pad"] = "SAME_UPPER"
    elif padding == "VALID":
        attrs["pads"] = [0, 0, 0, 0]
    elif padding == "EXPLICIT":
        p = _attr(node, "explicit_paddings", [])
        attrs["pads"] = [p[2], p[4], p[3], p[5]]
    else:
        raise TFJSConversionError(f"node {node['name']}: padding {padding!r} unsupported")
    return attrs


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
            if ins and all(self.is_const(i) for i in ins) and op in _FOLD:
                folded = _FOLD[op](self, node, [self.value(i) for i in ins])
                self.b.consts[name] = np.asarray(folded)
                continue
            handler = _OPS.get(op)
            if handler is None:
                raise TFJSConversionError(
                    f"node {name!r}: TF op {op!r} is not supported; supported: {', '.join(sorted(_OPS))}"
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


# --- op handlers -----------------------------------------------------------------------------------

Handler = Callable[[Converter, dict[str, Any], list[str]], None]
Folder = Callable[[Converter, dict[str, Any], list[npt.NDArray[Any]]], Any]
_OPS: dict[str, Handler] = {}
_FOLD: dict[str, Folder] = {}


def _op(*names: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for n in names:
            _OPS[n] = fn
        return fn

    return deco


def _fold(*names: str) -> Callable[[Folder], Folder]:
    def deco(fn: Folder) -> Folder:
        for n in names:
            _FOLD[n] = fn
        return fn

    return deco


def _binary_inputs(c: Converter, ins: list[str]) -> list[str]:
    """Constant operands take the dtype of the other operand (TF.js stores int consts as int32)."""
    out = []
    other = next((i for i in ins if not c.is_const(i)), None)
    dtype = c.dtypes.get(other, np.float32) if other else None
    for i in ins:
        if c.is_const(i) and dtype is not None and c.value(i).dtype != dtype:
            out.append(c.b.const(c.value(i).astype(dtype), i))
        else:
            out.append(c.use(i))
    return out


def _elementwise(onnx_op: str) -> Handler:
    def handler(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
        args = _binary_inputs(c, ins)
        c.b.node(onnx_op, args, [node["name"]])
        c.dtypes[node["name"]] = c.dtypes.get(next((i for i in ins if not c.is_const(i)), ""), np.float32)

    return handler


for _tf, _onnx in {"Add": "Add", "AddV2": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div", "Maximum": "Max",
                   "Minimum": "Min", "Pow": "Pow"}.items():  # fmt: skip
    _OPS[_tf] = _elementwise(_onnx)

_NP_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "Add": np.add,
    "AddV2": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "RealDiv": np.divide,
    "Maximum": np.maximum,
    "Minimum": np.minimum,
    "FloorDiv": np.floor_divide,
    "FloorMod": np.mod,
}


@_fold(*_NP_BINARY)
def _fold_binary(c: Converter, node: dict[str, Any], v: list[npt.NDArray[Any]]) -> Any:
    out = _NP_BINARY[node["op"]](v[0], v[1])
    return np.asarray(out).astype(np.result_type(v[0].dtype, v[1].dtype) if node["op"] != "RealDiv" else v[0].dtype)


@_op("FloorDiv")
def _floordiv(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    args = _binary_inputs(c, ins)
    dtype = c.dtypes.get(ins[0], np.float32)
    if np.issubdtype(dtype, np.integer):
        # ONNX integer Div truncates; equal to floor for the non-negative indices these graphs divide
        c.b.node("Div", args, [node["name"]])
    else:
        d = c.b.node("Div", args)[0]
        c.b.node("Floor", [d], [node["name"]])
    c.dtypes[node["name"]] = dtype


@_op("FloorMod")
def _floormod(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    dtype = c.dtypes.get(ins[0], np.float32)
    fmod = 0 if np.issubdtype(dtype, np.integer) else 1
    c.b.node("Mod", _binary_inputs(c, ins), [node["name"]], fmod=fmod)
    c.dtypes[node["name"]] = dtype


@_op("Identity", "StopGradient")
def _identity(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    c.b.node("Identity", [c.use(ins[0])], [node["name"]])
    c.dtypes[node["name"]] = c.dtypes.get(ins[0], np.float32)


@_fold("Identity", "StopGradient")
def _fold_identity(c: Converter, node: dict[str, Any], v: list[npt.NDArray[Any]]) -> Any:
    return v[0]


def _unary(onnx_op: str, **attrs: Any) -> Handler:
    def handler(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
        c.b.node(onnx_op, [c.use(ins[0])], [node["name"]], **attrs)
        c.dtypes[node["name"]] = c.dtypes.get(ins[0], np.float32)

    return handler


for _tf, _onnx in {"Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Exp": "Exp", "Sqrt": "Sqrt",
                   "Neg": "Neg", "Abs": "Abs", "Floor": "Floor", "Elu": "Elu"}.items():  # fmt: skip
    _OPS[_tf] = _unary(_onnx)


@_op("Relu6")
def _relu6(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    lo, hi = c.b.const(np.float32(0)), c.b.const(np.float32(6))
    c.b.node("Clip", [c.use(ins[0]), lo, hi], [node["name"]])
    c.dtypes[node["name"]] = np.float32


@_op("LeakyRelu")
def _leaky(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    c.b.node("LeakyRelu", [c.use(ins[0])], [node["name"]], alpha=_attr(node, "alpha", 0.2))
    c.dtypes[node["name"]] = np.float32


def _activation(c: Converter, x: str, op: str, out: str, alpha: float) -> None:
    if op == "Relu":
        c.b.node("Relu", [x], [out])
    elif op == "Relu6":
        c.b.node("Clip", [x, c.b.const(np.float32(0)), c.b.const(np.float32(6))], [out])
    elif op == "LeakyRelu":
        c.b.node("LeakyRelu", [x], [out], alpha=alpha)
    elif op == "Elu":
        c.b.node("Elu", [x], [out])
    elif op == "Sigmoid":
        c.b.node("Sigmoid", [x], [out])
    else:
        raise TFJSConversionError(f"fused activation {op!r} unsupported; expected Relu, Relu6, LeakyRelu, Elu, Sigmoid")


def _conv(c: Converter, node: dict[str, Any], ins: list[str], depthwise: bool) -> None:
    name = node["name"]
    w = c.value(ins[1]).astype(np.float32)  # HWIO, or HWCM for depthwise
    kh, kw = w.shape[:2]
    attrs = _conv_attrs(node, (kh, kw))
    if depthwise:
        cin, mult = w.shape[2], w.shape[3]
        kernel = w.transpose(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw)
        attrs["group"] = int(cin)
    else:
        kernel = w.transpose(3, 2, 0, 1)
    conv_in = [_nhwc_to_nchw(c.b, c.use(ins[0])), c.b.const(kernel, name + "_W")]
    fused = _attr(node, "fused_ops", []) if node["op"].startswith(("_Fused", "Fused")) else []
    if fused and fused[0] == "BiasAdd":
        conv_in.append(c.b.const(c.value(ins[2]).astype(np.float32).reshape(-1), name + "_B"))
        fused = fused[1:]
    elif fused:
        raise TFJSConversionError(f"node {name!r}: fused ops {fused} unsupported; expected BiasAdd first")
    y = c.b.node("Conv", conv_in, **attrs)[0]
    for act in fused:
        nxt = c.b.fresh(act)
        _activation(c, y, act, nxt, _attr(node, "leakyrelu_alpha", 0.2))
        y = nxt
    _nchw_to_nhwc(c.b, y, name)
    c.dtypes[name] = np.float32


@_op("Conv2D", "_FusedConv2D")
def _conv2d(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    _conv(c, node, ins, depthwise=False)


@_op("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative")
def _dwconv(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    _conv(c, node, ins, depthwise=True)


@_op("BiasAdd")
def _bias(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    c.b.node("Add", _binary_inputs(c, ins), [node["name"]])
    c.dtypes[node["name"]] = np.float32


def _pool(onnx_op: str) -> Handler:
    def handler(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
        k = _attr(node, "ksize", [1, 1, 1, 1])
        attrs = _conv_attrs(node, (k[1], k[2]))
        attrs.pop("dilations", None)
        y = c.b.node(onnx_op, [_nhwc_to_nchw(c.b, c.use(ins[0]))], **attrs)[0]
        _nchw_to_nhwc(c.b, y, node["name"])
        c.dtypes[node["name"]] = np.float32

    return handler


_OPS["MaxPool"] = _pool("MaxPool")
_OPS["AvgPool"] = _pool("AveragePool")


def _tf_pads(paddings: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    p = np.asarray(paddings, dtype=np.int64).reshape(-1, 2)
    return np.concatenate([p[:, 0], p[:, 1]])


@_op("Pad", "PadV2")
def _pad(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    args = [c.use(ins[0]), c.b.const(_tf_pads(c.value(ins[1])), "pads")]
    if len(ins) > 2:
        args.append(c.b.const(c.value(ins[2]).astype(np.float32).reshape(()), "pad_value"))
    c.b.node("Pad", args, [node["name"]], mode="constant")
    c.dtypes[node["name"]] = c.dtypes.get(ins[0], np.float32)


@_op("MirrorPad")
def _mirror_pad(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    mode = {"REFLECT": "reflect", "SYMMETRIC": "edge"}.get(_attr(node, "mode", "REFLECT"), "reflect")
    c.b.node("Pad", [c.use(ins[0]), c.b.const(_tf_pads(c.value(ins[1])), "pads")], [node["name"]], mode=mode)
    c.dtypes[node["name"]] = np.float32


@_op("ConcatV2")
def _concat(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    axis = int(c.value(ins[-1]))
    parts = ins[:-1]
    dtype = c.dtypes.get(next((i for i in parts if not c.is_const(i)), ""), np.float32)
    args = [c.b.const(c.value(i).astype(dtype), i) if c.is_const(i) else i for i in parts]
    c.b.node("Concat", args, [node["name"]], axis=axis)
    c.dtypes[node["name"]] = dtype


@_fold("ConcatV2")
def _fold_concat(c: Converter, node: dict[str, Any], v: list[npt.NDArray[Any]]) -> Any:
    return np.concatenate([np.atleast_1d(x) for x in v[:-1]], axis=int(v[-1]))


@_op("Reshape")
def _reshape(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    shape = c.b.const(c.value(ins[1]).astype(np.int64).reshape(-1), "shape")
    c.b.node("Reshape", [c.use(ins[0]), shape], [node["name"]])
    c.dtypes[node["name"]] = c.dtypes.get(ins[0], np.float32)


@_fold("Reshape")
def _fold_reshape(c: Converter, node: dict[str, Any], v: list[npt.NDArray[Any]]) -> Any:
    return v[0].reshape([int(s) for s in v[1].reshape(-1)])


@_op("Transpose")
def _transpose(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    perm = [int(p) for p in c.value(ins[1]).reshape(-1)]
    c.b.node("Transpose", [c.use(ins[0])], [node["name"]], perm=perm)
    c.dtypes[node["name"]] = c.dtypes.get(ins[0], np.float32)


@_fold("Transpose")
def _fold_transpose(c: Converter, node: dict[str, Any], v: list[npt.NDArray[Any]]) -> Any:
    return v[0].transpose([int(p) for p in v[1].reshape(-1)])


@_fold("SparseToDense")
def _fold_sparse_to_dense(c: Converter, node: dict[str, Any], v: list[npt.NDArray[Any]]) -> Any:
    indices, shape, values, default = v
    out = np.full([int(s) for s in shape.reshape(-1)], default, dtype=values.dtype)
    idx = indices.reshape(len(indices), -1) if indices.size else indices.reshape(0, max(out.ndim, 1))
    vals = np.broadcast_to(values, (len(idx),))
    for i, pos in enumerate(idx):
        out[tuple(int(p) for p in pos)] = vals[i]
    return out


@_fold("Cast")
def _fold_cast(c: Converter, node: dict[str, Any], v: list[npt.NDArray[Any]]) -> Any:
    return v[0].astype(_TF_DTYPES[_attr(node, "DstT")])


@_op("Cast")
def _cast(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    from onnx import helper

    dst = _TF_DTYPES[_attr(node, "DstT")]
    c.b.node("Cast", [c.use(ins[0])], [node["name"]], to=helper.np_dtype_to_tensor_dtype(np.dtype(dst)))
    c.dtypes[node["name"]] = dst


@_fold("ExpandDims")
def _fold_expand(c: Converter, node: dict[str, Any], v: list[npt.NDArray[Any]]) -> Any:
    return np.expand_dims(v[0], int(v[1]))


@_op("ExpandDims")
def _expand_dims(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    axes = c.b.const(np.asarray(c.value(ins[1]), dtype=np.int64).reshape(-1), "axes")
    c.b.node("Unsqueeze", [c.use(ins[0]), axes], [node["name"]])
    c.dtypes[node["name"]] = c.dtypes.get(ins[0], np.float32)


@_op("Squeeze")
def _squeeze(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    dims = _attr(node, "squeeze_dims", [])
    args = [c.use(ins[0])] + ([c.b.const(np.asarray(dims, np.int64), "axes")] if dims else [])
    c.b.node("Squeeze", args, [node["name"]])
    c.dtypes[node["name"]] = c.dtypes.get(ins[0], np.float32)


@_op("ResizeBilinear", "ResizeNearestNeighbor")
def _resize(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    size = c.value(ins[1]).astype(np.int64).reshape(-1)
    if _attr(node, "align_corners", False):
        mode = "align_corners"
    elif _attr(node, "half_pixel_centers", False):
        mode = "half_pixel" if node["op"] == "ResizeBilinear" else "tf_half_pixel_for_nn"
    else:
        mode = "asymmetric"
    x = _nhwc_to_nchw(c.b, c.use(ins[0]))
    shape = c.b.node("Shape", [x])[0]
    nc = c.b.node("Slice", [shape, c.b.const(np.array([0], np.int64)), c.b.const(np.array([2], np.int64))])[0]
    sizes = c.b.node("Concat", [nc, c.b.const(size, "hw")], axis=0)[0]
    attrs: dict[str, Any] = {"coordinate_transformation_mode": mode}
    if node["op"] == "ResizeBilinear":
        attrs["mode"] = "linear"
    else:
        attrs["mode"] = "nearest"
        attrs["nearest_mode"] = "round_prefer_ceil" if mode == "tf_half_pixel_for_nn" else "floor"
    y = c.b.node("Resize", [x, "", "", sizes], **attrs)[0]
    _nchw_to_nhwc(c.b, y, node["name"])
    c.dtypes[node["name"]] = np.float32


@_op("SplitV", "Split")
def _split(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    n = _attr(node, "num_split", 1)
    name = node["name"]
    outs = [name] + [f"{name}:{i}" for i in range(1, n)]
    if node["op"] == "SplitV":
        x, sizes, axis = ins
        c.b.node(
            "Split",
            [c.use(x), c.b.const(c.value(sizes).astype(np.int64).reshape(-1), "split")],
            outs,
            axis=int(c.value(axis)),
        )
    else:
        axis, x = ins
        c.b.node("Split", [c.use(x)], outs, axis=int(c.value(axis)), num_outputs=n)
    for o in outs:
        c.dtypes[o] = c.dtypes.get(x, np.float32)


@_op("Mean", "Sum", "Max")
def _reduce(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    onnx_op = {"Mean": "ReduceMean", "Sum": "ReduceSum", "Max": "ReduceMax"}[node["op"]]
    axes = [int(a) for a in np.asarray(c.value(ins[1])).reshape(-1)]
    keep = 1 if _attr(node, "keep_dims", False) else 0
    if onnx_op == "ReduceSum":
        c.b.node(onnx_op, [c.use(ins[0]), c.b.const(np.asarray(axes, np.int64))], [node["name"]], keepdims=keep)
    else:
        c.b.node(onnx_op, [c.use(ins[0])], [node["name"]], axes=axes, keepdims=keep)
    c.dtypes[node["name"]] = c.dtypes.get(ins[0], np.float32)


@_op("Equal", "Greater", "Less")
def _compare(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    c.b.node(node["op"], _binary_inputs(c, ins), [node["name"]])
    c.dtypes[node["name"]] = np.bool_


@_op("TopKV2")
def _topk(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    name = node["name"]
    k = c.b.const(np.asarray(c.value(ins[1]), np.int64).reshape(1), "k")
    idx64 = c.b.fresh(name + "_idx")
    c.b.node("TopK", [c.use(ins[0]), k], [name, idx64], axis=-1, largest=1, sorted=1)
    c.b.node("Cast", [idx64], [f"{name}:1"], to=6)  # TF returns int32 indices
    c.dtypes[name] = c.dtypes.get(ins[0], np.float32)
    c.dtypes[f"{name}:1"] = np.int32


@_op("GatherV2")
def _gather(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    axis = int(c.value(ins[2])) if len(ins) > 2 else 0
    if _attr(node, "batch_dims", 0):
        raise TFJSConversionError(f"node {node['name']!r}: GatherV2 with batch_dims is unsupported")
    c.b.node("Gather", [c.use(ins[0]), c.use(ins[1])], [node["name"]], axis=axis)
    c.dtypes[node["name"]] = c.dtypes.get(ins[0], np.float32)


@_op("StridedSlice")
def _strided_slice(c: Converter, node: dict[str, Any], ins: list[str]) -> None:
    if _attr(node, "ellipsis_mask", 0) or _attr(node, "new_axis_mask", 0):
        raise TFJSConversionError(f"node {node['name']!r}: StridedSlice with ellipsis/new-axis masks unsupported")
    begin = c.value(ins[1]).astype(np.int64).reshape(-1)
    end = c.value(ins[2]).astype(np.int64).reshape(-1)
    strides = c.value(ins[3]).astype(np.int64).reshape(-1)
    bmask, emask, smask = (_attr(node, k, 0) for k in ("begin_mask", "end_mask", "shrink_axis_mask"))
    big = np.iinfo(np.int64).max
    starts, ends = begin.copy(), end.copy()
    for i in range(len(begin)):
        if bmask >> i & 1:
            starts[i] = 0 if strides[i] > 0 else big
        if emask >> i & 1:
            ends[i] = big if strides[i] > 0 else -big
        if smask >> i & 1:
            ends[i] = begin[i] + 1 if begin[i] != -1 else big
            strides[i] = 1
    axes = np.arange(len(begin), dtype=np.int64)
    args = [c.use(ins[0]), c.b.const(starts), c.b.const(ends), c.b.const(axes), c.b.const(strides)]
    shrink = [i for i in range(len(begin)) if smask >> i & 1]
    out = node["name"]
    if shrink:
        y = c.b.node("Slice", args)[0]
        c.b.node("Squeeze", [y, c.b.const(np.asarray(shrink, np.int64))], [out])
    else:
        c.b.node("Slice", args, [out])
    c.dtypes[out] = c.dtypes.get(ins[0], np.float32)


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
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.name}.", dir=out_path.parent)  # unique: workers may race
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        onnx.save_model(model, str(tmp))
        tmp.replace(out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path
