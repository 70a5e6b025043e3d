"""Distributed mode: an endpoint served by a Ray Serve deployment instead of local worker processes.

The API, the SQLite queue, outputs, error documents and webhooks stay the same. A dispatcher thread in the
service hands each queued invocation id to the endpoint's Serve deployment; a replica leases that invocation in
the store (the same lease rules as local workers, so a lost replica's work is leased again) and runs it with the
same code as a local worker. Ray Serve's own autoscaler sizes the deployment from the policy, mapped one to one:

| prelabel ScalingPolicy         | Ray Serve                                             |
|--------------------------------|-------------------------------------------------------|
| min_instances (0)              | autoscaling_config.min_replicas (0: scale to zero)    |
| max_instances                  | autoscaling_config.max_replicas                       |
| target_backlog_per_instance    | autoscaling_config.target_ongoing_requests            |
| scale_out_cooldown_s           | autoscaling_config.upscale_delay_s                    |
| scale_in_cooldown_s            | downscale_delay_s, downscale_to_zero_delay_s (and the |
|                                | look_back_period_s window, capped at Serve's 30 s)    |
| max_concurrent_invocations_... | max_ongoing_requests (per replica)                    |

Ray starts through :func:`prelabel.raycluster.start_local_ray` (loopback only, no usage stats) unless this process
is already connected to one, or joins a running cluster (``prelabel serve --ray-address HOST:PORT``). Replicas open
the service's SQLite state by path: on a multi-host cluster they must run where that folder is (one host, or a
shared filesystem that honours SQLite's locks); a replica lost with its node leaves a lease that expires, and the
invocation is dispatched again (``--lease`` seconds later), so it completes exactly once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from typing import Any

from prelabel.service.schemas import ScalingPolicy
from prelabel.service.store import Store

log = logging.getLogger("prelabel.service.ray")

APP_PREFIX = "prelabel-"
REPLICA_CPUS = 0.5


def ray_autoscaling_config(policy: ScalingPolicy) -> dict[str, Any]:
    return {
        "min_replicas": policy.min_instances,
        "initial_replicas": policy.min_instances,
        "max_replicas": policy.max_instances,
        "target_ongoing_requests": policy.target_backlog_per_instance,
        "upscale_delay_s": policy.scale_out_cooldown_s,
        "downscale_delay_s": policy.scale_in_cooldown_s,
        "downscale_to_zero_delay_s": policy.scale_in_cooldown_s,
        # Serve averages ongoing requests over this window (default 30 s); never longer than the scale-in cooldown
        "look_back_period_s": min(30.0, max(2.0, policy.scale_in_cooldown_s)),
    }


class EndpointReplica:
    """One Serve replica: loads the model once, runs invocations by id with the local worker's code."""

    def __init__(self, state_dir: str, endpoint: str, lease_s: float) -> None:
        from prelabel.inference.predictor import Predictor
        from prelabel.service.models import load_model
        from prelabel.service.wake import announce
        from prelabel.service.worker import Worker

        self.store = Store(state_dir)
        spec = self.store.endpoint_spec(endpoint)
        if spec is None:
            raise RuntimeError(f"endpoint {endpoint} not found in {state_dir}")
        predictor = Predictor(load_model(spec["model"], spec["options"]), job=f"endpoint:{endpoint}")
        self.instance = f"{endpoint}-ray-{uuid.uuid4().hex[:8]}"
        self.lease_s = lease_s
        self.worker = Worker(
            self.store,
            spec,
            self.instance,
            predictor,
            lease_s=lease_s,
            # heard when the replica runs on the server's host
            announce=lambda iid, notice: announce(state_dir, [iid], notice),
            chain=False,  # the dispatcher hands each invocation to a replica
        )

    def _run(self, inference_id: str) -> str:
        lease = self.store.lease_one(inference_id, self.instance, self.lease_s)
        if lease is None:
            return "skipped"
        self.worker.process(lease)
        row = self.store.invocation(inference_id)
        return "unknown" if row is None else str(row["state"])

    async def __call__(self, inference_id: str) -> str:
        return await asyncio.to_thread(self._run, inference_id)


