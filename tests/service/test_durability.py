"""Durability for real: SIGKILL a worker mid-work, SIGKILL the whole service with a backlog and start it again.
Every accepted invocation completes and its output is written once. Its success notice is sent once when a
worker dies, and at least once (with the same idempotency key) when the whole service dies."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from prelabel.client import Client, ScalingPolicy
from prelabel.core.labels import FrameRecord
from prelabel.service.launch import ServiceProcess
from tests.conftest import REPO
from tests.service.conftest import Webhooks, leased_by_a_worker, service_options

HOLD = ScalingPolicy(
    min_instances=0, max_instances=2, target_backlog_per_instance=2, scale_in_cooldown_s=60, scale_out_cooldown_s=0
)


def _setup(client: Client, out: Path, hooks: Webhooks, name: str, policy: ScalingPolicy) -> None:
    client.create_model(name, "python:tests.service.detectors:SlowSSD", delay_s=0.25)
    client.create_endpoint_config(
        name,
        name,
        output_path=str(out),
        max_concurrent_invocations_per_instance=2,
        success_webhook=f"{hooks.url}/{name}",
    )
    client.create_endpoint(name, name, policy)


def _check_exactly_once(
    client: Client, ids: list[str], out: Path, hooks: Webhooks, path: str, notices_once: bool = True
) -> list[int]:
    infos = client.wait_all(ids, timeout_s=120)
    assert [i.status for i in infos] == ["completed"] * len(ids)
    for i in infos:
        rec = FrameRecord.from_json(Path(i.output_location).read_text())
        assert rec.frame.meta["inference_id"] == i.inference_id and rec.status == "ok"
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == sorted(f"{i}.json" for i in ids)  # no temp files
    got = hooks.wait(path, len(ids))
    assert all(e["idempotency_key"] == f"{e['inference_id']}:success" for e in got)
    if notices_once:
        assert hooks.counts(path) == {i: 1 for i in ids}
    else:  # a notice POSTed just before the service died, not yet marked delivered, is sent again (same key)
        assert set(hooks.counts(path)) == set(ids)
    return [i.attempts for i in infos]


def test_kill_9_a_worker_and_everything_completes_exactly_once(
    service: ServiceProcess, client: Client, frames: list[Path], tmp_path: Path, webhooks: Webhooks
) -> None:
    out = tmp_path / "out"
    _setup(client, out, webhooks, "k9", HOLD)
    ids = [client.invoke_async("k9", str(frames[i % len(frames)])).inference_id for i in range(16)]
    db = sqlite3.connect(service.state_dir / "service.sqlite3")
    _, victim, pid = leased_by_a_worker(db, "k9")
    os.kill(pid, signal.SIGSTOP)  # frozen: what it holds can no longer change
    held = {r[0] for r in db.execute("SELECT id FROM invocations WHERE state='leased' AND lease_owner=?", (victim,))}
    os.kill(pid, signal.SIGKILL)

    attempts = _check_exactly_once(client, ids, out, webhooks, "/k9")
    state, error = db.execute("SELECT state, error FROM instances WHERE id=?", (victim,)).fetchone()
    assert state == "dead" and "exited with code -9" in error
    retried = {r[0] for r in db.execute("SELECT id FROM invocations WHERE endpoint='k9' AND attempts > 1")}
    assert held and held == retried  # what the killed worker held, and only that, ran again elsewhere
    assert max(attempts) == 2
    db.close()


@pytest.mark.slow
def test_restart_the_service_with_a_backlog_and_everything_completes(
    tmp_path: Path, frames: list[Path], webhooks: Webhooks, tmp_path_factory: pytest.TempPathFactory
) -> None:
    state, out = tmp_path / "state", tmp_path / "out"
    policy = ScalingPolicy(max_instances=1, target_backlog_per_instance=5, scale_in_cooldown_s=60)
    options = service_options(tmp_path_factory, webhooks.url)
    first = ServiceProcess(state, tick_s=0.1, lease_s=5.0, cwd=REPO, **options).start()
    try:
        with Client(first.url) as client:
            _setup(client, out, webhooks, "restart", policy)
            ids = [client.invoke_async("restart", str(frames[i % len(frames)])).inference_id for i in range(12)]
            deadline = time.monotonic() + 60
            while len(client.list_invocations("restart", status="completed")) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        first.kill()  # SIGKILL: no clean shutdown, workers orphaned mid-work
    db = sqlite3.connect(state / "service.sqlite3")
    left = db.execute("SELECT COUNT(*) FROM invocations WHERE state IN ('queued','leased')").fetchone()[0]
    assert left >= 5, "the test needs a backlog at the moment the service dies"
    db.close()

    with (
        ServiceProcess(state, tick_s=0.1, lease_s=5.0, cwd=REPO, **options) as second,
        Client(second.url) as client,
    ):
        _check_exactly_once(client, ids, out, webhooks, "/restart", notices_once=False)
        assert client.describe_endpoint("restart").backlog == 0
        second.stop()  # SIGTERM: a clean stop drains the workers and leaves no process behind
        # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status is -15
        assert second.proc is not None and second.proc.returncode in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in second.log_file.read_text()
    db = sqlite3.connect(state / "service.sqlite3")
    for pid, st in db.execute("SELECT pid, state FROM instances"):
        assert st in ("stopped", "dead"), st
        assert (
            not Path(f"/proc/{pid}").exists()
            or b"prelabel.service.worker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        )
    db.close()
