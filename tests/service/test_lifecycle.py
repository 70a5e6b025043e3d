"""Every invocation ends, against a real ``prelabel serve`` and real worker processes: an output that cannot be
written, a model that cannot be built, an output left by another state, an endpoint deleted under its queue."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest

from prelabel.client import Client, ScalingPolicy
from prelabel.service.launch import ServiceProcess
from prelabel.service.store import Store
from tests.conftest import KITTI
from tests.service.conftest import Webhooks, leased_by_a_worker, service_options, wait_for

FAST = ScalingPolicy(
    min_instances=0, max_instances=1, target_backlog_per_instance=3, scale_in_cooldown_s=1.0, scale_out_cooldown_s=0.5
)


def test_an_output_that_cannot_be_written_fails_and_the_endpoint_scales_in(
    client: Client, tmp_path: Path, webhooks: Webhooks
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a regular file where a folder should be")
    client.create_model("unwritable", "ssd-mobilenet-v2-coco", threads=1)
    client.create_endpoint_config(
        "unwritable", "unwritable", output_path=str(blocker / "out"), error_webhook=f"{webhooks.url}/unwritable"
    )
    client.create_endpoint("unwritable", "unwritable", FAST)
    inv = client.invoke_async("unwritable", str(KITTI / "image_2" / "000001.png"))
    info = client.wait(inv.inference_id, timeout_s=90)
    assert info.status == "failed" and info.error_type == "OutputWriteError"
    assert info.error is not None and f"cannot write {blocker}/out/{inv.inference_id}.json" in info.error
    assert "NotADirectoryError" in info.error and "tried 3 times" in info.error
    assert "the error document could not be written" in info.error  # its failure folder is under the file too
    (notice,) = webhooks.wait("/unwritable", 1)
    assert notice["error_type"] == "OutputWriteError" and notice["inference_id"] == inv.inference_id
    assert [n.state for n in client.describe_invocation(inv.inference_id).notices] == ["delivered"]
    wait_for(lambda: client.describe_endpoint("unwritable").instances == 0, 30, "scale in to zero")
    client.delete_endpoint("unwritable")  # nothing queued or running: no force needed


def test_a_factory_that_returns_no_detector_is_a_failed_load(
    client: Client, service: ServiceProcess, tmp_path: Path, webhooks: Webhooks
) -> None:
    client.create_model("not-a-detector", "python:builtins:dict")
    client.create_endpoint_config(
        "not-a-detector", "not-a-detector", output_path=str(tmp_path), error_webhook=f"{webhooks.url}/no-detector"
    )
    client.create_endpoint("not-a-detector", "not-a-detector", FAST)
    ids = [client.invoke_async("not-a-detector", str(KITTI / "image_2" / "000001.png")).inference_id for _ in range(2)]
    for info in client.wait_all(ids, timeout_s=90):
        assert info.status == "failed" and info.error_type == "EndpointFailed"
        assert "the factory returned dict, not a detector" in (info.error or "")
        doc = json.loads(Path(info.failure_location).read_text())
        assert doc["error_type"] == "EndpointFailed" and "3 failed loads in a row" in doc["error"]
    ep = client.describe_endpoint("not-a-detector")
    assert ep.status == "failed" and "3 failed loads in a row" in (ep.failure_reason or "")
    assert "model 'python:builtins:dict' could not be loaded" in (ep.failure_reason or "")
    db = sqlite3.connect(service.state_dir / "service.sqlite3")
    starts = db.execute("SELECT state, started_at FROM instances WHERE endpoint='not-a-detector'").fetchall()
    db.close()
    assert [s for s, _ in starts] == ["failed"] * 3  # three loads, none "dead", no restart storm
    gaps = [b - a for a, b in zip(sorted(t for _, t in starts), sorted(t for _, t in starts)[1:], strict=False)]
    assert gaps[0] >= 1.0 and gaps[1] >= 2.0  # backed off between loads (1 s, then 2 s)
    assert {e["inference_id"] for e in webhooks.wait("/no-detector", 2)} == set(ids)
    client.delete_endpoint("not-a-detector")


def test_an_output_left_by_another_state_is_never_reported_as_ours(client: Client, tmp_path: Path) -> None:
    out = tmp_path / "shared-out"
    client.create_model("stale", "ssd-mobilenet-v2-coco", threads=1)
    client.create_endpoint_config("stale", "stale", output_path=str(out))
    client.create_endpoint("stale", "stale", FAST)
    first = client.invoke_async("stale", str(KITTI / "image_2" / "000001.png"), inference_id="first")
    assert client.wait("first", timeout_s=90).status == "completed"
    # what an earlier state left in the shared folder: inference id "later" on another image
    left = json.loads(Path(first.output_location).read_text())
    left["frame"]["meta"]["inference_id"] = "later"
    planted = out / "later.json"
    planted.write_text(json.dumps(left))
    before = planted.read_bytes()
    client.invoke_async("stale", str(KITTI / "image_2" / "000008.png"), inference_id="later")
    info = client.wait("later", timeout_s=90)
    assert info.status == "failed" and info.error_type == "OutputConflict", info
    assert f"output location {planted} already holds a result that is not this invocation's" in (info.error or "")
    assert "000001.png" in (info.error or "")  # names whose result it is
    assert planted.read_bytes() == before  # left as it is
    client.delete_endpoint("stale")


def test_a_force_deleted_endpoint_leaves_no_invocation_queued(
    client: Client, service: ServiceProcess, tmp_path: Path
) -> None:
    client.create_model("doomed", "python:tests.service.detectors:SlowSSD", delay_s=3.0)
    client.create_endpoint_config(
        "doomed", "doomed", output_path=str(tmp_path / "out"), max_concurrent_invocations_per_instance=1
    )
    client.create_endpoint("doomed", "doomed", ScalingPolicy(max_instances=1, scale_in_cooldown_s=60))
    ids = [client.invoke_async("doomed", str(KITTI / "image_2" / "000001.png")).inference_id for _ in range(4)]
    db = sqlite3.connect(service.state_dir / "service.sqlite3")
    held, _, pid = leased_by_a_worker(db, "doomed")
    os.kill(pid, signal.SIGSTOP)  # it holds its invocation and can no longer finish it
    client.delete_endpoint("doomed", force=True)
    os.kill(pid, signal.SIGKILL)  # its lease goes back: to an endpoint that no longer exists
    infos = {i.inference_id: i for i in client.wait_all(ids, timeout_s=60)}
    db.close()
    orphan = infos.pop(held)
    assert orphan.status == "failed" and orphan.error_type == "EndpointGone"
    assert "endpoint doomed was deleted before this invocation finished" in (orphan.error or "")
    assert {i.status for i in infos.values()} == {"cancelled"}
    assert all(i.error_type == "EndpointDeleted" for i in infos.values())


@pytest.mark.server  # starts a service process
def test_a_restart_removes_temporary_files_of_killed_writes_and_closes_abandoned_sync_calls(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    state, out = tmp_path / "state", tmp_path / "out"
    opts = service_options(tmp_path_factory)
    with ServiceProcess(state, tick_s=0.1, **opts) as svc, Client(svc.url) as client:
        client.create_model("m", "ssd-mobilenet-v2-coco")
        client.create_endpoint_config("c", "m", output_path=str(out), failure_path=str(tmp_path / "failed"))
        svc.kill()  # SIGKILL
    leftovers = [
        out / ".abc.json.k3j_9xq2.tmp",
        out / ".abd.k3j_9xq2.tmp.json",  # the name storage.atomic_local gives today
        tmp_path / "failed" / ".abc.error.json.0a1b2c3d.tmp",
        state / "sync" / ".x.png.zzzzzzzz.tmp",
    ]
    kept = [out / "abc.json", out / "notes.tmp", tmp_path / "failed" / "readme.txt"]
    for p in leftovers + kept:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("partial")
    # a synchronous call the killed run had accepted: its HTTP client is gone with that run
    store = Store(state)
    store.enqueue("sync-1", "e", str(state / "sync" / "sync-1.png"), "/o", "/f", {"sync": True}, priority=1)
    store.close()
    with ServiceProcess(state, tick_s=0.1, **opts) as again, Client(again.url) as client:
        assert not [p for p in leftovers if p.exists()]
        assert all(p.exists() for p in kept)  # only the atomic-write pattern is ours to remove
        abandoned = client.describe_invocation("sync-1")
        assert (abandoned.status, abandoned.error_type) == ("failed", "Abandoned")
    shutil.rmtree(state)
