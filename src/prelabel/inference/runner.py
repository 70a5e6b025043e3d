"""The local batch runner: decode ahead on a thread, infer, append each record as it is done, report progress."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from prelabel.core.labels import Frame, FrameRecord
from prelabel.errors import PrelabelError
from prelabel.inference.predictor import Predictor
from prelabel.labelfile import LabelWriter


@dataclass
class RunSummary:
    frames: int = 0
    labelled: int = 0
    failed: int = 0
    labels_per_class: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def labels(self) -> int:
        return sum(self.labels_per_class.values())

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def add(self, record: FrameRecord) -> None:
        self.frames += 1
        if record.status == "failed":
            self.failed += 1
            self.failures.append((record.frame.id, record.error or ""))
        else:
            self.labelled += 1
            self.labels_per_class.update(label.category for label in record.labels)


Decoded = tuple[Frame, npt.NDArray[np.uint8] | None, str | None]


def _decode_ahead(predictor: Predictor, frames: Iterable[Frame], depth: int = 4) -> Iterator[Decoded]:
    """Decode up to ``depth`` frames ahead of inference on a background thread (cv2 releases the GIL)."""

    def load(frame: Frame) -> Decoded:
        try:
            return frame, predictor.loader(frame), None
        except PrelabelError as e:
            return frame, None, str(e)
        except Exception as e:
            return frame, None, f"{type(e).__name__}: {e}"

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prelabel-decode") as pool:
        pending: list[Future[Decoded]] = []
        it = iter(frames)
        for frame in it:
            pending.append(pool.submit(load, frame))
            if len(pending) >= depth:
                break
        while pending:
            done = pending.pop(0).result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(load, nxt))
            yield done


def run(
    predictor: Predictor,
    frames: Sequence[Frame],
    writer: LabelWriter,
    *,
    on_record: Callable[[FrameRecord], None] | None = None,
) -> RunSummary:
    """Label every frame, writing each record as soon as it exists. Bad frames become failed records."""
    summary = RunSummary()
    start = time.perf_counter()
    for frame, image, error in _decode_ahead(predictor, frames):
        if image is None:
            record = FrameRecord(frame=frame, status="failed", error=error, job=predictor.job)
        else:
            try:
                record = predictor.predict_image(frame, image)
            except Exception as e:
                record = FrameRecord(
                    frame=frame,
                    status="failed",
                    error=f"inference failed: {type(e).__name__}: {e}",
                    job=predictor.job,
                )
        writer.write(record)
        summary.add(record)
        if on_record:
            on_record(record)
    writer.flush()
    summary.seconds = time.perf_counter() - start
    return summary
