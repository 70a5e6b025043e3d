"""Per-class score thresholds that keep auto-accepted machine labels at a target precision.

Calibration needs a human-verified slice: ground truth for some frames, or a finished review job's labels.

- **Ground truth**: each machine label on a verified frame is correct when it matches a ground-truth object at IoU
  >= ``iou`` (COCO matching, best score first, one object per label; labels on ignore regions don't count).
- **Review answers**: labels carrying review states, with the machine label's id: ``accepted`` is correct,
  ``rejected`` is wrong, ``adjusted`` is correct only when the adjusted box still overlaps the machine box at IoU
  >= ``iou`` (the person only nudged it); ``pending`` labels were not verified and are left out.

For each class the verified labels are sorted by score; the threshold is the lowest score at which the labels
scoring at least that much reach the target precision, with at least ``min_support`` of them (so three lucky
labels do not set a threshold). A class without such a point gets no threshold: all its labels go to people.
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from prelabel.core.geometry.boxes2d import overlap
from prelabel.core.labels import FrameRecord, ReviewState
from prelabel.errors import FormatError, PrelabelError
from prelabel.quality.evaluate import EvalConfig, evaluate


@dataclass
class Sample:
    """One machine label with its human verdict."""

    frame_id: str
    label_id: str
    category: str
    score: float
    correct: bool


@dataclass
class ClassThreshold:
    threshold: float | None  # auto-accept labels scored >= this; None: never
    precision: float | None  # precision of the verified labels at/above the threshold
    recall: float | None  # share of the verified correct labels at/above the threshold
    support: int  # verified labels at/above the threshold
    verified: int  # verified labels of this class
    correct: int  # of which correct


@dataclass
class Thresholds:
    target_precision: float
    iou: float
    min_support: int
    classes: dict[str, ClassThreshold] = field(default_factory=dict)
    verified_frames: list[str] = field(default_factory=list)

    def threshold(self, category: str) -> float | None:
        c = self.classes.get(category)
        return None if c is None else c.threshold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | Path) -> None:
        from prelabel import storage

        storage.write_text(str(path), json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> Thresholds:
        p = Path(path)
        try:
            raw = json.loads(p.read_text("utf-8"))
            return cls(
                target_precision=float(raw["target_precision"]),
                iou=float(raw["iou"]),
                min_support=int(raw["min_support"]),
                classes={k: ClassThreshold(**v) for k, v in raw["classes"].items()},
                verified_frames=list(raw.get("verified_frames", [])),
            )
        except FileNotFoundError:
            from prelabel.errors import InputNotFoundError

            raise InputNotFoundError(str(p), what="thresholds file") from None
        except (ValueError, KeyError, TypeError) as e:
            raise FormatError(str(p), f"not a thresholds file written by 'prelabel calibrate': {e}") from e


def samples_from_ground_truth(
    predictions: Iterable[FrameRecord],
    ground_truth: Sequence[FrameRecord],
    config: EvalConfig | None = None,
    iou: float = 0.5,
) -> list[Sample]:
    """Verdicts for the machine labels on the ground-truth frames (other frames are skipped)."""
    preds = [p for p in predictions if p.status == "ok"]
    cfg = replace(config or EvalConfig(), iou_thresholds=(iou,))
    with warnings.catch_warnings():  # predicted frames outside the verified slice are expected here
        warnings.simplefilter("ignore")
        res = evaluate(preds, ground_truth, cfg)
    out: list[Sample] = []
    for rec in preds:
        for lab in rec.labels:
            verdict = res.outcomes.get((rec.frame.id, lab.id))
            if verdict is None:  # ignored, unmapped or not evaluated: no evidence either way
                continue
            out.append(Sample(rec.frame.id, lab.id, lab.category, 1.0 if lab.score is None else lab.score, verdict))
    return out


def samples_from_review(
    predictions: Iterable[FrameRecord], reviewed: Iterable[FrameRecord], iou: float = 0.5
) -> list[Sample]:
    """Verdicts from a finished review job: its labels keep the machine labels' ids and carry review states."""
    answers = {(r.frame.id, lab.id): lab for r in reviewed for lab in r.labels}
    out: list[Sample] = []
    for rec in predictions:
        for lab in rec.labels:
            ans = answers.get((rec.frame.id, lab.id))
            if ans is None or ans.review == ReviewState.PENDING:
                continue
            if ans.review == ReviewState.ACCEPTED:
                ok = True
            elif ans.review == ReviewState.REJECTED:
                ok = False
            else:  # adjusted: fine if the person only nudged the box
                ok = (
                    lab.box is not None
                    and ans.box is not None
                    and ans.category == lab.category
                    and float(overlap(np.array([lab.box.xyxy]), np.array([ans.box.xyxy]))[0, 0]) >= iou
                )
            out.append(Sample(rec.frame.id, lab.id, lab.category, 1.0 if lab.score is None else lab.score, ok))
    return out


def is_review_answer_set(predictions: Iterable[FrameRecord], verified: Iterable[FrameRecord]) -> bool:
    """True when ``verified`` holds review answers (machine label ids with non-pending states), not ground truth."""
    pred_ids = {lab.id for r in predictions for lab in r.labels}
    for r in verified:
        for lab in r.labels:
            if lab.id in pred_ids and lab.review != ReviewState.PENDING:
                return True
    return False


def answered_frames(answers: Iterable[FrameRecord], review_mode: bool) -> set[str]:
    """Frames people have answered: every ground-truth frame; in a review export, frames with a non-pending label."""
    if not review_mode:
        return {r.frame.id for r in answers}
    return {r.frame.id for r in answers if any(lab.review != ReviewState.PENDING for lab in r.labels)}


def calibrate(
    samples: Sequence[Sample],
    *,
    target_precision: float = 0.95,
    min_support: int = 10,
    iou: float = 0.5,
) -> Thresholds:
    """Per-class thresholds for ``target_precision`` from verified samples (see the module docstring)."""
    if not 0.0 < target_precision <= 1.0:
        raise PrelabelError(f"target precision must be in (0, 1]; got {target_precision}")
    if min_support < 1:
        raise PrelabelError(f"min support must be >= 1; got {min_support}")
    by_class: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_class[s.category].append(s)
    out = Thresholds(target_precision, iou, min_support, verified_frames=sorted({s.frame_id for s in samples}))
    for cat in sorted(by_class):
        items = by_class[cat]
        scores = np.array([s.score for s in items], dtype=np.float64)
        ok = np.array([s.correct for s in items], dtype=bool)
        order = np.argsort(-scores, kind="stable")
        scores, ok = scores[order], ok[order]
        tp = np.cumsum(ok)
        k = np.arange(1, len(ok) + 1)
        prec = tp / k
        # a cut is only possible between different scores: use the last index of each run of equal scores
        last_of_tie = np.r_[scores[1:] != scores[:-1], True]
        good = np.flatnonzero((prec >= target_precision) & (k >= min_support) & last_of_tie)
        n_ok = int(ok.sum())
        if len(good):
            i = int(good[-1])
            out.classes[cat] = ClassThreshold(
                threshold=float(scores[i]),
                precision=float(prec[i]),
                recall=float(tp[i] / n_ok) if n_ok else None,
                support=int(k[i]),
                verified=len(items),
                correct=n_ok,
            )
        else:
            out.classes[cat] = ClassThreshold(None, None, 0.0 if n_ok else None, 0, len(items), n_ok)
    return out
