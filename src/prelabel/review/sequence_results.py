"""What a sequence job's answers add up to, frame by frame, in the same :class:`FrameOutcome` view as frame jobs (so
the labels file, the Ground Truth manifest and the figures work unchanged), plus a Ground Truth video-frame
tracking export.

Every reviewed box keeps its ``track_id`` and says where its geometry came from: ``attributes["review_source"]`` is
``human`` (a person set or confirmed it: ``attributes["keyframe"] = True``), ``interpolated``
(``attributes["interpolated"] = True`` and ``attributes["keyframes"]``, the frame indices of the keyframes around
it, as :mod:`prelabel.refine.interpolate` writes) or ``prelabel`` (the model's box, untouched). Several workers on
one sequence task: the latest answer stands (the others stay in the audit trail and the raw responses). Chunks
that overlap (``job.overlap``): a frame shared by two tasks takes the *later* task's answer (the chunk further
along its sequence) once that task has one, else the earlier's; track ids are never renumbered, so a track that
crosses the border keeps its id in both.
"""

from __future__ import annotations

from typing import Any

from prelabel.core.labels import Box2D, FrameRecord, Label, ReviewState, make_label_id
from prelabel.review.db import Database
from prelabel.review.responses import Response, latest_responses
from prelabel.review.results import MOVE_TOLERANCE, FinalLabel, FrameOutcome
from prelabel.review.review_jobs import Job, JobFrame, job_frames
from prelabel.review.sequence_tasks import chunks

#: The tracking output manifest's file name (the export writes it under ``manifests/output/tracking/``).
TRACKING_MANIFEST = "output.manifest"


def _moved(a: Box2D, b: list[float]) -> bool:
    return any(abs(x - y) > MOVE_TOLERANCE for x, y in zip(a.xyxy, b, strict=True))


def _keyframes(frames: list[dict[str, Any]], indices: list[int | None]) -> dict[tuple[int, str], list[int | None]]:
    """For each interpolated box (frame position, track): the frame indices of the keyframes before and after."""
    keys: dict[str, list[int]] = {}
    for k, f in enumerate(frames):
        for b in f["boxes"]:
            if b["source"] == "human":
                keys.setdefault(b["track_id"], []).append(k)
    out: dict[tuple[int, str], list[int | None]] = {}
    for k, f in enumerate(frames):
        for b in f["boxes"]:
            if b["source"] == "interpolated":
                ks = keys.get(b["track_id"], [])
                before = max((x for x in ks if x < k), default=None)
                after = min((x for x in ks if x > k), default=None)
                out[(k, b["track_id"])] = [None if x is None else indices[x] for x in (before, after)]
    return out


def _frame_labels(
    job: Job, jf: JobFrame, boxes: list[dict[str, Any]], worker: str, keyframes: dict[str, list[int | None]]
) -> list[FinalLabel]:
    pre = {lb.id: lb for lb in jf.record.labels if lb.box is not None and lb.track_id is not None}
    out: list[FinalLabel] = []
    claimed: set[str] = set()
    for b in boxes:
        src = b["source"]
        box = Box2D.from_xyxy(b["box"])
        base = pre.get(b["id"]) if b["id"] else None
        attrs: dict[str, Any] = {"reviewed_by": [worker], "review_source": src}
        if src == "human":
            attrs["keyframe"] = True
        elif src == "interpolated":
            attrs["interpolated"] = True
            attrs["keyframes"] = keyframes.get(b["track_id"], [None, None])
        if base is not None and base.box is not None:
            claimed.add(base.id)
            moved = src != "prelabel" and _moved(base.box, b["box"])
            changes = [("moved", moved), ("reclassified", b["category"] != base.category)]
            changes.append(("retracked", b["track_id"] != base.track_id))
            action = "+".join(a for a, on in changes if on) or "unchanged"
            attrs = {**base.attributes, **attrs}
            if action != "unchanged":
                attrs["prelabel_source"] = base.source
                attrs["prelabel_box"] = list(base.box.xyxy)
                if base.score is not None:
                    attrs["prelabel_score"] = base.score
                if b["category"] != base.category:
                    attrs["prelabel_category"] = base.category
                if b["track_id"] != base.track_id:
                    attrs["prelabel_track_id"] = base.track_id
            keep = action == "unchanged" and src == "prelabel"
            label = base.model_copy(
                update={
                    "box": base.box if not moved else box,
                    "category": b["category"],
                    "track_id": b["track_id"],
                    "source": base.source if keep else f"human:{worker}",
                    "score": base.score if keep else None,
                    "review": ReviewState.ACCEPTED if action == "unchanged" else ReviewState.ADJUSTED,
                    "attributes": attrs,
                }
            )
            if moved:
                label = label.model_copy(update={"mask": None, "polygon": None})
            out.append(FinalLabel(label=label, action=action, prelabel=base, confidence=1.0))
        else:
            attrs.update(review_action="added", added_in_review=True)
            label = Label(
                id=make_label_id(job.name, jf.frame_id, "sequence", b["track_id"], src),
                category=b["category"],
                source=f"human:{worker}",
                review=ReviewState.ACCEPTED,
                box=box,
                track_id=b["track_id"],
                attributes=attrs,
            )
            out.append(FinalLabel(label=label, action="added", prelabel=None, confidence=1.0))
    for lid, base in pre.items():
        if lid not in claimed:
            gone = {**base.attributes, "reviewed_by": [worker], "review_action": "deleted"}
            label = base.model_copy(update={"review": ReviewState.REJECTED, "attributes": gone})
            out.append(FinalLabel(label=label, action="deleted", prelabel=base, confidence=1.0))
    return out


