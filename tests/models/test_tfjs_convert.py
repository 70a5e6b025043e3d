"""The TF.js graph -> ONNX converter on a small graph built here, checked against a numpy reference of the same
TensorFlow ops (NHWC, SAME/VALID padding, fp16-quantised weights), plus the converted-file cache."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from prelabel.errors import IntegrityError
from prelabel.models.convert.tfjs_onnx import TFJSConversionError, convert_tfjs
from prelabel.models.loader import prepare_entry
from prelabel.models.zoo import ModelEntry

RNG = np.random.default_rng(7)
W = RNG.normal(size=(3, 3, 2, 4)).astype(np.float32)  # HWIO
B = RNG.normal(size=4).astype(np.float32)
DW = RNG.normal(size=(3, 3, 4, 1)).astype(np.float32)  # HWCM


def _node(name: str, op: str, inputs: list[str] | None = None, **attr: object) -> dict[str, object]:
    return {"name": name, "op": op, "input": inputs or [], "attr": attr}


def _ints(values: list[int]) -> dict[str, object]:
    return {"list": {"i": [str(v) for v in values]}}


def _s(text: str) -> dict[str, str]:
    import base64

    return {"s": base64.b64encode(text.encode()).decode()}


def tiny_tfjs(folder: Path) -> Path:
    """input (1,6,6,2) -> conv3x3 s2 SAME + bias + relu6 -> depthwise 3x3 VALID -> mean over H,W; and maxpool."""
    nodes = [
        _node("x", "Placeholder", shape={"shape": {"dim": [{"size": str(d)} for d in (1, 6, 6, 2)]}},
              dtype={"type": "DT_FLOAT"}),
        _node("w", "Const"), _node("b", "Const"), _node("dw", "Const"), _node("axes", "Const"),
        _node("conv", "_FusedConv2D", ["x", "w", "b"], strides=_ints([1, 2, 2, 1]), padding=_s("SAME"),
              data_format=_s("NHWC"), fused_ops={"list": {"s": [_s("BiasAdd")["s"], _s("Relu6")["s"]]}},
              num_args={"i": "1"}),
        _node("dwc", "DepthwiseConv2dNative", ["conv", "dw"], strides=_ints([1, 1, 1, 1]), padding=_s("VALID"),
              data_format=_s("NHWC")),
        _node("mean", "Mean", ["dwc", "axes"], keep_dims={"b": False}),
        _node("pool", "MaxPool", ["conv"], ksize=_ints([1, 2, 2, 1]), strides=_ints([1, 2, 2, 1]),
              padding=_s("SAME"), data_format=_s("NHWC")),
    ]  # fmt: skip
    weights = [
        {"name": "w", "shape": list(W.shape), "dtype": "float32", "quantization": {"dtype": "float16"}},
        {"name": "b", "shape": [4], "dtype": "float32"},
        {"name": "dw", "shape": list(DW.shape), "dtype": "float32"},
        {"name": "axes", "shape": [2], "dtype": "int32"},
    ]
    data = W.astype(np.float16).tobytes() + B.tobytes() + DW.tobytes() + np.array([1, 2], np.int32).tobytes()
    (folder / "tiny.bin").write_bytes(data)
    model = {
        "format": "graph-model",
        "modelTopology": {"node": nodes},
        "signature": {"outputs": {"mean:0": {"name": "mean:0"}, "pool:0": {"name": "pool:0"}}},
        "weightsManifest": [{"paths": ["tiny.bin"], "weights": weights}],
    }
    path = folder / "tiny.json"
    path.write_text(json.dumps(model))
    return path


def _conv_nhwc(x: np.ndarray, w: np.ndarray, stride: int, pads: tuple[int, int]) -> np.ndarray:
    kh, kw, _, cout = w.shape
    xp = np.pad(x, ((0, 0), pads, pads, (0, 0)))
    oh = (xp.shape[1] - kh) // stride + 1
    ow = (xp.shape[2] - kw) // stride + 1
    out = np.zeros((1, oh, ow, cout), np.float64)
    for i in range(oh):
        for j in range(ow):
            patch = xp[0, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[0, i, j] = np.tensordot(patch, w, axes=([0, 1, 2], [0, 1, 2]))
    return out


def reference(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w16 = W.astype(np.float16).astype(np.float64)
    conv = np.clip(_conv_nhwc(x, w16, 2, (0, 1)) + B, 0, 6)  # TF SAME, stride 2 on 6: pad 0 before, 1 after
    dwc = np.zeros((1, 1, 1, 4))
    for ch in range(4):
        dwc[0, 0, 0, ch] = (conv[0, :, :, ch] * DW[:, :, ch, 0]).sum()
    mean = dwc.mean(axis=(1, 2))
    pool = np.full((1, 2, 2, 4), -np.inf)
    padded = np.pad(conv, ((0, 0), (0, 1), (0, 1), (0, 0)), constant_values=-np.inf)
    for i in range(2):
        for j in range(2):
            pool[0, i, j] = padded[0, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].max(axis=(0, 1))
    return mean, pool


def test_converted_graph_matches_numpy_reference(tmp_path: Path) -> None:
    import onnxruntime as ort

    out = convert_tfjs(tiny_tfjs(tmp_path), tmp_path / "tiny.onnx")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["mean", "pool"]
    x = RNG.normal(size=(1, 6, 6, 2)).astype(np.float32) * 2
    mean, pool = session.run(None, {"x": x})
    want_mean, want_pool = reference(x.astype(np.float64))
    assert mean.shape == (1, 4) and pool.shape == (1, 2, 2, 4)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(pool, want_pool, rtol=1e-4, atol=1e-4)


def test_unsupported_op_is_named(tmp_path: Path) -> None:
    path = tiny_tfjs(tmp_path)
    model = json.loads(path.read_text())
    model["modelTopology"]["node"].append(_node("odd", "Svd", ["conv"]))
    model["signature"]["outputs"]["odd:0"] = {"name": "odd:0"}
    path.write_text(json.dumps(model))
    with pytest.raises(TFJSConversionError, match="node 'odd': TF op 'Svd' is not supported; supported: .*Conv2D"):
        convert_tfjs(path, tmp_path / "x.onnx")


def _entry(folder: Path) -> ModelEntry:
    graph = tiny_tfjs(folder)
    shards = folder / "tiny.bin"
    return ModelEntry.model_validate(
        {
            "id": "tiny-tfjs", "version": "1", "task": "detect", "classes": ["thing"], "licence": "test",
            "input_size": [6, 6], "runtime": "onnx", "decoder": "ssd", "convert": "tfjs-graph",
            "files": {
                "graph": {"source": str(graph), "sha256": hashlib.sha256(graph.read_bytes()).hexdigest()},
                "weights": {"source": str(shards), "sha256": hashlib.sha256(shards.read_bytes()).hexdigest()},
            },
        }
    )  # fmt: skip


def test_converted_file_is_recorded_reused_refused_when_tampered_and_remade_when_missing(tmp_path: Path) -> None:
    entry = _entry(tmp_path)
    cache = tmp_path / "cache"
    onnx_path = prepare_entry(entry, cache)["onnx"]
    record = json.loads(onnx_path.with_name(onnx_path.name + ".json").read_text())
    assert record["sha256"] == hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    assert set(record["inputs"]) == {"graph", "weights"}
    stamp = onnx_path.stat().st_mtime_ns
    assert prepare_entry(entry, cache)["onnx"].stat().st_mtime_ns == stamp  # reused, not converted again
    onnx_path.write_bytes(onnx_path.read_bytes()[:-8] + b"tampered")
    with pytest.raises(IntegrityError, match=r"sha256 mismatch for converted tiny-tfjs@1 at .*delete it"):
        prepare_entry(entry, cache)
    onnx_path.unlink()
    again = prepare_entry(entry, cache)["onnx"]
    assert hashlib.sha256(again.read_bytes()).hexdigest() == record["sha256"]  # the conversion is deterministic
    graph = again.with_name("graph-tiny.json")  # a tampered fetched input is refused before any conversion
    graph.write_text(graph.read_text() + " ")
    with pytest.raises(IntegrityError, match=r"sha256 mismatch for cached tiny-tfjs@1 graph \(graph-tiny.json\)"):
        prepare_entry(entry, cache)


def test_converted_centernet_decodes_in_graph_as_numpy_decodes_its_heads(kitti: Path) -> None:
    """The converted graph's own decoding (3x3 max-pool peaks, TopK, FloorDiv/FloorMod, Gather, StridedSlice) gives
    the boxes that prelabel's numpy CenterNet decoder computes from the same graph's heatmap and size heads."""
    import onnxruntime as ort

    from prelabel.models.decoders import DecodeContext
    from prelabel.models.decoders.centernet import decode
    from prelabel.models.preprocess import Preprocess
    from prelabel.models.zoo import get_entry
    from prelabel.sources.images import image_frames, load_image

    entry = get_entry("centernet-mobilenetv3-coco")
    session = ort.InferenceSession(str(prepare_entry(entry)["onnx"]), providers=["CPUExecutionProvider"])
    image = load_image(image_frames(str(kitti / "image_2" / "000008.png"))[0])
    x, _ = Preprocess.from_options(entry.input_size, entry.options)(image)
    detections, heat, size = session.run(
        ["tower_0/detections", "tower_0/keypoints", "tower_0/wh"], {"tower_0/images": x}
    )
    in_graph = detections[0][detections[0][:, 4] >= 0.1]
    ctx = DecodeContext(512, 512, 80, min_score=0.1, options={"size_in_pixels": True, "layout": "nhwc"})
    ours = decode([heat, size], ctx)
    assert len(in_graph) >= 5 and len(ours.scores) == len(in_graph)
    order = np.argsort(-in_graph[:, 4], kind="stable")
    np.testing.assert_allclose(ours.scores, in_graph[order, 4], atol=1e-6)
    np.testing.assert_allclose(ours.xyxy, in_graph[order, :4], atol=1e-3)
    assert ours.class_ids.tolist() == in_graph[order, 5].astype(int).tolist()
