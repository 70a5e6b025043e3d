"""KServe v2 (Open Inference Protocol) endpoints serving a raw detection network.

``http://host:port/v2/models/<name>[/versions/<v>]``: the model's metadata (``GET`` on that URL) gives the input
name, shape and outputs; each image is preprocessed here, sent as a JSON FP32 tensor to ``POST .../infer``, and the
returned tensors go through the decoder named by ``decoder=`` (as for a registered ONNX model; ``classes=`` names
the class list, default COCO-80, plus any preprocessing options).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.errors import FormatError
from prelabel.models.backends.onnx_runtime import TensorDetector
from prelabel.models.endpoints.http import EndpointClient, EndpointError

_DTYPES = {"FP32": np.float32, "FP64": np.float64, "FP16": np.float16, "INT64": np.int64, "INT32": np.int32,
           "UINT8": np.uint8, "BOOL": np.bool_}  # fmt: skip


def parse_kserve_url(url: str) -> tuple[str, str, str | None]:
    """(base, model name, version or None) from ``<base>/v2/models/<name>[/versions/<v>][/infer]``."""
    base, sep, rest = url.rstrip("/").partition("/v2/models/")
    if not sep or not rest:
        raise FormatError(url, "a KServe v2 model URL looks like http://host:port/v2/models/NAME")
    parts = rest.split("/")
    if parts[-1] == "infer":
        parts = parts[:-1]
    version = parts[2] if len(parts) >= 3 and parts[1] == "versions" else None
    return base, parts[0], version


class KServeDetector(TensorDetector):
    def __init__(
        self,
        url: str,
        *,
        decoder: str | None = None,
        classes: Any = "coco80",
        input_size: list[int] | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        **options: Any,
    ) -> None:
        from prelabel.models.registry import read_classes
        from prelabel.models.zoo import CLASS_LISTS

        base, name, version = parse_kserve_url(url)
        if not decoder:
            raise EndpointError(url, "a KServe endpoint serves raw tensors: pass decoder=NAME (and classes=...)")
        self._client = EndpointClient(timeout=timeout, retries=retries)
        self._model_url = f"{base}/v2/models/{name}" + (f"/versions/{version}" if version else "")
        meta = self._client.request("GET", self._model_url).json()
        inputs = meta.get("inputs") or []
        if not inputs:
            raise EndpointError(self._model_url, f"metadata lists no inputs: {meta}")
        self._input = inputs[0]["name"]
        shape = [int(d) for d in inputs[0].get("shape", [])]
        layout = options.pop("layout", None)
        if len(shape) == 4 and layout is None:
            layout = "nhwc" if shape[3] == 3 else "nchw"
        if input_size is None and len(shape) == 4:
            hw = shape[1:3] if layout == "nhwc" else shape[2:4]
            if min(hw) > 0:
                input_size = [hw[1], hw[0]]
        if input_size is None:
            raise EndpointError(self._model_url, f"input shape {shape} is dynamic: pass input_size=[W, H]")
        names = [o["name"] for o in meta.get("outputs", [])]
        spec = read_classes(classes) if not isinstance(classes, str) or classes not in CLASS_LISTS else classes
        class_names = CLASS_LISTS[spec] if isinstance(spec, str) else spec
        versions = meta.get("versions") or []
        super().__init__(
            model_id=name,
            version=version or (str(versions[-1]) if versions else "kserve"),
            classes=class_names,
            input_size=input_size,
            decoder=decoder,
            output_names=names,
            layout=layout or "nchw",
            **options,
        )

    def _infer(self, x: npt.NDArray[np.float32]) -> list[npt.NDArray[Any]]:
        body: dict[str, Any] = {
            "inputs": [{"name": self._input, "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]
        }
        if self._outputs:
            body["outputs"] = [{"name": n} for n in self._outputs]
        answer = self._client.request("POST", f"{self._model_url}/infer", json=body).json()
        by_name = {}
        for out in answer.get("outputs", []):
            dtype = _DTYPES.get(out.get("datatype", "FP32"))
            if dtype is None:
                raise EndpointError(self._model_url, f"output {out.get('name')} has datatype {out.get('datatype')}")
            by_name[out["name"]] = np.asarray(out["data"], dtype=dtype).reshape(out["shape"])
        if self._outputs:
            missing = [n for n in self._outputs if n not in by_name]
            if missing:
                raise EndpointError(self._model_url, f"answer lacks outputs {missing}; got {sorted(by_name)}")
            return [by_name[n] for n in self._outputs]
        return list(by_name.values())
