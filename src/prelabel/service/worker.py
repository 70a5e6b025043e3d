"""One endpoint instance: a separate process that loads the model once and serves leased invocations.

Started by the supervisor as ``python -m prelabel.service.worker --state DIR --endpoint NAME --instance ID``.
It holds at most ``max_concurrent_invocations_per_instance`` invocations at a time (reading, decoding and writing
run concurrently; the model itself runs one image at a time), renews its leases while it works, puts each webhook
notice in the outbox with the final transition (the server delivers it),
and stops taking work when its instance is marked ``draining`` (scale-in, shutdown), when it gets SIGTERM, or
when the process that started it is gone; it then finishes what it holds and exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import PurePosixPath
from types import FrameType
from typing import Any

from prelabel import access
from prelabel.core.labels import Frame
from prelabel.errors import PrelabelError
from prelabel.inference.predictor import Predictor
from prelabel.service.delivery import error_document, write_once
from prelabel.service.models import load_model
from prelabel.service.store import Lease, Store

log = logging.getLogger("prelabel.service.worker")

# an invocation leased this many times without finishing (its worker died each time) is closed as failed
MAX_ATTEMPTS = 3


def frame_id(input_location: str) -> str:
    name = PurePosixPath(input_location.split("://", 1)[-1]).stem
    return name or "input"


class Worker:
    def __init__(
        self,
        store: Store,
        spec: dict[str, Any],
        instance: str,
        predictor: Predictor,
        *,
        lease_s: float = 30.0,
        poll_s: float = 0.1,
    ) -> None:
        self.store = store
        self.spec = spec
        self.endpoint = str(spec["name"])
        self.instance = instance
        self.predictor = predictor
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.max_concurrency = int(spec["max_concurrency"])
        self.model_lock = threading.Lock()
        self.stopping = threading.Event()
        det = predictor.detector
        self.model_name = f"{det.model_id}@{det.version}"

    # ---- one invocation
    def process(self, lease: Lease) -> None:
        try:
            self._process(lease)
        except Exception:  # never let one invocation kill the worker; the lease expires and it is retried
            log.exception("invocation %s: unexpected error", lease.id)

    def _process(self, lease: Lease) -> None:
        if lease.attempts > MAX_ATTEMPTS:
            self.fail(
                lease,
                f"gave up after {MAX_ATTEMPTS} attempts: the worker running it stopped each time",
                "WorkerCrashed",
            )
            return
        try:
            image_bytes = access.read_input(lease.input_location)  # under the roots, regular files, bounded
            from prelabel.sources.images import decode_image

            image = decode_image(image_bytes, lease.input_location)
        except PrelabelError as e:
            self.fail(lease, str(e), type(e).__name__)
            return
        except Exception as e:
            self.fail(lease, f"cannot read input {lease.input_location}: {type(e).__name__}: {e}", "InputError")
            return
        frame = Frame(
            id=str(lease.params.get("frame_id") or frame_id(lease.input_location)),
            uri=lease.input_location,
            meta={"inference_id": lease.id, "endpoint": self.endpoint, "model": self.model_name},
        )
        try:
            with self.model_lock:
                t_model = time.perf_counter()
                record = self.predictor.predict_image(frame, image)
                model_s = time.perf_counter() - t_model
        except Exception as e:
            self.fail(lease, f"model {self.model_name} failed: {type(e).__name__}: {e}", "ModelError")
            return
        det = self.predictor.detector
        record.frame.meta["model"] = f"{det.model_id}@{det.version}"  # an endpoint model learns it on its first call
        min_score = lease.params.get("min_score")
        if min_score is not None:
            record.labels = [lab for lab in record.labels if lab.score is None or lab.score >= float(min_score)]
        if not self.store.holds(lease.id, self.instance):
            log.warning("invocation %s: lease lost before writing; another instance runs it", lease.id)
            return
        created = write_once(lease.output_location, record.to_json().encode())
        if not created:
            log.info("invocation %s: output already written by an earlier attempt; kept", lease.id)
        notice = {
            "event": "success",
            "inference_id": lease.id,
            "endpoint": self.endpoint,
            "input_location": lease.input_location,
            "output_location": lease.output_location,
            "labels": len(record.labels),
        }
        # the notice goes into the outbox with the final transition; the server's outbox thread delivers it
        self.store.finish(
            lease.id, self.instance, ok=True, model_seconds=model_s, notice=(self.spec.get("success_webhook"), notice)
        )

    def fail(self, lease: Lease, error: str, error_type: str) -> None:
        if not self.store.holds(lease.id, self.instance):
            return
        doc = error_document(lease.id, self.endpoint, lease.input_location, error, error_type)
        write_once(lease.failure_location, doc)
        notice = {
            "event": "error",
            "inference_id": lease.id,
            "endpoint": self.endpoint,
            "input_location": lease.input_location,
            "failure_location": lease.failure_location,
            "error_type": error_type,
            "error": error,
        }
        if self.store.finish(
            lease.id, self.instance, ok=False, error=error, notice=(self.spec.get("error_webhook"), notice)
        ):
            log.info("invocation %s failed: %s", lease.id, error)

    # ---- the loop
    def should_stop(self, parent: int) -> bool:
        if self.stopping.is_set() or os.getppid() != parent:
            return True
        return self.store.instance_state(self.instance) not in ("starting", "ready")

    def run(self, parent: int) -> None:
        inflight: dict[str, Future[None]] = {}
        last_renew = time.monotonic()
        with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="invocation") as pool:
            while True:
                for done in [k for k, f in inflight.items() if f.done()]:
                    del inflight[done]
                stop = self.should_stop(parent)
                if stop and not inflight:
                    break
                leases: list[Lease] = []
                if not stop:
                    free = self.max_concurrency - len(inflight)
                    leases = self.store.lease(self.endpoint, self.instance, free, self.lease_s)
                    for lease in leases:
                        inflight[lease.id] = pool.submit(self.process, lease)
                if inflight and time.monotonic() - last_renew > self.lease_s / 3:
                    self.store.renew(list(inflight), self.instance, self.lease_s)
                    last_renew = time.monotonic()
                if inflight and (leases or len(inflight) >= self.max_concurrency):
                    wait(list(inflight.values()), timeout=self.poll_s, return_when=FIRST_COMPLETED)
                elif not leases:
                    time.sleep(self.poll_s)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="prelabel-worker", description=__doc__)
    ap.add_argument("--state", required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--instance", required=True)
    ap.add_argument("--lease-s", type=float, default=30.0)
    ap.add_argument("--poll-s", type=float, default=0.05)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parent = os.getppid()
    store = Store(args.state)
    spec = store.endpoint_spec(args.endpoint)
    if spec is None:
        store.set_instance(args.instance, "failed", error=f"endpoint {args.endpoint} not found")
        return 2
    try:
        predictor = Predictor(load_model(spec["model"], spec["options"]), job=f"endpoint:{args.endpoint}")
    except Exception as e:
        reason = f"model {spec['model']!r} could not be loaded: {type(e).__name__}: {e}"
        log.error(reason)
        store.set_instance(args.instance, "failed", error=reason)
        return 3
    worker = Worker(store, spec, args.instance, predictor, lease_s=args.lease_s, poll_s=args.poll_s)

    def _term(signum: int, frame: FrameType | None) -> None:
        worker.stopping.set()

    signal.signal(signal.SIGTERM, _term)
    if store.instance_state(args.instance) == "starting":
        store.set_instance(args.instance, "ready", pid=os.getpid())
    log.info("instance %s of %s ready (model %s)", args.instance, args.endpoint, worker.model_name)
    worker.run(parent)
    if store.instance_state(args.instance) in ("starting", "ready", "draining"):
        store.set_instance(args.instance, "stopped")
    log.info("instance %s stopped", args.instance)
    return 0


if __name__ == "__main__":
    sys.exit(main())
