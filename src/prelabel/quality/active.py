"""The active-learning round, as Ground Truth runs it, with what runs here.

Each round: (1) recalibrate the per-class thresholds from every human answer so far; (2) re-route the frames people
have not labelled: confident labels are auto-accepted, the rest wait; (3) choose the next batch of waiting frames for
people (most uncertain, one per scene). When people have answered that batch, the next round starts. Frames that
people labelled are final (their answers replace the machine labels); frames whose every label is auto-accepted are
final too.

:func:`active_round` is one round. :func:`simulate` runs rounds with ground truth standing in for the people and
measures the real precision of what was auto-accepted, next to what calibration expected.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prelabel.core.labels import Frame, FrameRecord
from prelabel.quality.calibration import (
    Thresholds,
    answered_frames,
    calibrate,
    is_review_answer_set,
    samples_from_ground_truth,
    samples_from_review,
)
from prelabel.quality.evaluate import EvalConfig
from prelabel.quality.routing import RouteResult, route
from prelabel.quality.selection import DEFAULT_MAX_DISTANCE, select_frames


@dataclass
class ActiveRound:
    thresholds: Thresholds
    routing: RouteResult  # the frames people have not labelled, split
    next_batch: list[str]  # frame ids to send to people next
    human_frames: list[str]  # frames people have answered so far


def active_round(
    predictions: Sequence[FrameRecord],
    human_answers: Sequence[FrameRecord],
    *,
    batch_size: int,
    target_precision: float = 0.95,
    min_support: int = 10,
    iou: float = 0.5,
    eval_config: EvalConfig | None = None,
    drop_below: float = 0.0,
    hasher: Callable[[Frame], int] | None = None,
    max_distance: float = DEFAULT_MAX_DISTANCE,
) -> ActiveRound:
    """One round: recalibrate from ``human_answers`` (ground-truth-like labels or review answers), re-route the
    rest, pick the next ``batch_size`` frames for people."""
    review_mode = is_review_answer_set(predictions, human_answers)
    human_ids = answered_frames(human_answers, review_mode)
    if review_mode:
        samples = samples_from_review(predictions, human_answers, iou)
    else:
        samples = samples_from_ground_truth(predictions, list(human_answers), eval_config, iou)
    thresholds = calibrate(samples, target_precision=target_precision, min_support=min_support, iou=iou)
    remaining = [p for p in predictions if p.frame.id not in human_ids]
    routing = route(remaining, thresholds, drop_below=drop_below)
    waiting = {r.frame.id for r in routing.review}
    candidates = [p for p in remaining if p.frame.id in waiting]
    sel = select_frames(candidates, batch_size, hasher=hasher, max_distance=max_distance)
    return ActiveRound(thresholds, routing, sel.frames, sorted(human_ids))


@dataclass
class RoundStats:
    round: int
    human_frames: int  # frames people have labelled before this round's batch
    auto_frames: int  # frames final without people (every label auto-accepted)
    waiting_frames: int  # frames still needing people
    labels_auto: int
    expected_precision: float | None
    measured_precision: float | None  # of the auto-accepted labels, checked against ground truth
    thresholds: dict[str, float | None] = field(default_factory=dict)
    next_batch: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def simulate(
    predictions: Sequence[FrameRecord],
    ground_truth: Sequence[FrameRecord],
    *,
    initial: int,
    batch_size: int,
    rounds: int,
    eval_config: EvalConfig | None = None,
    hasher: Callable[[Frame], int] | None = None,
    **kwargs: Any,
) -> list[RoundStats]:
    """Active-learning rounds with ``ground_truth`` as the people's answers. The first ``initial`` frames for
    people are chosen for diversity alone; each round's batch is then answered from the ground truth."""
    gt_by_id = {g.frame.id: g for g in ground_truth}
    first = select_frames([p.frame for p in predictions], initial, hasher=hasher).frames
    human = [gt_by_id[f] for f in first if f in gt_by_id]
    stats: list[RoundStats] = []
    for n in range(rounds):
        rd = active_round(predictions, human, batch_size=batch_size, eval_config=eval_config, hasher=hasher, **kwargs)
        auto_ids = {r.frame.id for r in rd.routing.accepted} - {r.frame.id for r in rd.routing.review}
        judged = [r for r in rd.routing.accepted if r.labels]
        measured = None
        if judged:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                checks = samples_from_ground_truth(
                    judged,
                    [gt_by_id[r.frame.id] for r in judged if r.frame.id in gt_by_id],
                    eval_config,
                    rd.thresholds.iou,
                )
            if checks:
                measured = sum(c.correct for c in checks) / len(checks)
        stats.append(
            RoundStats(
                round=n + 1,
                human_frames=len(rd.human_frames),
                auto_frames=len(auto_ids),
                waiting_frames=len(rd.routing.review),
                labels_auto=rd.routing.labels_auto,
                expected_precision=rd.routing.expected_precision,
                measured_precision=measured,
                thresholds={k: v.threshold for k, v in rd.thresholds.classes.items()},
                next_batch=rd.next_batch,
            )
        )
        if not rd.next_batch:
            break
        human += [gt_by_id[f] for f in rd.next_batch if f in gt_by_id]
    return stats