def sequence_outcomes(db: Database, job: Job) -> list[FrameOutcome]:
    """Every frame of a sequence job with its outcome, in the job's frame order."""
    responses = latest_responses(db, job.id)
    every = {jf.frame_id: jf for jf in job_frames(db, job.id)}
    by_frame: dict[str, FrameOutcome] = {}
    for c in chunks(db, job):
        frames_of = [every[f] for f in c.frame_ids]
        rs: list[Response] = responses.get(c.key, [])
        latest = max(rs, key=lambda r: (r.submitted_at, r.id)) if rs else None
        answer = {f["frame"]: f["boxes"] for f in latest.payload["frames"]} if latest is not None else {}
        frames = latest.payload["frames"] if latest is not None else []
        kf = _keyframes(frames, [jf.record.frame.index for jf in frames_of]) if frames else {}
        for k, jf in enumerate(frames_of):
            if latest is None and jf.frame_id in by_frame:
                continue  # a frame shared with the chunk before (overlap): an unanswered chunk takes nothing over
            out = FrameOutcome(frame=jf, responses=rs)
            tracked = [lb for lb in jf.record.labels if lb.box is not None and lb.track_id is not None]
            ids = {lb.id for lb in tracked}
            out.passthrough = [lb for lb in jf.record.labels if lb.id not in ids]
            if latest is None:
                out.labels = [FinalLabel(label=lb, action="pending", prelabel=lb, confidence=0.0) for lb in tracked]
            else:
                if k == 0 and latest.payload.get("comment"):
                    out.comments = [{"worker": latest.worker, "comment": latest.payload["comment"]}]
                keys = {t: v for (pos, t), v in kf.items() if pos == k}
                out.labels = _frame_labels(job, jf, answer.get(jf.frame_id, []), latest.worker, keys)
            by_frame[jf.frame_id] = out
    return sorted(by_frame.values(), key=lambda o: o.frame.position)


def tracking_records(outcomes: list[FrameOutcome], job: Job) -> list[FrameRecord]:
    """The reviewed frames with their kept tracked boxes (rejected and untracked boxes left out)."""
    records = [o.record(job) for o in outcomes if o.reviewed]
    return [
        r.model_copy(
            update={"labels": [lb for lb in r.labels if lb.review != ReviewState.REJECTED and lb.track_id is not None]}
        )
        for r in records
    ]


def tracking_files(job: Job, outcomes: list[FrameOutcome]) -> dict[str, str]:
    """The video-frame tracking output as texts by file name: ``output.manifest`` and the ``<sequence>.json`` /
    ``<sequence>-labels.json`` files it refers to (relative to its folder). Written nowhere."""
    from prelabel.formats import groundtruth_video

    manifest, files = groundtruth_video.render(tracking_records(outcomes, job), label_attribute=job.attribute)
    return {TRACKING_MANIFEST: manifest, **files}


def write_tracking_manifest(job: Job, outcomes: list[FrameOutcome], dst: str, *, overwrite: bool = False) -> int:
    """Ground Truth video-frame tracking output of the reviewed frames (``object-id`` = track id; each box's
    ``label-category-attributes`` carry ``review_source``) at ``dst`` (any :mod:`prelabel.storage` URI, e.g.
    ``s3://``), its sequence and label files beside it. Returns how many frames were written."""
    from prelabel.formats import groundtruth_video

    kept = tracking_records(outcomes, job)
    groundtruth_video.write(kept, dst, label_attribute=job.attribute, overwrite=overwrite)
    return len(kept)
