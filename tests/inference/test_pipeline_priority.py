"""The pipeline's reading and decoding threads yield the CPU to inference (a lower per-thread priority on Linux)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from prelabel.core.detections import Detections
from prelabel.core.labels import Frame, FrameRecord
from prelabel.inference.pipeline import PipelineOptions, lower_thread_priority, run_pipeline
from prelabel.inference.predictor import Predictor
from prelabel.models.base import Detector

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")


def nice_of(native_id: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, native_id)


class PriorityWatch:
    """The real detector, noting the priority of the pipeline's threads each time it runs."""

    def __init__(self, inner: Detector) -> None:
        self.inner = inner
        self.model_id, self.version, self.classes = inner.model_id, inner.version, inner.classes
        self.seen: dict[str, int] = {}

    @property
    def source(self) -> str:
        return self.inner.source

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        for t in threading.enumerate():
            if t.native_id and t.name.startswith(("prelabel-read", "prelabel-decode", "prelabel-infer")):
                self.seen[t.name.rstrip("_0123456789")] = nice_of(t.native_id)
        return self.inner.detect(image)


def test_lower_thread_priority_changes_only_the_calling_thread() -> None:
    base = nice_of(threading.get_native_id())
    seen: list[int] = []

    def work() -> None:
        lower_thread_priority(3)
        seen.append(nice_of(threading.get_native_id()))

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen == [min(19, base + 3)]
    assert nice_of(threading.get_native_id()) == base  # the caller (and so inference) keeps its priority


@pytest.mark.parametrize("steps", [5, 0])
def test_decoding_runs_below_inference(ssd: Detector, kitti: Path, steps: int) -> None:
    base = nice_of(threading.get_native_id())
    watch = PriorityWatch(ssd)
    predictor = Predictor(watch, job="priority")
    items = [(i, Frame(id=f"{i:06d}", uri=str(kitti / "image_2" / f"{i:06d}.png"))) for i in range(4)]
    got: list[tuple[int, FrameRecord]] = []
    summary = run_pipeline(predictor, items, got.extend, options=PipelineOptions(decode_nice=steps))
    assert summary.labelled == 4 and sorted(s for s, _ in got) == [0, 1, 2, 3]
    want: dict[str, Any] = {"prelabel-read": min(19, base + steps), "prelabel-decode": min(19, base + steps)}
    assert watch.seen == {**want, "prelabel-infer": base}
