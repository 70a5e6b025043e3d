"""TF op -> ONNX node handlers for :mod:`prelabel.models.convert.tfjs_onnx`, and numpy folders for constant inputs.

A handler gets the converter, the TF node and its input tensor names and emits ONNX nodes whose (first) output
is named after the TF node; a folder computes a node whose inputs are all constant. Tensors stay NHWC: convolutions,
pools and resizes transpose to NCHW and back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.models.convert.tfjs_onnx import _TF_DTYPES, Converter, TFJSConversionError, _attr, _Builder


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


# --- op handlers -----------------------------------------------------------------------------------

Handler = Callable[[Converter, dict[str, Any], list[str]], None]
Folder = Callable[[Converter, dict[str, Any], list[npt.NDArray[Any]]], Any]
HANDLERS: dict[str, Handler] = {}
FOLDERS: dict[str, Folder] = {}


def _op(*names: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        for n in names:
            HANDLERS[n] = fn
        return fn

    return deco


def _fold(*names: str) -> Callable[[Folder], Folder]:
    def deco(fn: Folder) -> Folder:
        for n in names:
            FOLDERS[n] = fn
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
    HANDLERS[_tf] = _elementwise(_onnx)

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
    HANDLERS[_tf] = _unary(_onnx)


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


HANDLERS["MaxPool"] = _pool("MaxPool")
HANDLERS["AvgPool"] = _pool("AveragePool")


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