class RayServeBackend:
    def __init__(
        self,
        store: Store,
        *,
        lease_s: float = 30.0,
        poll_s: float = 0.2,
        num_cpus: int | None = None,
        address: str | None = None,
    ) -> None:
        self.store = store
        self.address = address
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.num_cpus = num_cpus
        self.cluster: Any = None
        self.handles: dict[str, Any] = {}
        self.pending: dict[str, Any] = {}  # inference id -> DeploymentResponse
        self.replica_counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- Ray and Serve
    def _ensure_started(self) -> None:
        if self.cluster is not None:
            return
        import ray
        from ray import serve

        if not ray.is_initialized() and self.address:
            from prelabel.raycluster import connect

            connect(self.address)
            self.cluster = "external"
        elif not ray.is_initialized():
            from prelabel.raycluster import start_local_ray

            self.cluster = start_local_ray(num_cpus=self.num_cpus)
        else:
            self.cluster = "external"
        serve.start(proxy_location="Disabled")
        self._thread = threading.Thread(target=self._loop, name="prelabel-ray-dispatch", daemon=True)
        self._thread.start()

    def deploy(self, endpoint: str) -> None:
        from ray import serve

        spec = self.store.endpoint_spec(endpoint)
        if spec is None:
            raise KeyError(endpoint)
        self._ensure_started()
        policy = ScalingPolicy.model_validate(spec["policy"])
        config = ray_autoscaling_config(policy)
        factory: Any = serve.deployment(EndpointReplica)
        deployment = factory.options(
            name=endpoint,
            autoscaling_config=config,
            max_ongoing_requests=int(spec["max_concurrency"]),
            ray_actor_options={"num_cpus": REPLICA_CPUS},
        )
        app = deployment.bind(str(self.store.state_dir), endpoint, self.lease_s)
        handle = serve.run(app, name=APP_PREFIX + endpoint, route_prefix=None, blocking=False)
        with self._lock:
            self.handles[endpoint] = handle
            self.replica_counts[endpoint] = 0
        self.store.log_scaling(
            endpoint, 0, policy.min_instances, self.store.backlog(endpoint), "hold",
            f"deployed on Ray Serve with autoscaling_config {json.dumps(config)}",
        )  # fmt: skip
        log.info("endpoint %s deployed on Ray Serve: %s", endpoint, config)

    def restore(self) -> None:
        """Deploy again the Ray endpoints a previous run of the service created (their backlog then runs)."""
        for name in self.store.endpoints_in_service("ray"):
            self.deploy(name)

    def delete(self, endpoint: str) -> None:
        from ray import serve

        with self._lock:
            self.handles.pop(endpoint, None)
            self.replica_counts.pop(endpoint, None)
        serve.delete(APP_PREFIX + endpoint)

    def replicas(self, endpoint: str) -> int:
        with self._lock:
            return self.replica_counts.get(endpoint, 0)

    def submit(self, endpoint: str, inference_id: str) -> None:
        """Nothing to do at once: the dispatcher picks queued invocations up within ``poll_s``."""

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.cluster is None:
            return
        from ray import serve

        try:
            serve.shutdown()
        finally:
            if self.cluster != "external":
                from prelabel.raycluster import shutdown

                shutdown(self.cluster)
            self.cluster = None

    # ---- dispatcher
    def _running_replicas(self, endpoint: str) -> int:
        from ray import serve

        app = serve.status().applications.get(APP_PREFIX + endpoint)
        if app is None or endpoint not in app.deployments:
            return 0
        states = app.deployments[endpoint].replica_states
        return int(sum(n for s, n in states.items() if str(getattr(s, "value", s)) == "RUNNING"))

    def _loop(self) -> None:
        last_status = 0.0
        while not self._stop.is_set():
            try:
                self._dispatch()
                if time.monotonic() - last_status > 1.0:
                    self._observe_replicas()
                    last_status = time.monotonic()
            except Exception:
                log.exception("ray dispatcher pass failed")
            self._stop.wait(self.poll_s)

    def _dispatch(self) -> None:
        for iid in list(self.pending):
            try:
                self.pending[iid].result(timeout_s=0)
            except TimeoutError:
                continue
            except Exception as e:  # the replica raised or died: the invocation is dispatched again if still open
                log.warning("invocation %s on Ray Serve: %s: %s", iid, type(e).__name__, e)
            del self.pending[iid]
        with self._lock:
            handles = dict(self.handles)
        for endpoint, handle in handles.items():
            for iid in self.store.runnable_ids(endpoint):
                if iid not in self.pending:
                    self.pending[iid] = handle.remote(iid)

    def _observe_replicas(self) -> None:
        with self._lock:
            endpoints = list(self.handles)
        for endpoint in endpoints:
            n = self._running_replicas(endpoint)
            with self._lock:
                before = self.replica_counts.get(endpoint, 0)
                self.replica_counts[endpoint] = n
            if n != before:
                action = "scale_out" if n > before else "scale_in"
                self.store.log_scaling(
                    endpoint, before, n, self.store.backlog(endpoint), action, f"Ray Serve autoscaler: {before} -> {n}"
                )
                log.info("endpoint %s on Ray Serve: %d -> %d replicas", endpoint, before, n)
