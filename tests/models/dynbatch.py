"""A batch-dynamic copy of a zoo ONNX graph, for the batching tests and ``benchmarks.bench_batching``.

None of the zoo's ONNX exports takes a batch (their inputs are (1, 3, H, W) and reshapes inside hard-code the 1).
NanoDet-m's only batch-bound nodes are six Reshapes to ``[1, C, -1]``: with the leading 1 changed to 0 ("copy
this dimension from the input") and the batch dimension of the inputs and outputs made symbolic, the same weights
run any batch. Other graphs are refused.
"""

from __future__ import annotations

from pathlib import Path


def dynamic_batch_copy(src: Path, dst: Path) -> Path:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Reshape":
            continue
        if node.input[1] not in inits:
            raise ValueError(f"{src}: Reshape {node.name!r} takes a computed shape; expected a constant")
        shape = numpy_helper.to_array(inits[node.input[1]]).copy()
        if shape[0] != 1:
            raise ValueError(f"{src}: Reshape {node.name!r} to {shape.tolist()}; expected a leading batch of 1")
        shape[0] = 0
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))
    for value in [*model.graph.input, *model.graph.output]:
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = "batch"
    del model.graph.value_info[:]
    onnx.save(model, str(dst))
    return dst


def nanodet_dynamic(folder: Path, **options: object) -> object:
    """NanoDet-m (zoo weights, fetched and verified) with a dynamic batch, loaded like the zoo loads it."""
    from prelabel.models.loader import RUNTIMES, prepare_entry
    from prelabel.models.zoo import get_entry

    entry = get_entry("nanodet-m-coco")
    files = prepare_entry(entry, None)
    src = files.get("onnx") or files["model"]
    dst = folder / "nanodet-m-dynamic-batch.onnx"
    if not dst.is_file():
        dynamic_batch_copy(src, dst)
    return RUNTIMES.get("onnx")(entry, {"model": dst}, **{**entry.options, **options})
