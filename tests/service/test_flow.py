"""The SageMaker-style flow against a real ``prelabel serve`` process, real worker processes and the real default
detector on KITTI frames: create model / config / endpoint, invoke_async, results, errors, webhooks, metrics,
scale to zero and back, the synchronous route, and deletion."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from prelabel.client import Client, InvocationFailedError, ScalingPolicy, ServiceError
from prelabel.core.labels import Frame, FrameRecord, Label
from prelabel.inference.predictor import Predictor
from prelabel.service.launch import ServiceProcess
from tests.conftest import KITTI
from tests.service.conftest import Webhooks, wait_for

FAST = ScalingPolicy(
    min_instances=0, max_instances=2, target_backlog_per_instance=3, scale_in_cooldown_s=1.0, scale_out_cooldown_s=0.5
)


def test_async_flow_scales_to_zero_and_back(
    client: Client, service: ServiceProcess, frames: list[Path], tmp_path: Path, webhooks: Webhooks
) -> None:
    client.create_model("ssd", "ssd-mobilenet-v2-coco", threads=1)
    cfg = client.create_endpoint_config(
        "ssd-async",
        "ssd",
        output_path=str(tmp_path / "out"),
        max_concurrent_invocations_per_instance=2,
        success_webhook=f"{webhooks.url}/ok",
        error_webhook=f"{webhooks.url}/err",
    )
    assert cfg.failure_path == str(tmp_path / "out" / "failures")
    ep = client.create_endpoint("ssd-ep", "ssd-async", FAST)
    assert (ep.status, ep.instances, ep.backlog) == ("in_service", 0, 0)  # min 0: no instance until work arrives

    accepted = [client.invoke_async("ssd-ep", str(f)) for f in frames]
    for a in accepted:
        assert a.status in ("queued", "running")
        assert a.output_location == str(tmp_path / "out" / f"{a.inference_id}.json")
    done = client.wait_all([a.inference_id for a in accepted], timeout_s=120)
    assert [d.status for d in done] == ["completed"] * len(frames)

    # every result is the frame record the same detector gives in this process
    reference = Predictor("ssd-mobilenet-v2-coco", threads=1)
    for a, f in zip(accepted, frames, strict=True):
        rec = client.result(a.inference_id)
        assert rec == FrameRecord.from_json(Path(a.output_location).read_text())
        assert rec.frame.uri == str(f) and rec.frame.meta["inference_id"] == a.inference_id
        assert rec.frame.meta["model"] == "ssd-mobilenet-v2-coco@2018.03.29"
        expected = reference.predict_frame(Frame(id=f.stem, uri=str(f)))
        assert [(lab.category, lab.box) for lab in rec.labels] == [(lab.category, lab.box) for lab in expected.labels]
    assert sum(len(client.result(a.inference_id).labels) for a in accepted) > 0
    webhooks.wait("/ok", len(accepted))
    assert webhooks.counts("/ok") == {a.inference_id: 1 for a in accepted}
    assert not webhooks.events("/err")

    # backlog 6 / target 3 -> 2 instances from zero; idle -> back to zero; the next invocation brings one back
    wait_for(lambda: client.describe_endpoint("ssd-ep").instances == 0, 30, "scale to zero")
    events = client.scaling_events("ssd-ep")
    assert (events[0].action, events[0].from_instances) == ("scale_out", 0)
    assert max(e.to_instances for e in events) == 2  # backlog 6 / target 3, capped at max_instances 2
    assert events[-1].action == "scale_in" and events[-1].to_instances == 0
    again = client.invoke_async("ssd-ep", str(frames[0]))
    assert client.wait(again.inference_id, timeout_s=60).status == "completed"
    ups = [e for e in client.scaling_events("ssd-ep") if e.action == "scale_out"]
    assert (ups[-1].from_instances, ups[-1].to_instances) == (0, 1)
    assert sum(e.from_instances == 0 for e in ups) == 2  # from zero twice: at the start and after idling

    # the same inference id is the same invocation (safe retries)
    dup = client.invoke_async("ssd-ep", str(frames[0]), inference_id=again.inference_id)
    assert dup.inference_id == again.inference_id and dup.status == "completed"

    text = client.metrics()
    assert 'prelabel_invocations_total{endpoint="ssd-ep",status="completed"} 7' in text
    assert 'prelabel_invocation_latency_seconds_count{endpoint="ssd-ep"} 7' in text
    assert 'prelabel_endpoint_backlog{endpoint="ssd-ep"} 0' in text
    assert "prelabel_endpoint_backlog_per_instance" in text and "prelabel_endpoint_instances" in text

    # deletion in the SageMaker order; the model is refused while an endpoint uses it
    with pytest.raises(ServiceError, match="used by endpoints"):
        client.delete_model("ssd")
    client.delete_endpoint("ssd-ep")
    client.delete_endpoint_config("ssd-async")
    client.delete_model("ssd")
    with pytest.raises(ServiceError, match="404"):
        client.describe_endpoint("ssd-ep")


def test_failures_write_error_documents_and_the_endpoint_keeps_serving(
    client: Client, frames: list[Path], tmp_path: Path, webhooks: Webhooks
) -> None:
    client.create_model("picky", "python:tests.service.detectors:FailsOnSmallImages")
    client.create_endpoint_config(
        "picky-cfg",
        "picky",
        output_path=str(tmp_path / "out"),
        failure_path=str(tmp_path / "failed"),
        success_webhook=f"{webhooks.url}/picky-ok",
        error_webhook=f"{webhooks.url}/picky-err",
    )
    client.create_endpoint("picky-ep", "picky-cfg", FAST)
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("these are notes, not pixels")
    import cv2

    small = tmp_path / "small.png"
    cv2.imwrite(str(small), cv2.imread(str(frames[0]))[100:140, 200:240])
    bad = {
        "missing": client.invoke_async("picky-ep", str(tmp_path / "no-such-frame.png")),
        "unreadable": client.invoke_async("picky-ep", str(not_an_image)),
        "model": client.invoke_async("picky-ep", str(small)),
    }
    good = client.invoke_async("picky-ep", str(frames[2]))
    client.wait_all([b.inference_id for b in bad.values()] + [good.inference_id], timeout_s=120)
    assert client.describe_invocation(good.inference_id).status == "completed"
    expect = {
        "missing": ("InputNotFoundError", "no-such-frame.png"),
        "unreadable": ("UnreadableInputError", "not a decodable image"),
        "model": ("ModelError", "below the model's 64 px minimum"),
    }
    for kind, inv in bad.items():
        info = client.describe_invocation(inv.inference_id)
        assert info.status == "failed"
        assert inv.failure_location == str(tmp_path / "failed" / f"{inv.inference_id}.error.json")
        doc = json.loads(Path(inv.failure_location).read_text())
        assert doc["error_type"] == expect[kind][0] and expect[kind][1] in doc["error"], doc
        assert not Path(inv.output_location).exists()
        with pytest.raises(InvocationFailedError, match=expect[kind][1]):
            client.result(inv.inference_id)
    webhooks.wait("/picky-ok", 1)
    errs = {e["inference_id"]: e for e in webhooks.wait("/picky-err", 3)}
    assert set(errs) == {b.inference_id for b in bad.values()}
    assert errs[bad["model"].inference_id]["failure_location"] == bad["model"].failure_location
    assert webhooks.counts("/picky-ok") == {good.inference_id: 1}
    assert 'prelabel_invocation_errors_total{endpoint="picky-ep"} 3' in client.metrics()
    client.delete_endpoint("picky-ep")


def test_concurrency_per_instance_is_honoured(client: Client, frames: list[Path], service: ServiceProcess) -> None:
    client.create_model("slow", "python:tests.service.detectors:SlowSSD", delay_s=0.2)
    client.create_endpoint_config(
        "slow-cfg", "slow", output_path=str(frames[0].parent.parent / "out"), max_concurrent_invocations_per_instance=2
    )
    client.create_endpoint("slow-ep", "slow-cfg", ScalingPolicy(max_instances=1, scale_in_cooldown_s=0))
    ids = [client.invoke_async("slow-ep", str(f)).inference_id for f in frames]
    db = sqlite3.connect(service.state_dir / "service.sqlite3")
    most = 0
    while True:
        rows = db.execute(
            "SELECT lease_owner, COUNT(*) FROM invocations WHERE endpoint='slow-ep' AND state='leased' "
            "GROUP BY lease_owner"
        ).fetchall()
        most = max([most, *(n for _, n in rows)])
        left = db.execute(
            "SELECT COUNT(*) FROM invocations WHERE endpoint='slow-ep' AND state IN ('queued','leased')"
        ).fetchone()[0]
        if not left:
            break
        time.sleep(0.02)
    db.close()
    assert most == 2  # never more than max_concurrent_invocations_per_instance in flight on the one instance
    assert {i.status for i in client.wait_all(ids)} == {"completed"}
    assert max(e.to_instances for e in client.scaling_events("slow-ep")) == 1
    client.delete_endpoint("slow-ep")


def test_sync_route_contract(client: Client, service: ServiceProcess, tmp_path: Path) -> None:
    """POST /endpoints/{name}/invocations with the image bytes: the contract the models issue calls."""
    client.create_model("ssd-sync", "ssd-mobilenet-v2-coco", threads=1)
    client.create_endpoint_config("sync-cfg", "ssd-sync", output_path=str(tmp_path / "out"))
    client.create_endpoint("sync-ep", "sync-cfg", FAST)
    png = (KITTI / "image_2" / "000008.png").read_bytes()
    r = httpx.post(
        f"{service.url}/endpoints/sync-ep/invocations", content=png, headers={"content-type": "image/png"}, timeout=60
    )  # the endpoint is at zero instances: this call starts one
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "ssd-mobilenet-v2-coco@2018.03.29" and (body["width"], body["height"]) == (1242, 375)
    labels = [Label.model_validate(lab) for lab in body["labels"]]
    assert any(lab.category == "car" for lab in labels)
    r2 = httpx.post(
        f"{service.url}/endpoints/sync-ep/invocations",
        params={"min_score": 0.6},
        content=png,
        headers={"content-type": "image/png"},
        timeout=60,
    )
    assert r2.status_code == 200
    high = r2.json()["labels"]
    assert 0 < len(high) < len(labels) and all(lab["score"] >= 0.6 for lab in high)
    assert client.invoke("sync-ep", png)["labels"] == body["labels"]  # the Python client's sync call

    bad = httpx.post(
        f"{service.url}/endpoints/sync-ep/invocations",
        content=b"not an image",
        headers={"content-type": "image/png"},
        timeout=60,
    )
    assert bad.status_code == 400 and "not a decodable image" in bad.json()["error"]
    wrong = httpx.post(
        f"{service.url}/endpoints/sync-ep/invocations", content=png, headers={"content-type": "text/csv"}
    )
    assert wrong.status_code == 415 and "image/png or image/jpeg" in wrong.json()["error"]
    missing = httpx.post(
        f"{service.url}/endpoints/nope/invocations", content=png, headers={"content-type": "image/png"}
    )
    assert missing.status_code == 404 and "sync-ep" in missing.json()["error"]
    assert not list((service.state_dir / "sync").glob("*.png"))  # payloads are cleaned up

    # a running endpoint as the model of another endpoint ("an endpoint already deployed")
    remote = client.create_model("remote", f"{service.url}/endpoints/sync-ep")
    assert remote.kind == "endpoint"
    client.create_endpoint_config("remote-cfg", "remote", output_path=str(tmp_path / "remote-out"))
    client.create_endpoint("remote-ep", "remote-cfg", FAST)
    inv = client.invoke_async("remote-ep", str(KITTI / "image_2" / "000008.png"))
    assert client.wait(inv.inference_id, timeout_s=90).status == "completed"
    via = client.result(inv.inference_id)
    assert via.frame.meta["model"] == "ssd-mobilenet-v2-coco@2018.03.29"
    assert [(lab.category, lab.box, lab.score) for lab in via.labels] == [
        (lab.category, lab.box, lab.score) for lab in labels
    ]
    client.delete_endpoint("remote-ep")
    client.delete_endpoint("sync-ep")


def test_a_sync_call_goes_ahead_of_an_async_backlog(
    client: Client, service: ServiceProcess, frames: list[Path]
) -> None:
    client.create_model("prio", "python:tests.service.detectors:SlowSSD", delay_s=0.3)
    client.create_endpoint_config(
        "prio-cfg", "prio", output_path=str(frames[0].parent.parent / "out"), max_concurrent_invocations_per_instance=1
    )
    client.create_endpoint("prio-ep", "prio-cfg", ScalingPolicy(max_instances=1, scale_in_cooldown_s=60))
    backlog = [client.invoke_async("prio-ep", str(frames[i % len(frames)])).inference_id for i in range(12)]
    wait_for(lambda: client.list_invocations("prio-ep", status="completed"), 60, "a warm worker")
    body = client.invoke("prio-ep", (KITTI / "image_2" / "000008.png").read_bytes())
    assert any(lab["category"] == "car" for lab in body["labels"])
    db = sqlite3.connect(service.state_dir / "service.sqlite3")
    created, started = db.execute(
        "SELECT created_at, started_at FROM invocations WHERE endpoint='prio-ep' AND priority=1"
    ).fetchone()
    # no async invocation was taken between the sync call's arrival and its start: it went to the front
    (overtaken,) = db.execute(
        "SELECT COUNT(*) FROM invocations WHERE endpoint='prio-ep' AND priority=0 "
        "AND started_at > ? AND started_at < ?",
        (created, started),
    ).fetchone()
    db.close()
    assert overtaken == 0
    queued = {i.inference_id for i in client.list_invocations("prio-ep", status="queued")}
    assert len(queued) >= 6 and queued <= set(backlog), "most of the async backlog is still queued"
    client.delete_endpoint("prio-ep", force=True)  # cancels the queued rest


def test_api_refuses_bad_requests_with_clear_errors(client: Client, service: ServiceProcess, tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match=r"unknown model 'yolo-nonexistent'.*ssd-mobilenet-v2-coco"):
        client.create_model("x", "yolo-nonexistent")
    with pytest.raises(ServiceError, match="expected python:package.module:factory"):
        client.create_model("x", "python:only-a-module")
    client.create_model("ok", "ssd-mobilenet-v2-coco")
    with pytest.raises(ServiceError, match="409.*exists already"):
        client.create_model("ok", "ssd-mobilenet-v2-coco")
    r = httpx.post(f"{service.url}/endpoint-configs", json={"name": "c", "model_name": "ok", "output_path": "rel/out"})
    assert r.status_code == 422 and "absolute path" in r.json()["error"]
    with pytest.raises(ServiceError, match="model 'missing' not found; existing: .*ok"):
        client.create_endpoint_config("c", "missing", output_path=str(tmp_path))
    client.create_endpoint_config("c", "ok", output_path=str(tmp_path))
    with pytest.raises(ServiceError, match="min_instances"):
        client.create_endpoint("e", "c", ScalingPolicy.model_construct(min_instances=3, max_instances=1))
    with pytest.raises(ServiceError, match="needs the service started with --ray"):
        client.create_endpoint("e", "c", backend="ray")
    with pytest.raises(ServiceError, match="endpoint 'nope' not found"):
        client.invoke_async("nope", str(tmp_path / "a.png"))
    r = httpx.post(f"{service.url}/endpoints/nope/async-invocations", params={"input_location": "frames/a.png"})
    assert r.status_code == 422 and "absolute path" in r.json()["error"]
    spec = httpx.get(f"{service.url}/openapi.json").json()
    for path in ("/models", "/endpoint-configs", "/endpoints", "/endpoints/{name}/async-invocations",
                 "/endpoints/{name}/invocations", "/invocations/{inference_id}", "/metrics"):  # fmt: skip
        assert path in spec["paths"], path
    client.delete_endpoint_config("c")
    client.delete_model("ok")
    # the review portal (its own app) is mounted in the same server
    assert httpx.get(f"{service.url}/portal/login").status_code == 200


def test_an_endpoint_whose_model_cannot_load_fails_its_queue(
    client: Client, tmp_path: Path, webhooks: Webhooks
) -> None:
    client.create_model("broken", "python:tests.service.no_such_module:Factory")
    client.create_endpoint_config(
        "broken-cfg", "broken", output_path=str(tmp_path / "out"), error_webhook=f"{webhooks.url}/broken"
    )
    client.create_endpoint("broken-ep", "broken-cfg", FAST)
    inv = client.invoke_async("broken-ep", str(KITTI / "image_2" / "000001.png"))
    info = client.wait(inv.inference_id, timeout_s=90)
    assert info.status == "failed" and "No module named 'tests.service.no_such_module'" in (info.error or "")
    ep = client.describe_endpoint("broken-ep")
    assert ep.status == "failed" and "could not be loaded" in (ep.failure_reason or "")
    assert json.loads(Path(inv.failure_location).read_text())["error_type"] == "EndpointFailed"
    webhooks.wait("/broken", 1)
    assert webhooks.counts("/broken") == {inv.inference_id: 1}
    with pytest.raises(ServiceError, match="503"):
        client.invoke_async("broken-ep", str(KITTI / "image_2" / "000001.png"))
    client.delete_endpoint("broken-ep")
