"""The supervisor: a thread in the server process that starts, drains and reaps worker processes, applies the
autoscaler to every local endpoint, and recovers what a previous run or a dead worker left behind.

- A worker that exits (crash, kill -9) is reaped on the next tick and its leases go back to the queue at once.
- On start, instances recorded by a previous run of the service are stopped (their processes killed if still
  there) and their leases released, so a restarted service completes its whole backlog.
- A model that fails to load three times in a row marks the endpoint failed; its queued invocations get error
  documents and error notices (nothing stays queued for ever).
- Every scaling action, and every decision held back by a cooldown, is logged and stored (``scaling_events``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from prelabel.service.autoscaler import Decision, decide
from prelabel.service.delivery import error_document, write_once
from prelabel.service.outbox import Outbox
from prelabel.service.schemas import ScalingPolicy
from prelabel.service.store import Store

log = logging.getLogger("prelabel.service.autoscaler")

MAX_START_FAILURES = 3


def _is_our_worker(pid: int, instance: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"prelabel.service.worker" in cmdline and instance.encode() in cmdline


class Supervisor:
    def __init__(
        self,
        store: Store,
        *,
        tick_s: float = 0.25,
        lease_s: float = 30.0,
        worker_poll_s: float = 0.05,
        worker_env: dict[str, str] | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self.store = store
        self.outbox = outbox or Outbox(store)
        self.tick_s = tick_s
        self.lease_s = lease_s
        self.worker_poll_s = worker_poll_s
        self.worker_env = worker_env or {}
        self.log_dir = store.state_dir / "logs"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.start_failures: dict[str, int] = {}
        self.below_since: dict[str, float] = {}
        self.last_logged: dict[str, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ---- life cycle
    def start(self) -> None:
        self.recover()
        self.outbox.start()
        self._thread = threading.Thread(target=self._loop, name="prelabel-supervisor", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("supervisor tick failed")
            self._stop.wait(self.tick_s)

    def recover(self) -> None:
        """Stop instances a previous run left (this run starts with none) and requeue what they held."""
        for row in self.store.live_instances():
            pid = row["pid"]
            if pid and _is_our_worker(int(pid), row["id"]):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            self.store.set_instance(row["id"], "dead", error="left by a previous run of the service")
            n = self.store.release_leases(row["id"])
            log.info("recovered instance %s of %s: %d invocations back in the queue", row["id"], row["endpoint"], n)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Drain every instance (finish in-flight work), then stop; what is left stays queued for the next run."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for iid in self.procs:
                self.store.set_instance(iid, "draining")
            deadline = time.monotonic() + timeout_s
            for p in self.procs.values():
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            for iid in list(self.procs):
                self._reap_one(iid)
        self.outbox.stop()
        self.outbox.run_once()  # one last try for the notices of the work just drained; the rest stay pending

    # ---- one tick
    def tick(self) -> None:
        with self._lock:
            for iid in list(self.procs):
                if self.procs[iid].poll() is not None:
                    self._reap_one(iid)
            for row in self.store.all("SELECT name FROM endpoints WHERE status='in_service' AND backend='local'"):
                self.scale(row["name"])
            # endpoints deleted or failed: stop what still runs for them
            for row in self.store.all(
                "SELECT i.id FROM instances i LEFT JOIN endpoints e ON e.name=i.endpoint "
                "WHERE i.state IN ('starting','ready') AND (e.name IS NULL OR e.status != 'in_service')"
            ):
                self.store.set_instance(row["id"], "draining")

    def _reap_one(self, iid: str) -> None:
        p = self.procs.pop(iid)
        rc = p.wait()
        row = self.store.one("SELECT endpoint, state, error FROM instances WHERE id=?", iid)
        released = self.store.release_leases(iid)
        if row is None:
            return
        endpoint, state = row["endpoint"], row["state"]
        if state == "failed":
            n = self.start_failures.get(endpoint, 0) + 1
            self.start_failures[endpoint] = n
            log.warning("instance %s of %s failed to start (%d/%d): %s", iid, endpoint, n, MAX_START_FAILURES, row[2])
            if n >= MAX_START_FAILURES:
                self.fail_endpoint(endpoint, str(row["error"]))
        elif state != "stopped":
            self.store.set_instance(iid, "dead", error=f"worker exited with code {rc}")
            log.warning("instance %s of %s died (exit code %s); %d invocations requeued", iid, endpoint, rc, released)
        else:
            log.info("instance %s of %s stopped", iid, endpoint)

    def fail_endpoint(self, endpoint: str, reason: str) -> None:
        spec = self.store.endpoint_spec(endpoint)
        with self.store.tx() as db:
            db.execute("UPDATE endpoints SET status='failed', failure_reason=? WHERE name=?", (reason, endpoint))
        error = f"endpoint {endpoint} failed: {reason}"
        hook = spec.get("error_webhook") if spec else None

        def close(inv: Any) -> tuple[str | None, dict[str, Any]]:
            """Its error document, then its notice (both before the commit: the notice never precedes the doc)."""
            try:
                write_once(
                    inv["failure_location"],
                    error_document(inv["id"], endpoint, inv["input_location"], error, "EndpointFailed"),
                )
            except Exception as e:
                log.error("invocation %s: cannot write the error document: %s: %s", inv["id"], type(e).__name__, e)
            return hook, {
                "event": "error",
                "inference_id": inv["id"],
                "endpoint": endpoint,
                "input_location": inv["input_location"],
                "failure_location": inv["failure_location"],
                "error_type": "EndpointFailed",
                "error": error,
            }

        self.store.fail_queued(endpoint, error, close)
        log.error("endpoint %s failed: %s", endpoint, reason)

    # ---- scaling
    def scale(self, endpoint: str) -> Decision:
        row = self.store.one("SELECT policy, last_scale_out, last_scale_in FROM endpoints WHERE name=?", endpoint)
        assert row is not None
        policy = ScalingPolicy.model_validate(json.loads(row["policy"]))
        live = [r for r in self.store.live_instances(endpoint) if r["id"] in self.procs]
        if any(r["state"] == "ready" for r in live):
            self.start_failures.pop(endpoint, None)  # only failures in a row count
        current = len(live)
        backlog = self.store.backlog(endpoint)
        now = time.time()
        d = decide(policy, backlog, current, now, last_scale_out=row[1], last_scale_in=row[2], below_since=None)
        if d.desired < current:
            self.below_since.setdefault(endpoint, now)
            d = decide(
                policy,
                backlog,
                current,
                now,
                last_scale_out=row[1],
                last_scale_in=row[2],
                below_since=self.below_since[endpoint],
            )
        else:
            self.below_since.pop(endpoint, None)
        if d.action == "scale_out":
            for _ in range(d.target - current):
                self.spawn(endpoint)
        elif d.action == "scale_in":
            # drain the instances holding the fewest invocations (starting ones first)
            held = {
                r["lease_owner"]: r["n"]
                for r in self.store.all(
                    "SELECT lease_owner, COUNT(*) AS n FROM invocations WHERE endpoint=? AND state='leased' "
                    "GROUP BY lease_owner",
                    endpoint,
                )
            }
            order = sorted(live, key=lambda r: (r["state"] != "starting", held.get(r["id"], 0)))
            for r in order[: current - d.target]:
                self.store.set_instance(r["id"], "draining")
            self.below_since.pop(endpoint, None)
        key = (d.action, d.desired)
        if d.action != "hold" or (key != self.last_logged.get(endpoint) and "cooldown" in d.reason):
            self.store.log_scaling(endpoint, current, d.target, backlog, d.action, d.reason, at=now)
            log.info("endpoint %s: %s (%s)", endpoint, d.action, d.reason)
        self.last_logged[endpoint] = key
        return d

    def spawn(self, endpoint: str) -> str:
        iid = f"{endpoint}-{uuid.uuid4().hex[:8]}"
        self.store.add_instance(iid, endpoint, None)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "prelabel.service.worker",
            "--state",
            str(self.store.state_dir),
            "--endpoint",
            endpoint,
            "--instance",
            iid,
            "--lease-s",
            str(self.lease_s),
            "--poll-s",
            str(self.worker_poll_s),
        ]
        env: dict[str, Any] = {**os.environ, **self.worker_env}
        env.setdefault("OMP_NUM_THREADS", "1")
        with open(self.log_dir / f"{iid}.log", "ab") as logf:
            p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=False)
        self.procs[iid] = p
        self.store.set_instance(iid, "starting", pid=p.pid)
        log.info("endpoint %s: started instance %s (pid %d)", endpoint, iid, p.pid)
        return iid
