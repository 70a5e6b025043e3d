"""Split a label set with calibrated thresholds: auto-accepted labels, and what goes to people.

A label scored at or above its class's threshold is auto-accepted (``attributes["route"] = "auto"``); the rest go
to review (``"review"``). A frame goes to people when it has at least one label to review, or when the model failed
on it. Expected precision and recall of the auto-accepted labels come from the calibration slice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prelabel.core.labels import FrameRecord
from prelabel.core.labelset import LabelSet
from prelabel.quality.calibration import Thresholds


@dataclass
class ClassRoute:
    labels: int = 0
    auto: int = 0
    review: int = 0
    threshold: float | None = None
    expected_precision: float | None = None
    expected_recall: float | None = None


@dataclass
class RouteResult:
    accepted: list[FrameRecord]  # every frame, with only its auto-accepted labels
    review: list[FrameRecord]  # frames that need people, with only the labels to review (failed frames as they are)
    per_class: dict[str, ClassRoute] = field(default_factory=dict)
    frames: int = 0
    frames_to_people: int = 0
    failed_frames: int = 0

    @property
    def labels_auto(self) -> int:
        return sum(c.auto for c in self.per_class.values())

    @property
    def labels_to_people(self) -> int:
        return sum(c.review for c in self.per_class.values())

    @property
    def expected_precision(self) -> float | None:
        """Auto-accepted labels' precision expected from the calibration slice (weighted by class counts)."""
        pairs = [(c.auto, c.expected_precision) for c in self.per_class.values() if c.auto and c.expected_precision]
        n = sum(a for a, _ in pairs)
        return sum(a * p for a, p in pairs) / n if n else None

    @property
    def expected_recall(self) -> float | None:
        """Share of the correct machine labels that are auto-accepted, expected from the slice."""
        pairs = [(c.labels, c.expected_recall) for c in self.per_class.values() if c.expected_recall is not None]
        n = sum(a for a, _ in pairs)
        return sum(a * (r or 0.0) for a, r in pairs) / n if n else None

    def summary(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "frames_to_people": self.frames_to_people,
            "failed_frames": self.failed_frames,
            "labels_auto": self.labels_auto,
            "labels_to_people": self.labels_to_people,
            "expected_precision": self.expected_precision,
            "expected_recall": self.expected_recall,
            "classes": {k: vars(v) for k, v in sorted(self.per_class.items())},
        }


def route(records: Iterable[FrameRecord], thresholds: Thresholds, *, drop_below: float = 0.0) -> RouteResult:
    """Split ``records`` by the per-class thresholds. Labels scored below ``drop_below`` are dropped entirely
    (counted nowhere); a label without a score (a human's) is auto-accepted."""
    accepted: list[FrameRecord] = []
    review: list[FrameRecord] = []
    per_class: dict[str, ClassRoute] = {}
    frames = failed = 0
    for rec in records:
        frames += 1
        if rec.status != "ok":
            failed += 1
            review.append(rec)
            accepted.append(rec.model_copy(update={"labels": []}))
            continue
        ls = LabelSet.from_labels(rec.labels)
        score = ls.scores_or(1.0)
        kept = np.flatnonzero(score >= drop_below)
        cat_thr = np.full(len(ls.categories), np.nan)
        for code, cat in enumerate(ls.categories):
            cr = per_class.get(cat)
            if cr is None and np.any(ls.class_codes[kept] == code):
                ct = thresholds.classes.get(cat)
                cr = per_class[cat] = ClassRoute(
                    threshold=None if ct is None else ct.threshold,
                    expected_precision=None if ct is None else ct.precision,
                    expected_recall=None if ct is None else ct.recall,
                )
            if cr is not None and cr.threshold is not None:
                cat_thr[code] = cr.threshold
        thr = cat_thr[ls.class_codes[kept]]
        # a label without a score (a person's) is auto-accepted; so is one at or above its class's threshold
        is_auto = np.isnan(ls.scores[kept]) | (~np.isnan(thr) & (score[kept] >= np.nan_to_num(thr, nan=np.inf)))
        auto, todo = [], []
        for i, a in zip(kept.tolist(), is_auto.tolist(), strict=True):
            lab = rec.labels[i]
            cr = per_class[lab.category]
            cr.labels += 1
            if a:
                cr.auto += 1
                auto.append(lab.model_copy(update={"attributes": {**lab.attributes, "route": "auto"}}))
            else:
                cr.review += 1
                todo.append(lab.model_copy(update={"attributes": {**lab.attributes, "route": "review"}}))
        accepted.append(rec.model_copy(update={"labels": auto}))
        if todo:
            review.append(rec.model_copy(update={"labels": todo}))
    return RouteResult(accepted, review, per_class, frames, len(review), failed)
