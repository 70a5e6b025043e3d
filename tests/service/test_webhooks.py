"""Durable webhook notices for real: the receiver is down while invocations complete, the worker and then the
whole service are SIGKILLed right after completion, the receiver comes up answering 503 to each notice's first
two tries, and the service is started again: every success and error notice arrives, each with its key."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from prelabel.client import Client, ScalingPolicy
from prelabel.service.launch import ServiceProcess, free_port
from tests.conftest import REPO
from tests.service.conftest import Webhooks, service_options

FAST_RETRIES = ["--webhook-attempts", "100", "--webhook-backoff", "0.05", "--webhook-backoff-max", "0.5"]


def test_notices_are_delivered_at_least_once_across_a_down_receiver_and_kill_9(
    tmp_path: Path, frames: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    state, out = tmp_path / "state", tmp_path / "out"
    port = free_port()  # nothing listens here until the receiver starts below
    url = f"http://127.0.0.1:{port}"
    options = service_options(tmp_path_factory, url)
    options["extra_args"] += FAST_RETRIES
    first = ServiceProcess(state, tick_s=0.1, lease_s=5.0, cwd=REPO, **options).start()
    try:
        with Client(first.url) as client:
            client.create_model("hook", "ssd-mobilenet-v2-coco", threads=1)
            client.create_endpoint_config(
                "hook", "hook", output_path=str(out), success_webhook=f"{url}/ok", error_webhook=f"{url}/err"
            )
            client.create_endpoint("hook", "hook", ScalingPolicy(max_instances=1, scale_in_cooldown_s=60))
            good = [client.invoke_async("hook", str(f)).inference_id for f in frames[:4]]
            bad = [client.invoke_async("hook", str(tmp_path / f"missing-{i}.png")).inference_id for i in range(2)]
            infos = client.wait_all(good + bad, timeout_s=120)
            assert [i.status for i in infos] == ["completed"] * 4 + ["failed"] * 2
        db = sqlite3.connect(state / "service.sqlite3")
        for (pid,) in db.execute("SELECT pid FROM instances WHERE endpoint='hook' AND state IN ('starting','ready')"):
            os.kill(pid, signal.SIGKILL)  # the worker that completed them
    finally:
        first.kill()  # and the service, before the receiver ever answered
    rows = db.execute("SELECT key, state, attempts FROM notices ORDER BY key").fetchall()
    expected = sorted([f"{i}:success" for i in good] + [f"{i}:error" for i in bad])
    assert [r[0] for r in rows] == expected and {r[1] for r in rows} == {"pending"}

    hooks = Webhooks(port=port, fail_first=2)
    try:
        with ServiceProcess(state, tick_s=0.1, lease_s=5.0, cwd=REPO, **options) as second:
            ok, err = hooks.wait("/ok", len(good)), hooks.wait("/err", len(bad))
            assert {e["inference_id"] for e in ok} == set(good) and {e["inference_id"] for e in err} == set(bad)
            for e in ok + err:  # the same key in the header and the payload
                assert e["idempotency_key"] == e["key"] == f"{e['inference_id']}:{e['event']}"
            assert all(e["error_type"] == "InputNotFoundError" for e in err)
            assert sorted(r["idempotency_key"] for r in hooks.rejected) == sorted(expected * 2)
            with Client(second.url) as client:
                for iid in good + bad:
                    (notice,) = client.describe_invocation(iid).notices
                    assert notice.state == "delivered" and notice.attempts >= 3  # 2 x 503, then 204
                text = client.metrics()
                assert 'prelabel_webhook_notices_total{endpoint="hook",state="delivered"} 6' in text
                assert 'prelabel_webhook_failures_total{endpoint="hook"} 0' in text
                client.delete_endpoint("hook")
    finally:
        hooks.close()
        db.close()
