"""Existing-endpoint backends against real HTTP servers started here on 127.0.0.1 (uvicorn + FastAPI):

- a KServe v2 server running the zoo's converted NanoDet ONNX model with ONNX Runtime; the remote detector must give
  the same detections as the local one, and retry through 503s;
- a server speaking prelabel's endpoint contract (``POST <base>/invocations``) around the zoo's CenterNet;
  ``load_detector(URL)`` and ``prelabel label --model URL`` must reproduce the local labels and their provenance;
- timeouts, unreachable hosts and 4xx answers end in one clear error naming the URL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from prelabel.labelfile import read_records
from prelabel.models import load_detector
from prelabel.models.endpoints.http import EndpointError
from prelabel.models.loader import prepare_entry
from prelabel.models.zoo import get_entry
from prelabel.sources.images import image_frames, load_image
from tests.conftest import free_port
from tests.helpers.cli import prelabel

NANODET = "nanodet-m-coco"
CENTERNET = "centernet-mobilenetv3-coco"


def _app(state: dict[str, Any]) -> Any:
    import cv2
    import onnxruntime as ort

    app = FastAPI()
    onnx_path = prepare_entry(get_entry(NANODET))["onnx"]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    meta = {
        "name": "nanodet",
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": i.name, "datatype": "FP32", "shape": i.shape} for i in session.get_inputs()],
        "outputs": [{"name": o.name, "datatype": "FP32", "shape": o.shape} for o in session.get_outputs()],
    }

    @app.get("/v2/models/{name}")
    def metadata(name: str) -> Any:
        if name not in ("nanodet", "flaky"):
            return JSONResponse({"error": f"model {name} not found"}, status_code=404)
        return meta

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Any:
        state[name] = state.get(name, 0) + 1
        if name == "flaky" and state[name] % 3 != 0:  # two 503s, then an answer
            return JSONResponse({"error": "warming up"}, status_code=503)
        body = await request.json()
        tensor = body["inputs"][0]
        x = np.asarray(tensor["data"], np.float32).reshape(tensor["shape"])
        wanted = [o["name"] for o in body.get("outputs", [])] or [o.name for o in session.get_outputs()]
        outs = session.run(wanted, {tensor["name"]: x})
        return {
            "model_name": name,
            "outputs": [
                {"name": n, "shape": list(v.shape), "datatype": "FP32", "data": v.ravel().tolist()}
                for n, v in zip(wanted, outs, strict=True)
            ],
        }

    detector = load_detector(CENTERNET, threads=1)

    @app.post("/endpoints/{name}/invocations")
    async def invocations(name: str, request: Request, min_score: float = 0.25) -> Any:
        if name == "slow":
            time.sleep(1.5)
        data = await request.body()
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
        if image is None:
            return JSONResponse({"error": "body is not a PNG or JPEG image"}, status_code=400)
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        dets = detector.detect(rgb)
        dets = dets[dets.scores >= min_score]
        labels = dets.to_labels("frame", detector.source, detector.classes)
        return {
            "model": f"{detector.model_id}@{detector.version}",
            "width": rgb.shape[1],
            "height": rgb.shape[0],
            "labels": [lab.model_dump(mode="json") for lab in labels],
        }

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, dict[str, Any]]]:
    import uvicorn

    state: dict[str, Any] = {}
    port = free_port()
    config = uvicorn.Config(_app(state), host="127.0.0.1", port=port, log_level="error", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "test server did not start"
    yield f"http://127.0.0.1:{port}", state
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def frame_image(kitti: Path) -> np.ndarray:
    return load_image(image_frames(str(kitti / "image_2" / "000008.png"))[0])


def test_kserve_v2_endpoint_matches_the_local_model(
    server: tuple[str, dict[str, Any]], frame_image: np.ndarray, zoo_detectors: dict[str, Any]
) -> None:
    base, state = server
    opts = dict(get_entry(NANODET).options)
    remote = load_detector(f"{base}/v2/models/nanodet", decoder="nanodet-gfl", classes="coco80", **opts)
    assert remote.source == "model:nanodet@1"
    got = remote.detect(frame_image)
    want = zoo_detectors[NANODET].detect(frame_image)
    assert len(want) > 0 and len(got) == len(want)
    np.testing.assert_allclose(got.xyxy, want.xyxy, atol=1e-3)
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-5)
    assert got.class_ids.tolist() == want.class_ids.tolist()

    flaky = load_detector(f"{base}/v2/models/flaky", decoder="nanodet-gfl", retries=3, **opts)
    assert len(flaky.detect(frame_image)) == len(want)
    assert state["flaky"] == 3  # 503, 503, answer

    with pytest.raises(EndpointError, match=r"v2/models/missing: HTTP 404: model missing not found"):
        load_detector(f"{base}/v2/models/missing", decoder="nanodet-gfl")
    with pytest.raises(EndpointError, match="pass decoder=NAME"):
        load_detector(f"{base}/v2/models/nanodet")


def test_prelabel_endpoint_protocol(
    server: tuple[str, dict[str, Any]], frame_image: np.ndarray, zoo_detectors: dict[str, Any]
) -> None:
    base, _ = server
    remote = load_detector(f"{base}/endpoints/foo", min_score=0.3)
    assert remote.source == "model:foo@endpoint"  # until the endpoint has answered
    got = remote.detect(frame_image)
    want = zoo_detectors[CENTERNET].detect(frame_image)
    want = want[want.scores >= 0.3]
    assert remote.source == f"model:{CENTERNET}@512-human3.0.4"
    assert len(want) > 0 and len(got) == len(want)
    np.testing.assert_allclose(np.sort(got.xyxy, axis=0), np.sort(want.xyxy, axis=0), atol=0.01)
    assert sorted(remote.classes[c] for c in got.class_ids) == sorted(want_names := [
        zoo_detectors[CENTERNET].classes[c] for c in want.class_ids
    ]) and "car" in want_names  # fmt: skip


def test_label_cli_with_an_endpoint_url(
    server: tuple[str, dict[str, Any]], kitti_frames: Callable[..., Path], tmp_path: Path
) -> None:
    base, _ = server
    frames = kitti_frames("000008", "000013")
    out = tmp_path / "labels.jsonl"
    env = {"PRELABEL_STATE": str(tmp_path / "state")}
    r = prelabel("label", frames, "--model", f"{base}/endpoints/foo", "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    records = read_records(out)
    assert [rec.status for rec in records] == ["ok", "ok"]
    assert {lab.source for rec in records for lab in rec.labels} == {f"model:{CENTERNET}@512-human3.0.4"}
    assert any(lab.category == "car" for rec in records for lab in rec.labels)


def test_endpoint_errors_name_the_url(server: tuple[str, dict[str, Any]], frame_image: np.ndarray) -> None:
    base, _ = server
    slow = load_detector(f"{base}/endpoints/slow", timeout=0.3, retries=1)
    with pytest.raises(EndpointError, match=r"endpoints/slow/invocations: no answer within 0.3 s after 2 attempts"):
        slow.detect(frame_image)
    dead = load_detector(f"http://127.0.0.1:{free_port()}/endpoints/x", retries=1)
    with pytest.raises(EndpointError, match="cannot reach it .* after 2 attempts"):
        dead.detect(frame_image)
    from prelabel.models.endpoints.http import EndpointClient

    client = EndpointClient(retries=3)
    with pytest.raises(EndpointError, match=r"foo/invocations: HTTP 400: body is not a PNG or JPEG image$") as e:
        client.request("POST", f"{base}/endpoints/foo/invocations", content=b"not an image")
    assert e.value.status == 400  # a 4xx is not retried
