"""Several workers' answers on one frame become one answer.

Boxes (adjust jobs), the way Ground Truth consolidates bounding boxes: each worker's boxes are matched to the
clusters formed so far by IoU (one box per worker per cluster, best IoU first, at least ``iou_threshold``);
unmatched boxes start clusters. A cluster that at least half of the workers drew survives; its box is the mean of
its members, its class the majority vote (ties go to the pre-label's class, then to the first answer), its
confidence the share of workers who drew it times the members' mean IoU with the mean box. A cluster keeps the
pre-label id most of its members carried, so edits merge back by label id.

Verdicts (verify jobs): per label, the majority of good/bad; a tie counts as bad. Confidence is the share that
agreed with the outcome.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from prelabel.core.geometry.boxes2d import greedy_cluster, overlap

IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class WorkerBox:
    worker: str
    category: str
    xyxy: tuple[float, float, float, float]
    id: str | None = None  # the pre-label this box came from; None for a box the worker drew


@dataclass
class Cluster:
    members: list[WorkerBox] = field(default_factory=list)
    xyxy: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    category: str = ""
    id: str | None = None
    confidence: float = 0.0

    @property
    def workers(self) -> list[str]:
        return sorted({m.worker for m in self.members})

    def mean(self) -> tuple[float, float, float, float]:
        a = np.mean(np.asarray([m.xyxy for m in self.members], dtype=np.float64), axis=0)
        return (float(a[0]), float(a[1]), float(a[2]), float(a[3]))


def consolidate_boxes(
    answers: Sequence[Sequence[WorkerBox]],
    *,
    iou_threshold: float = IOU_THRESHOLD,
    prelabel_categories: dict[str, str] | None = None,
) -> list[Cluster]:
    """One list of boxes per worker in, the consolidated boxes out (in the order their clusters formed)."""
    n_workers = len(answers)
    if n_workers == 0:
        return []
    flat = [b for boxes in answers for b in boxes]
    batch = [w for w, boxes in enumerate(answers) for _ in boxes]
    # each worker is one batch: one box per worker per cluster, matched best IoU first to the clusters' mean boxes
    found = greedy_cluster(
        np.asarray([b.xyxy for b in flat], dtype=np.float64).reshape(-1, 4),
        np.ones(len(flat)),
        iou_threshold=iou_threshold,
        batches=np.asarray(batch, dtype=np.int64),
        inclusive=True,
    )
    clusters = [Cluster(members=[flat[i] for i in m]) for m in found.members]

    kept = [c for c in clusters if 2 * len(c.workers) >= n_workers]
    cats = prelabel_categories or {}
    for c in kept:
        c.xyxy = c.mean()
        ids = Counter(m.id for m in c.members if m.id is not None)
        c.id = ids.most_common(1)[0][0] if ids and 2 * ids.most_common(1)[0][1] >= len(c.members) else None
        votes = Counter(m.category for m in c.members)
        top = max(votes.values())
        tied = [cat for cat in votes if votes[cat] == top]
        preferred = cats.get(c.id) if c.id else None
        c.category = preferred if preferred in tied else next(m.category for m in c.members if m.category in tied)
        agree = float(np.mean(overlap(np.asarray([m.xyxy for m in c.members]), np.asarray([c.xyxy]))))
        c.confidence = round(len(c.workers) / n_workers * agree, 4)
    # one pre-label id per cluster: the best-supported cluster keeps a contested id
    owner: dict[str, Cluster] = {}
    for c in sorted(kept, key=lambda c: (-len(c.members), -c.confidence)):
        if c.id is None:
            continue
        if c.id in owner:
            c.id = None
        else:
            owner[c.id] = c
    return kept


@dataclass(frozen=True)
class Verdict:
    id: str
    verdict: str  # "good" | "bad"
    confidence: float
    votes: dict[str, int]
    comments: list[dict[str, str]]


def consolidate_verdicts(answers: Sequence[tuple[str, Sequence[dict[str, str]]]]) -> dict[str, Verdict]:
    """``answers``: (worker, [{id, verdict, comment}, ...]) per worker. Majority per label; a tie is bad."""
    votes: dict[str, Counter[str]] = {}
    comments: dict[str, list[dict[str, str]]] = {}
    for worker, verdicts in answers:
        for v in verdicts:
            votes.setdefault(v["id"], Counter())[v["verdict"]] += 1
            if v.get("comment"):
                comments.setdefault(v["id"], []).append({"worker": worker, "comment": v["comment"]})
    out = {}
    for lid, c in votes.items():
        good, bad = c.get("good", 0), c.get("bad", 0)
        verdict = "good" if good > bad else "bad"
        out[lid] = Verdict(
            id=lid,
            verdict=verdict,
            confidence=round(max(good, bad) / (good + bad), 4),
            votes={"good": good, "bad": bad},
            comments=comments.get(lid, []),
        )
    return out
