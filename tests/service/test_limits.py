"""Service-side limits against a real ``prelabel serve`` started with small ones: decoded pixels (from the image
header, in the worker), bytes per input location (before reading), bytes per request body (counted as it streams)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from prelabel.client import Client, ScalingPolicy
from prelabel.service.launch import ServiceProcess
from tests.conftest import KITTI, REPO
from tests.helpers.images import png_header_only
from tests.service.conftest import service_options

FRAME = KITTI / "image_2" / "000008.png"  # 1242 x 375 = 465,750 pixels, under 800 KB


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, kitti: Path) -> Iterator[tuple[ServiceProcess, Client]]:
    state = tmp_path_factory.mktemp("limited-state")
    out = tmp_path_factory.mktemp("limited-out")
    opts = service_options(tmp_path_factory)
    args = ["--max-pixels", "1000000", "--max-input-bytes", "1000000", "--max-body-bytes", "1000000"]
    opts["extra_args"] = [*args, *opts["extra_args"]]
    with ServiceProcess(state, tick_s=0.1, cwd=REPO, **opts) as svc, Client(svc.url) as client:
        client.create_model("ssd", "ssd-mobilenet-v2-coco", threads=1)
        client.create_endpoint_config("ssd", "ssd", output_path=str(out))
        client.create_endpoint("ssd", "ssd", ScalingPolicy(max_instances=1, scale_in_cooldown_s=60))
        yield svc, client


def test_inputs_over_the_limits_fail_with_the_limit_named(
    limited: tuple[ServiceProcess, Client], tmp_path: Path
) -> None:
    _, client = limited
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(30000, 30000))  # ~100 bytes declaring 900 megapixels
    big = tmp_path / "big.png"
    big.write_bytes(FRAME.read_bytes() + b"\0" * 400_000)  # over 1,000,000 bytes
    pipe = tmp_path / "pipe.png"  # under the roots, but not a regular file (reading it would block)
    os.mkfifo(pipe)
    ids = {
        "bomb": client.invoke_async("ssd", str(bomb)).inference_id,
        "big": client.invoke_async("ssd", str(big)).inference_id,
        "device": client.invoke_async("ssd", str(pipe)).inference_id,
        "ok": client.invoke_async("ssd", str(FRAME)).inference_id,
    }
    infos = dict(zip(ids, client.wait_all(ids.values(), timeout_s=120), strict=True))
    assert infos["ok"].status == "completed"
    assert infos["bomb"].error_type == "LimitExceededError"
    assert f"{bomb}: decoded size 30000x30000 = 900,000,000 is over the limit of 1,000,000" in infos["bomb"].error
    assert "--max-pixels" in infos["bomb"].error
    assert infos["big"].error_type == "LimitExceededError"
    assert "input size (bytes)" in infos["big"].error and "--max-input-bytes" in infos["big"].error
    assert infos["device"].error_type == "UnreadableInputError" and "not a regular file" in infos["device"].error


def test_request_bodies_over_the_limit_get_413(limited: tuple[ServiceProcess, Client]) -> None:
    svc, client = limited
    url = f"{svc.url}/endpoints/ssd/invocations"
    too_big = FRAME.read_bytes() + b"\0" * 400_000
    r = httpx.post(url, content=too_big, headers={"content-type": "image/png"}, timeout=60)
    assert r.status_code == 413 and "over the limit of 1,000,000" in r.json()["error"]
    assert "--max-body-bytes" in r.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the body is counted as it arrives
        for i in range(0, len(too_big), 65536):
            yield too_big[i : i + 65536]

    r = httpx.post(url, content=chunks(), headers={"content-type": "image/png"}, timeout=60)
    assert r.status_code == 413 and "more than 1,000,000" in r.json()["error"]
    r = httpx.post(svc.url + "/models", content=b"[" * 1_200_000, headers={"content-type": "application/json"})
    assert r.status_code == 413  # every route, not only the image one
    # a small body that declares too many pixels: refused by the worker from the header, as 413 too
    r = httpx.post(url, content=png_header_only(30000, 30000), headers={"content-type": "image/png"}, timeout=60)
    assert r.status_code == 413 and "30000x30000" in r.json()["error"]
    # under the limits all is well
    assert client.invoke("ssd", FRAME.read_bytes())["width"] == 1242
