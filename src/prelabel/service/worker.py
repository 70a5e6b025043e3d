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
import hashlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import PurePosixPath
from types import FrameType
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel import access
from prelabel.core.labels import Frame
from prelabel.errors import PrelabelError
from prelabel.inference.predictor import Predictor
from prelabel.service.delivery import (
    OutputWriteError,
    error_document,
    foreign_error_document,
    foreign_output,
    write_once_bounded,
)
from prelabel.service.models import load_model
from prelabel.service.store import Lease, Store
from prelabel.service.wake import FALLBACK_POLL_S, WakeSocket, announce
from prelabel.sources.images import decode_image, header_size

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
        write_attempts: int = 3,
        write_backoff_s: float = 0.2,
        announce: Callable[[str, bool], None] | None = None,
        chain: bool = True,
    ) -> None:
        """``announce(inference_id, notice)``: called after an invocation's final state is committed (tells the
        API; ``notice``: a webhook notice went into the outbox with it);
        ``chain``: lease the next invocation with each final state (False where a dispatcher assigns work)."""
        self.store = store
        self.spec = spec
        self.endpoint = str(spec["name"])
        self.instance = instance
        self.predictor = predictor
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.write_attempts = write_attempts
        self.write_backoff_s = write_backoff_s
        self.max_concurrency = int(spec["max_concurrency"])
        self.announce = announce
        self.policy = access.from_env()  # the roots its server passed: read once, not per invocation
        self.model_lock = threading.Lock()
        self.held: dict[str, None] = {}  # the invocations this worker holds (renewed together)
        self._held_lock = threading.Lock()
        self._chained = threading.local()  # per invocation thread: the lease taken with the last final state
        self.chain = chain
        self.accepting = True  # False once draining: no more leases, also not chained ones
        self.stopping = threading.Event()
        self.encoded = predictor.takes_encoded  # no decode here: the model reads the input's bytes itself
        det = predictor.detector
        self.model_name = f"{det.model_id}@{det.version}"

    # ---- one invocation
    def process(self, lease: Lease) -> None:
        """Run ``lease``, then the invocations chained to it (leased in the same commit as the previous one's final
        state, while this worker takes work), in this thread."""
        current: Lease | None = lease
        while current is not None:
            self._chained.lease = None
            try:
                self._process(current)
            except Exception as e:  # never let one invocation kill the worker, and never leave it unfinished
                log.exception("invocation %s: unexpected error", current.id)
                try:
                    self.fail(current, f"internal error: {type(e).__name__}: {e}", "InternalError")
                except Exception:  # the store itself fails: the lease expires and MAX_ATTEMPTS bounds the retries
                    log.exception("invocation %s: cannot record the failure", current.id)
            with self._held_lock:
                self.held.pop(current.id, None)
            current = self._chained.lease

    def hold(self, leases: list[Lease]) -> None:
        with self._held_lock:
            for lease in leases:
                self.held[lease.id] = None

    def read_input(self, uri: str) -> bytes:
        """The input's bytes: only under the roots the server passed (any location without them), regular files
        only, at most ``max_input_bytes``."""
        if self.policy is None:
            return access.read_regular(uri)
        return self.policy.read_bytes(uri)

    def _finish(self, lease: Lease, **kw: Any) -> bool:
        """The final transition (once, for the lease owner) and, while this worker takes work, the lease of the
        next runnable invocation in the same commit; then the announcement to the API server."""
        chain = self.chain and self.accepting and not self.stopping.is_set()
        then = (self.endpoint, self.lease_s) if chain else None
        done, nxt = self.store.finish_and_lease(lease.id, self.instance, then_lease=then, **kw)
        if nxt is not None:
            self.hold([nxt])
            self._chained.lease = nxt
        if done and self.announce is not None:
            notice = kw.get("notice")
            self.announce(lease.id, bool(notice and notice[0]))
        return done

    def _write(self, lease: Lease, uri: str, data: bytes) -> bool:
        """A synchronous call's answer is read once by the server and removed, and the call is abandoned if the
        service restarts: it is not fsynced. Every other output and error document is, before its commit."""
        durable = not lease.params.get("sync")
        return write_once_bounded(
            uri, data, attempts=self.write_attempts, backoff_s=self.write_backoff_s, durable=durable
        )

    def _process(self, lease: Lease) -> None:
        if lease.attempts > MAX_ATTEMPTS:
            self.fail(
                lease,
                f"gave up after {MAX_ATTEMPTS} attempts: the worker running it stopped each time",
                "WorkerCrashed",
            )
            return
        image: npt.NDArray[np.uint8] | None = None
        try:
            image_bytes = self.read_input(lease.input_location)  # under the roots, bounded
            if self.encoded:  # the model decodes the bytes itself (or needs no pixels): only the header is read
                size = header_size(image_bytes, lease.input_location)
            else:
                image = decode_image(image_bytes, lease.input_location)  # refuses too many pixels from the header
        except PrelabelError as e:
            self.fail(lease, str(e), type(e).__name__)
            return
        except Exception as e:
            self.fail(lease, f"cannot read input {lease.input_location}: {type(e).__name__}: {e}", "InputError")
            return
        input_sha256 = hashlib.sha256(image_bytes).hexdigest()
        frame = Frame(
            id=str(lease.params.get("frame_id") or frame_id(lease.input_location)),
            uri=lease.input_location,
            meta={
                "inference_id": lease.id,
                "endpoint": self.endpoint,
                "model": self.model_name,
                "input_sha256": input_sha256,
            },
        )
        try:
            with self.model_lock:
                t_model = time.perf_counter()
                if image is None:
                    record = self.predictor.predict_encoded(frame, image_bytes, size)
                else:
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
        try:
            created = self._write(lease, lease.output_location, record.to_json().encode())
        except OutputWriteError as e:
            self.fail(lease, f"the output could not be written: {e}", "OutputWriteError")
            return
        if not created:  # ours from an earlier attempt (kept), or left by another state or input (refused)
            why = foreign_output(lease.output_location, lease.id, lease.input_location, input_sha256)
            if why is not None:
                self.fail(
                    lease,
                    f"output location {lease.output_location} already holds a result that is not this "
                    f"invocation's ({why}); it was left as it is: use another output_path or inference id, or "
                    "remove that file",
                    "OutputConflict",
                )
                return
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
        self._finish(lease, ok=True, model_seconds=model_s, notice=(self.spec.get("success_webhook"), notice))

    def fail(self, lease: Lease, error: str, error_type: str) -> None:
        """The invocation ends as failed: its error document (bounded attempts), then the final transition with
        the error webhook's notice. When the document cannot be written the invocation still fails, and its
        error (in the store, ``describe_invocation`` and the notice) says so."""
        if not self.store.holds(lease.id, self.instance):
            return
        doc = error_document(lease.id, self.endpoint, lease.input_location, error, error_type)
        try:
            if not self._write(lease, lease.failure_location, doc):
                why = foreign_error_document(lease.failure_location, lease.id, lease.input_location)
                if why is not None:
                    error += f"; no error document was written: {lease.failure_location} exists already ({why})"
        except OutputWriteError as e:
            error += f"; and the error document could not be written: {e}"
        notice = {
            "event": "error",
            "inference_id": lease.id,
            "endpoint": self.endpoint,
            "input_location": lease.input_location,
            "failure_location": lease.failure_location,
            "error_type": error_type,
            "error": error,
        }
        if self._finish(
            lease,
            ok=False,
            error=error,
            error_type=error_type,
            notice=(self.spec.get("error_webhook"), notice),
        ):
            log.info("invocation %s failed: %s", lease.id, error)

    # ---- the loop
    def should_stop(self, parent: int) -> bool:
        if self.stopping.is_set() or os.getppid() != parent:
            return True
        return self.store.instance_state(self.instance) not in ("starting", "ready")

    def run(self, parent: int, wake: WakeSocket | None = None) -> None:
        """Lease, run, renew, until told to stop. With ``wake`` the loop sleeps until poked (work queued, a slot
        freed, drain) or for the slow fallback poll; without it, it polls every ``poll_s``."""
        inflight: dict[int, Future[None]] = {}  # one per busy slot (a slot may run a chain of invocations)
        slot = 0
        last_renew = time.monotonic()
        idle_s = max(self.poll_s, FALLBACK_POLL_S) if wake is not None else self.poll_s
        with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="invocation") as pool:
            while True:
                for done in [k for k, f in inflight.items() if f.done()]:
                    del inflight[done]
                stop = self.should_stop(parent)
                self.accepting = not stop
                if stop and not inflight:
                    break
                leases: list[Lease] = []
                if not stop:
                    free = self.max_concurrency - len(inflight)
                    leases = self.store.lease(self.endpoint, self.instance, free, self.lease_s)
                    self.hold(leases)
                    for lease in leases:
                        fut = pool.submit(self.process, lease)
                        if wake is not None:
                            fut.add_done_callback(wake.poke)  # a slot is free: look for more work at once
                        slot += 1
                        inflight[slot] = fut
                if inflight and time.monotonic() - last_renew > self.lease_s / 3:
                    with self._held_lock:
                        held = list(self.held)
                    self.store.renew(held, self.instance, self.lease_s)
                    last_renew = time.monotonic()
                timeout = min(idle_s, self.lease_s / 3) if inflight else idle_s
                if wake is not None:
                    wake.wait(timeout)
                elif inflight and (leases or len(inflight) >= self.max_concurrency):
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
    ap.add_argument("--write-attempts", type=int, default=3)
    ap.add_argument("--no-wake", dest="wake", action="store_false", help="poll SQLite instead of waiting to be woken")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parent = os.getppid()
    store = Store(args.state)
    spec = store.endpoint_spec(args.endpoint)
    if spec is None:
        store.set_instance(args.instance, "failed", error=f"endpoint {args.endpoint} not found")
        return 2
    try:  # everything up to a working Worker is "the load": a failure here is a failed load, not a dead worker
        predictor = Predictor(load_model(spec["model"], spec["options"]), job=f"endpoint:{args.endpoint}")
        worker = Worker(
            store,
            spec,
            args.instance,
            predictor,
            lease_s=args.lease_s,
            poll_s=args.poll_s,
            write_attempts=args.write_attempts,
            announce=lambda iid, notice: announce(args.state, [iid], notice),
        )
    except Exception as e:
        reason = f"model {spec['model']!r} could not be loaded: {type(e).__name__}: {e}"
        log.error(reason)
        store.set_instance(args.instance, "failed", error=reason)
        return 3

    wake = WakeSocket.open(args.state, args.instance) if args.wake else None
    if wake is not None:
        worker.announce = wake.announce  # one socket for both directions

    def _term(signum: int, frame: FrameType | None) -> None:
        worker.stopping.set()
        if wake is not None:
            wake.poke()

    signal.signal(signal.SIGTERM, _term)
    if store.instance_state(args.instance) == "starting":
        store.set_instance(args.instance, "ready", pid=os.getpid())
    log.info(
        "instance %s of %s ready (model %s; %s)",
        args.instance,
        args.endpoint,
        worker.model_name,
        "woken when work arrives" if wake is not None else f"polling every {args.poll_s:g} s",
    )
    worker.run(parent, wake)
    if wake is not None:
        wake.close()
    if store.instance_state(args.instance) in ("starting", "ready", "draining"):
        store.set_instance(args.instance, "stopped")
    log.info("instance %s stopped", args.instance)
    return 0


if __name__ == "__main__":
    sys.exit(main())
