"""The bulk pipeline: reading, decoding and preparing, inference and writing overlap on threads joined by bounded
queues.

    items -> [reader thread: iter_decoded, image files on ``decode_workers`` threads; Predictor.prepare]
          -> queue(``ahead``) -> [inference thread: Predictor.predict_prepared] -> queue(``queue_size``)
          -> [caller's thread: results committed to the sink every ``commit_every`` records or ``commit_seconds``]

At most ``ahead`` prepared frames, the decode window and ``queue_size`` records exist at once, however many frames
the job has (a prepared frame of a tiled, fused preset holds a dozen network inputs, so ``ahead`` is small). A bad
frame becomes a failed record; the run goes on.

While it is ahead of inference (frames already wait in the queue), the reader also prepares each frame for the
model (the detector's ``prepare``: resize, letterbox, normalise into the network's layout; ``prelabel.models.base``),
so the inference thread only runs the model and its postprocessing; when inference is waiting for it (a busy
machine starving the lowered reader), the frame goes as decoded and the inference thread prepares it at its own
priority. Either way the records are the same (``prepare=False``: never on the reader).

Decoding and preparing compete with inference for the same cores (a KITTI PNG costs about 7 ms of CPU with
``prelabel.sources.png``, NanoDet about 70 ms of inference on 2 threads). The reading and decoding threads therefore
run ``decode_nice`` steps below the process's priority (Linux: a per-thread nice value): they take the cores
inference leaves idle between its parallel sections, and still get the CPU when inference waits for them.
``decode_workers=1`` is enough for one inference stream.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.labels import Frame, FrameRecord
from prelabel.inference.predictor import Predictor, PreparedFrame
from prelabel.inference.runner import RunSummary
from prelabel.sources.frames import iter_decoded

Sink = Callable[[list[tuple[int, FrameRecord]]], Any]

_END = object()


@dataclass
class PipelineOptions:
    decode_workers: int = 1
    queue_size: int = 8
    ahead: int = 4
    prepare: bool = True
    commit_every: int = 32
    commit_seconds: float = 1.0
    decode_nice: int = 5


def thread_nice() -> int | None:
    """The calling thread's nice value (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    except OSError:
        return None


def lower_thread_priority(steps: int, base: int | None = None) -> None:
    """Make the calling thread ``steps`` nice levels less urgent than ``base`` (default: its own; threads inherit
    their creator's value, so a pool started by a lowered thread passes the same ``base``). Linux only: elsewhere
    the call would renice the whole process. Never raises: priority is an optimisation."""
    current = thread_nice()
    if steps <= 0 or current is None:
        return
    target = min(19, (current if base is None else base) + steps)
    if target > current:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), target)


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.2)
            return True
        except queue.Full:
            continue
    return False


def run_pipeline(
    predictor: Predictor,
    items: Iterable[tuple[int, Frame]],
    sink: Sink,
    *,
    options: PipelineOptions | None = None,
    on_records: Callable[[list[FrameRecord]], None] | None = None,
) -> RunSummary:
    """Label ``(seq, frame)`` items; ``sink`` receives ``(seq, record)`` batches (e.g. :meth:`Job.complete`)."""
    opts = options or PipelineOptions()
    stop = threading.Event()
    decoded_q: queue.Queue[Any] = queue.Queue(maxsize=max(1, opts.ahead))
    record_q: queue.Queue[Any] = queue.Queue(maxsize=opts.queue_size)
    seq_of: dict[int, int] = {}
    lock = threading.Lock()

    def frames() -> Iterator[Frame]:
        for seq, frame in items:
            with lock:
                seq_of[id(frame)] = seq
            yield frame
            if stop.is_set():
                return

    base = thread_nice()

    def lower() -> None:
        lower_thread_priority(opts.decode_nice, base)

    def reader() -> None:
        lower()
        try:
            decoded = iter_decoded(frames(), workers=opts.decode_workers, initializer=lower)
            for frame, image, error in decoded:
                with lock:
                    seq = seq_of.pop(id(frame))
                ready: PreparedFrame | npt.NDArray[np.uint8] | None = image
                if image is not None and opts.prepare and not decoded_q.empty():
                    try:  # ahead of inference: prepare here; when it waits, it prepares at its own priority
                        ready = predictor.prepare(frame, image)
                    except Exception as e:  # as a model failure on the inference thread: recorded, the job goes on
                        ready, error = None, f"inference failed: {type(e).__name__}: {e}"
                del image
                if not _put(decoded_q, (seq, frame, ready, error), stop):
                    return
            _put(decoded_q, _END, stop)
        except BaseException as e:
            _put(decoded_q, _Failure(e), stop)

    def infer() -> None:
        try:
            while not stop.is_set():
                try:
                    item = decoded_q.get(timeout=0.2)
                except queue.Empty:
                    continue
                if item is _END or isinstance(item, _Failure):
                    _put(record_q, item, stop)
                    return
                seq, frame, ready, error = item
                if ready is None:
                    record = FrameRecord(frame=frame, status="failed", error=error, job=predictor.job)
                else:
                    try:
                        if isinstance(ready, PreparedFrame):
                            record = predictor.predict_prepared(ready)
                        else:
                            record = predictor.predict_image(frame, ready)
                    except Exception as e:  # one frame's model failure is recorded, the job goes on
                        record = FrameRecord(
                            frame=frame,
                            status="failed",
                            error=f"inference failed: {type(e).__name__}: {e}",
                            job=predictor.job,
                        )
                del ready
                if not _put(record_q, (seq, record), stop):
                    return
        except BaseException as e:
            _put(record_q, _Failure(e), stop)

    threads = [
        threading.Thread(target=reader, name="prelabel-read", daemon=True),
        threading.Thread(target=infer, name="prelabel-infer", daemon=True),
    ]
    summary = RunSummary()
    start = time.perf_counter()
    batch: list[tuple[int, FrameRecord]] = []
    last_commit = time.monotonic()

    def commit() -> None:
        nonlocal last_commit
        if batch:
            sink(list(batch))
            if on_records:
                on_records([r for _, r in batch])
            batch.clear()
        last_commit = time.monotonic()

    for t in threads:
        t.start()
    try:
        while True:
            try:
                item = record_q.get(timeout=0.2)
            except queue.Empty:
                if batch and time.monotonic() - last_commit >= opts.commit_seconds:
                    commit()
                continue
            if item is _END:
                break
            if isinstance(item, _Failure):
                raise item.exc
            seq, record = item
            batch.append((seq, record))
            summary.add(record)
            if len(summary.failures) > 1000:
                summary.failures.pop()
            if len(batch) >= opts.commit_every or time.monotonic() - last_commit >= opts.commit_seconds:
                commit()
        commit()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
    summary.seconds = time.perf_counter() - start
    return summary
