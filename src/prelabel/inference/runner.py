"""The summary of a labelling run: frames, labels per class, failures and time (jobs and executors fill it)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from prelabel.core.labels import FrameRecord


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
