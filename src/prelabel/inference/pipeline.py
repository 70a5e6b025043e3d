"""The bulk pipeline: reading and decoding, inference and writing overlap on threads joined by bounded queues.

    items -> [reader thread: iter_decoded, image files on ``decode_workers`` threads] -> queue(``queue_size``)
          -> [inference thread: Predictor.predict_image] -> queue(``queue_size``)
          -> [caller's thread: results committed to the sink every ``commit_every`` records or ``commit_seconds``]

At most ``2 * queue_size`` decoded frames (plus the decode window) exist at once, however many frames the job has.
A bad frame becomes a failed record; the run goes on.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prelabel.core.labels import Frame, FrameRecord
from prelabel.inference.predictor import Predictor
from prelabel.inference.runner import RunSummary
from prelabel.sources.frames import iter_decoded

Sink = Callable[[list[tuple[int, FrameRecord]]], Any]

_END = object()


@dataclass
class PipelineOptions:
    decode_workers: int = 2
    queue_size: int = 8
    commit_every: int = 32
    commit_seconds: float = 1.0


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
    decoded_q: queue.Queue[Any] = queue.Queue(maxsize=opts.queue_size)
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

    def reader() -> None:
        try:
            for frame, image, error in iter_decoded(frames(), workers=opts.decode_workers):
                with lock:
                    seq = seq_of.pop(id(frame))
                if not _put(decoded_q, (seq, frame, image, error), stop):
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
                seq, frame, image, error = item
                if image is None:
                    record = FrameRecord(frame=frame, status="failed", error=error, job=predictor.job)
                else:
                    try:
                        record = predictor.predict_image(frame, image)
                    except Exception as e:  # one frame's model failure is recorded, the job goes on
                        record = FrameRecord(
                            frame=frame,
                            status="failed",
                            error=f"inference failed: {type(e).__name__}: {e}",
                            job=predictor.job,
                        )
                del image
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
