"""Split a label set with calibrated thresholds: auto-accepted labels, and what goes to people.

A label scored at or above its class's threshold is auto-accepted (``attributes["route"] = "auto"``); the rest go
to review (``"review"``). A frame goes to people when it has at least one label to review, or when the model failed
on it. Expected precision and recall of the auto-accepted labels come from the calibration slice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.labels import FrameRecord, updated
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


def decide(
    ls: LabelSet, thresholds: Thresholds, *, drop_below: float = 0.0
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Routing decisions of one frame's labels: the rows kept (scored at or above ``drop_below``) and, for each,
    whether it is auto-accepted (no score, i.e. a person's, or at or above its class's threshold)."""
    return _decide(ls.scores, ls.class_codes, ls.categories, thresholds, drop_below)


def _decide(
    scores: npt.NDArray[np.float64],
    codes: npt.NDArray[np.int32],
    categories: Sequence[str],
    thresholds: Thresholds,
    drop_below: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    score = np.where(np.isnan(scores), 1.0, scores)
    kept = np.flatnonzero(score >= drop_below)
    cat_thr = np.asarray([_threshold(thresholds, c) for c in categories], dtype=np.float64)
    thr = cat_thr[codes[kept]] if len(cat_thr) else np.zeros(0)
    is_auto = np.isnan(scores[kept]) | (~np.isnan(thr) & (score[kept] >= np.nan_to_num(thr, nan=np.inf)))
    return kept, is_auto


def _threshold(thresholds: Thresholds, category: str) -> float:
    ct = thresholds.classes.get(category)
    return np.nan if ct is None or ct.threshold is None else ct.threshold


def _count(
    per_class: dict[str, ClassRoute],
    codes_all: npt.NDArray[np.int32],
    categories: Sequence[str],
    kept: npt.NDArray[np.int64],
    is_auto: npt.NDArray[np.bool_],
    thresholds: Thresholds,
) -> None:
    """Add one frame's decisions to the per-class counts (a class enters at its first kept label)."""
    n_cat = len(categories)
    codes = codes_all[kept]
    labels = np.bincount(codes, minlength=n_cat).tolist()
    auto = np.bincount(codes[is_auto], minlength=n_cat).tolist()
    for code, cat in enumerate(categories):
        if not labels[code]:
            continue
        cr = per_class.get(cat)
        if cr is None:
            cr = per_class[cat] = _class_route(thresholds, cat)
        cr.labels += labels[code]
        cr.auto += auto[code]
        cr.review += labels[code] - auto[code]


def _class_route(thresholds: Thresholds, category: str) -> ClassRoute:
    ct = thresholds.classes.get(category)
    return ClassRoute(
        threshold=None if ct is None else ct.threshold,
        expected_precision=None if ct is None else ct.precision,
        expected_recall=None if ct is None else ct.recall,
    )


def route_sets(sets: Iterable[LabelSet], thresholds: Thresholds, *, drop_below: float = 0.0) -> dict[str, ClassRoute]:
    """The label-set path of :func:`route`: decisions and per-class counts of label sets already in columns
    (use :func:`decide` per frame for the rows); no records are made."""
    per_class: dict[str, ClassRoute] = {}
    for ls in sets:
        kept, is_auto = decide(ls, thresholds, drop_below=drop_below)
        _count(per_class, ls.class_codes, ls.categories, kept, is_auto, thresholds)
    return per_class


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
        # records in and out: one pass over the labels (columns cost more than they save on records)
        auto, todo = [], []
        for lab in rec.labels:
            score = 1.0 if lab.score is None else lab.score
            if score < drop_below:
                continue
            cr = per_class.get(lab.category)
            if cr is None:
                cr = per_class[lab.category] = _class_route(thresholds, lab.category)
            cr.labels += 1
            if lab.score is None or (cr.threshold is not None and score >= cr.threshold):
                cr.auto += 1
                auto.append(updated(lab, {"attributes": {**lab.attributes, "route": "auto"}}))
            else:
                cr.review += 1
                todo.append(updated(lab, {"attributes": {**lab.attributes, "route": "review"}}))
        accepted.append(rec.model_copy(update={"labels": auto}))
        if todo:
            review.append(rec.model_copy(update={"labels": todo}))
    return RouteResult(accepted, review, per_class, frames, len(review), failed)
