"""The supervisor: a thread in the server process that starts, drains and reaps worker processes, applies the
autoscaler to every local endpoint, and recovers what a previous run or a dead worker left behind.

- A worker that exits (crash, kill -9) is reaped on the next tick and its leases go back to the queue at once.
- On start, instances recorded by a previous run of the service are stopped (their processes killed if still
  there) and their leases released, so a restarted service completes its whole backlog.
- A worker that cannot be built (the model does not import, its factory returns something that is not a
  detector, its weights do not load, or the process dies before it is ready) is a *failed load*. The next start
  waits ``load_backoff_s`` doubling per failure in a row (no restart storm); ``max_failed_loads`` failures in a
  row mark the endpoint failed with the reason, and its queued invocations get error documents and error notices.
- Nothing stays queued for ever: invocations of an endpoint that was deleted or has failed, put back by a worker
  that died or lost its lease, are failed with the reason (``EndpointGone``).
- On start, the temporary files a killed write left in the output and failure folders the service writes to are
  removed, and synchronous calls the previous run accepted (nobody waits for their answer any more) are failed.
- Every scaling action, and every decision held back by a cooldown, is logged and stored (``scaling_events``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prelabel.service.autoscaler import Decision, decide
from prelabel.service.delivery import error_document, write_once_bounded
from prelabel.service.outbox import Outbox
from prelabel.service.schemas import ScalingPolicy
from prelabel.service.store import Store
from prelabel.service.wake import announce, wake

log = logging.getLogger("prelabel.service.autoscaler")

MAX_START_FAILURES = 3
ORPHAN_SWEEP_S = 5.0


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
        write_attempts: int = 3,
        max_failed_loads: int = MAX_START_FAILURES,
        load_backoff_s: float = 1.0,
        load_backoff_max_s: float = 30.0,
        worker_wake: bool = True,
    ) -> None:
        """``worker_env``: extra environment for worker processes (e.g. the ``PRELABEL_MAX_*`` limits);
        ``write_attempts``: tries per output or error document before the invocation fails;
        ``max_failed_loads``: failed loads in a row before the endpoint is marked failed; ``load_backoff_s``: wait
        before restarting after a failed load, doubling per failure in a row up to ``load_backoff_max_s``;
        ``worker_wake``: workers wait to be woken when work arrives (False: they poll every ``worker_poll_s``)."""
        if max_failed_loads < 1:
            raise ValueError(f"max_failed_loads must be at least 1; got {max_failed_loads}")
        self.store = store
        self.outbox = outbox or Outbox(store)
        self.tick_s = tick_s
        self.lease_s = lease_s
        self.worker_poll_s = worker_poll_s
        self.worker_env = worker_env or {}
        self.write_attempts = write_attempts
        self.max_failed_loads = max_failed_loads
        self.load_backoff_s = load_backoff_s
        self.load_backoff_max_s = load_backoff_max_s
        self.worker_wake = worker_wake
        self.log_dir = store.state_dir / "logs"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.start_failures: dict[str, int] = {}
        self.retry_at: dict[str, float] = {}
        self.last_sweep = 0.0
        self.below_since: dict[str, float] = {}
        self.last_logged: dict[str, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ---- life cycle
    def start(self) -> None:
        self.recover()
        self.outbox.start()
        self._thread = threading.Thread(target=self._loop, name="prelabel-supervisor", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        """Tick now rather than at the next ``tick_s`` (work queued on an endpoint with no instance). Never blocks."""
        self._kick.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("supervisor tick failed")
            self._kick.wait(self.tick_s)
            self._kick.clear()

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
        self.fail_abandoned_sync_calls()
        self.fail_orphans()

    def fail_abandoned_sync_calls(self) -> None:
        """Synchronous calls of a previous run: the client that waited for them is gone with that run."""
        n = self.store.fail_abandoned_sync_calls()
        for p in (self.store.state_dir / "sync").glob("*"):
            if p.is_file():
                p.unlink(missing_ok=True)
        if n:
            log.info("%d synchronous calls of the previous run closed as failed", n)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Drain every instance (finish in-flight work), then stop; what is left stays queued for the next run."""
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for iid in self.procs:
                self.store.set_instance(iid, "draining")
            wake(self.store.state_dir, self.procs)
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
            for name in self.store.endpoints_in_service("local"):
                self.scale(name)
            # endpoints deleted or failed: stop what still runs for them
            for iid in self.store.instances_to_drain():
                self.store.set_instance(iid, "draining")
                wake(self.store.state_dir, [iid])
            if time.monotonic() - self.last_sweep > ORPHAN_SWEEP_S:
                self.fail_orphans()

    def _reap_one(self, iid: str) -> None:
        p = self.procs.pop(iid)
        rc = p.wait()
        row = self.store.instance(iid)
        released = self.store.release_leases(iid)
        if row is None:
            return
        endpoint, state, error = row["endpoint"], row["state"], row["error"]
        if released:  # what it held is queued again: the endpoint's other instances take it now
            wake(self.store.state_dir, [r["id"] for r in self.store.live_instances(endpoint)])
        if state == "starting":  # died before its model was loaded (crash, kill, out of memory): a failed load
            error = f"worker exited with code {rc} before its model was loaded; see {self.log_dir / (iid + '.log')}"
            self.store.set_instance(iid, "failed", error=error)
            state = "failed"
        if state == "failed":
            n = self.start_failures.get(endpoint, 0) + 1
            self.start_failures[endpoint] = n
            limit = self.max_failed_loads
            log.warning("instance %s of %s failed to load (%d/%d in a row): %s", iid, endpoint, n, limit, error)
            if n >= limit:
                self.retry_at.pop(endpoint, None)
                self.fail_endpoint(endpoint, f"{n} failed loads in a row; the last: {error}")
            else:
                delay = min(self.load_backoff_s * 2 ** (n - 1), self.load_backoff_max_s)
                self.retry_at[endpoint] = time.time() + delay
        elif state != "stopped":
            self.store.set_instance(iid, "dead", error=f"worker exited with code {rc}")
            log.warning("instance %s of %s died (exit code %s); %d invocations requeued", iid, endpoint, rc, released)
        else:
            log.info("instance %s of %s stopped", iid, endpoint)

    def _closer(
        self, error_type: str, reason: Callable[[Any], str], hook: Callable[[Any], str | None]
    ) -> Callable[[Any], tuple[str | None, dict[str, Any]]]:
        """For each invocation closed as failed: its error document (bounded attempts), then its notice (both
        before the commit: the notice never precedes the document)."""

        def close(inv: Any) -> tuple[str | None, dict[str, Any]]:
            error = reason(inv)
            try:
                write_once_bounded(
                    inv["failure_location"],
                    error_document(inv["id"], inv["endpoint"], inv["input_location"], error, error_type),
                    attempts=self.write_attempts,
                    backoff_s=0.05,
                )
            except Exception as e:
                log.error("invocation %s: cannot write the error document: %s", inv["id"], e)
            return hook(inv), {
                "event": "error",
                "inference_id": inv["id"],
                "endpoint": inv["endpoint"],
                "input_location": inv["input_location"],
                "failure_location": inv["failure_location"],
                "error_type": error_type,
                "error": error,
            }

        return close

    def fail_endpoint(self, endpoint: str, reason: str) -> None:
        spec = self.store.endpoint_spec(endpoint)
        self.store.mark_endpoint_failed(endpoint, reason)
        error = f"endpoint {endpoint} failed: {reason}"
        hook = spec.get("error_webhook") if spec else None
        rows = self.store.fail_queued(
            endpoint, error, self._closer("EndpointFailed", lambda inv: error, lambda inv: hook)
        )
        announce(self.store.state_dir, [r["id"] for r in rows])
        log.error("endpoint %s failed: %s", endpoint, reason)

    def fail_orphans(self) -> None:
        """Fail what no worker will run: queued (or with an expired lease) on a deleted or failed endpoint."""
        self.last_sweep = time.monotonic()
        hooks = self.store.error_webhooks()
        failure = self.store.failure_reasons()

        def reason(inv: Any) -> str:
            name = inv["endpoint"]
            if name in failure:
                return f"endpoint {name} failed: {failure[name]}"
            return f"endpoint {name} was deleted before this invocation finished"

        close = self._closer("EndpointGone", reason, lambda inv: hooks.get(inv["endpoint"]))
        rows = self.store.fail_orphans(reason, close)
        announce(self.store.state_dir, [r["id"] for r in rows])
        if rows:
            log.warning("%d invocations of deleted or failed endpoints closed as failed", len(rows))

    # ---- scaling
    def scale(self, endpoint: str) -> Decision:
        got = self.store.scaling_state(endpoint)
        assert got is not None
        policy = ScalingPolicy.model_validate(got[0])
        last_out, last_in = got[1], got[2]
        live = [r for r in self.store.live_instances(endpoint) if r["id"] in self.procs]
        if any(r["state"] == "ready" for r in live):
            self.start_failures.pop(endpoint, None)  # only failures in a row count
        current = len(live)
        backlog = self.store.backlog(endpoint)
        now = time.time()
        d = decide(policy, backlog, current, now, last_scale_out=last_out, last_scale_in=last_in, below_since=None)
        if d.desired < current:
            self.below_since.setdefault(endpoint, now)
            d = decide(
                policy,
                backlog,
                current,
                now,
                last_scale_out=last_out,
                last_scale_in=last_in,
                below_since=self.below_since[endpoint],
            )
        else:
            self.below_since.pop(endpoint, None)
        wait = self.retry_at.get(endpoint, 0.0) - now
        if d.action == "scale_out" and wait > 0:  # back-off after a failed load: no restart storm
            return Decision("hold", current, d.desired, f"last load failed; next start in {wait:.1f} s")
        if d.action == "scale_out" and self._failed_unreaped(endpoint):  # counted first, at the next reap
            return Decision("hold", current, d.desired, "a load just failed; its worker is exiting")
        if d.action == "scale_out":
            for _ in range(d.target - current):
                self.spawn(endpoint)
        elif d.action == "scale_in":
            # drain the instances holding the fewest invocations (starting ones first)
            held = self.store.leases_per_owner(endpoint)
            order = sorted(live, key=lambda r: (r["state"] != "starting", held.get(r["id"], 0)))
            for r in order[: current - d.target]:
                self.store.set_instance(r["id"], "draining")
                wake(self.store.state_dir, [r["id"]])
            self.below_since.pop(endpoint, None)
        key = (d.action, d.desired)
        if d.action != "hold" or (key != self.last_logged.get(endpoint) and "cooldown" in d.reason):
            self.store.log_scaling(endpoint, current, d.target, backlog, d.action, d.reason, at=now)
            log.info("endpoint %s: %s (%s)", endpoint, d.action, d.reason)
        self.last_logged[endpoint] = key
        return d

    def _failed_unreaped(self, endpoint: str) -> bool:
        """A worker of ``endpoint`` that recorded a failed load and has not been reaped yet."""
        return self.store.any_failed(endpoint, list(self.procs))

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
            "--write-attempts",
            str(self.write_attempts),
            *([] if self.worker_wake else ["--no-wake"]),
        ]
        env: dict[str, Any] = {**os.environ, **self.worker_env}
        env.setdefault("OMP_NUM_THREADS", "1")
        with open(self.log_dir / f"{iid}.log", "ab") as logf:
            p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=False)
        self.procs[iid] = p
        self.store.set_instance(iid, "starting", pid=p.pid)
        log.info("endpoint %s: started instance %s (pid %d)", endpoint, iid, p.pid)
        return iid
