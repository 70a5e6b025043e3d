"""What a job's answers add up to, frame by frame: every pre-label accepted, adjusted or rejected, plus the boxes
workers added. Exports and quality figures are both made from this one view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prelabel.core.labels import Box2D, FrameRecord, Label, ReviewState, make_label_id
from prelabel.review.consolidate import WorkerBox, consolidate_boxes, consolidate_verdicts
from prelabel.review.db import Database
from prelabel.review.responses import Response, latest_responses
from prelabel.review.review_jobs import Job, JobFrame, job_frames, shown_in

# a corner that moved less than this (pixels) counts as not moved
MOVE_TOLERANCE = 0.5


@dataclass
class FinalLabel:
    label: Label  # the label as it stands after review (review state set)
    action: str  # unchanged | moved | reclassified | moved+reclassified | added | deleted | good | bad
    prelabel: Label | None  # the model's label it came from (None when a worker drew it)
    confidence: float  # consolidation confidence


@dataclass
class FrameOutcome:
    frame: JobFrame
    responses: list[Response]
    labels: list[FinalLabel] = field(default_factory=list)  # review labels (box labels) after consolidation
    passthrough: list[Label] = field(default_factory=list)  # labels without a 2D box: not reviewed, kept as they were
    comments: list[dict[str, str]] = field(default_factory=list)

    @property
    def reviewed(self) -> bool:
        return bool(self.responses)

    @property
    def workers(self) -> list[str]:
        return sorted({r.worker for r in self.responses})

    @property
    def adjusted(self) -> bool:
        return any(f.action not in ("unchanged", "good") for f in self.labels)

    def record(self, job: Job) -> FrameRecord:
        """The frame record with review state: kept labels first, then rejected ones (ids preserved)."""
        labels = [f.label for f in self.labels if f.label.review != ReviewState.REJECTED]
        labels += [f.label for f in self.labels if f.label.review == ReviewState.REJECTED]
        return FrameRecord(frame=self.frame.record.frame, labels=labels + self.passthrough, job=job.name)


def _human(workers: list[str]) -> str:
    return "human:" + "+".join(workers)


def _moved(a: Box2D, b: tuple[float, float, float, float]) -> bool:
    return any(abs(x - y) > MOVE_TOLERANCE for x, y in zip(a.xyxy, b, strict=True))


def _adjust_outcome(job: Job, out: FrameOutcome) -> None:
    rec = out.frame.record
    pre = {lb.id: lb for lb in rec.labels if lb.box is not None}
    answers = [
        [
            WorkerBox(worker=r.worker, category=b["category"], xyxy=tuple(b["box"]), id=b.get("id"))
            for b in r.payload["boxes"]
        ]
        for r in out.responses
    ]
    clusters = consolidate_boxes(answers, prelabel_categories={k: v.category for k, v in pre.items()})
    claimed: set[str] = set()
    for i, c in enumerate(clusters):
        box = Box2D.from_xyxy([round(v, 2) for v in c.xyxy])
        base = pre.get(c.id) if c.id else None
        if base is not None and base.box is not None:
            claimed.add(base.id)
            moved = _moved(base.box, box.xyxy)
            recl = c.category != base.category
            if not moved and not recl:
                label = base.model_copy(update={"review": ReviewState.ACCEPTED})
                label.attributes = {**base.attributes, "reviewed_by": c.workers}
                action = "unchanged"
            else:
                action = "+".join(a for a, on in (("moved", moved), ("reclassified", recl)) if on)
                attrs: dict[str, Any] = {**base.attributes, "reviewed_by": c.workers, "prelabel_source": base.source}
                attrs["prelabel_box"] = list(base.box.xyxy)
                if base.score is not None:
                    attrs["prelabel_score"] = base.score
                if recl:
                    attrs["prelabel_category"] = base.category
                label = base.model_copy(
                    update={
                        "box": box if moved else base.box,
                        "category": c.category,
                        "source": _human(c.workers),
                        "score": None,
                        "review": ReviewState.ADJUSTED,
                        "attributes": attrs,
                    }
                )
                # an adjusted box no longer matches a model's mask or polygon
                if moved:
                    label = label.model_copy(update={"mask": None, "polygon": None})
            out.labels.append(FinalLabel(label=label, action=action, prelabel=base, confidence=c.confidence))
        else:
            label = Label(
                id=make_label_id(job.name, rec.frame.id, "added", *[m.worker for m in c.members], i, *c.xyxy),
                category=c.category,
                source=_human(c.workers),
                review=ReviewState.ACCEPTED,
                box=box,
                attributes={"reviewed_by": c.workers, "review_action": "added", "added_in_review": True},
            )
            out.labels.append(FinalLabel(label=label, action="added", prelabel=None, confidence=c.confidence))
    for lid, base in pre.items():
        if lid not in claimed:
            label = base.model_copy(
                update={
                    "review": ReviewState.REJECTED,
                    "attributes": {**base.attributes, "reviewed_by": out.workers, "review_action": "deleted"},
                }
            )
            out.labels.append(FinalLabel(label=label, action="deleted", prelabel=base, confidence=1.0))


def verify_outcome(out: FrameOutcome, modality: str = "2d") -> None:
    """A verify job's final labels on one frame: each reviewed label accepted or rejected by the workers' votes."""
    rec = out.frame.record
    verdicts = consolidate_verdicts([(r.worker, r.payload["verdicts"]) for r in out.responses])
    for lb in rec.labels:
        v = verdicts.get(lb.id) if shown_in(lb, modality) else None
        if v is None:
            continue
        attrs: dict[str, Any] = {**lb.attributes, "reviewed_by": out.workers, "votes": v.votes}
        if v.comments:
            attrs["review_comments"] = v.comments
        state = ReviewState.ACCEPTED if v.verdict == "good" else ReviewState.REJECTED
        label = lb.model_copy(update={"review": state, "attributes": attrs})
        out.labels.append(FinalLabel(label=label, action=v.verdict, prelabel=lb, confidence=v.confidence))


def _outcome3d(job: Job, out: FrameOutcome) -> FrameOutcome:
    from prelabel.review import results3d

    rec = out.frame.record
    out.passthrough = [lb for lb in rec.labels if lb.box3d is None]
    out.comments = [
        {"worker": r.worker, "comment": r.payload["comment"]} for r in out.responses if r.payload.get("comment")
    ]
    if not out.reviewed:
        out.labels = [FinalLabel(lb, "pending", lb, 0.0) for lb in rec.labels if lb.box3d is not None]
    elif job.type == "adjust":
        results3d.adjust_outcome3d(job, out)
    else:
        verify_outcome(out, "3d")
    return out


def frame_outcomes(db: Database, job: Job) -> list[FrameOutcome]:
    """Every frame of the job with its consolidated outcome (frames nobody answered yet keep their labels pending)."""
    if job.kind == "sequence":
        from prelabel.review.sequence_results import sequence_outcomes

        return sequence_outcomes(db, job)
    responses = latest_responses(db, job.id)
    outcomes = []
    for jf in job_frames(db, job.id):
        out = FrameOutcome(frame=jf, responses=responses.get(jf.frame_id, []))
        if job.modality == "3d":
            outcomes.append(_outcome3d(job, out))
            continue
        out.passthrough = [lb for lb in jf.record.labels if lb.box is None]
        out.comments = [
            {"worker": r.worker, "comment": r.payload["comment"]} for r in out.responses if r.payload.get("comment")
        ]
        if not out.reviewed:
            out.labels = [
                FinalLabel(label=lb, action="pending", prelabel=lb, confidence=0.0)
                for lb in jf.record.labels
                if lb.box is not None
            ]
        elif job.type == "adjust":
            _adjust_outcome(job, out)
        else:
            verify_outcome(out)
        outcomes.append(out)
    return outcomes
