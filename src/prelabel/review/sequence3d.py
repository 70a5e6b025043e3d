"""3D sequences in the portal: a worker's samples of one sequence, shown and answered together.

Tasks stay one per sample (so results, consolidation and exports stay per frame), but the 3D page of a sample that
belongs to a sequence loads every sample of that sequence the same worker holds (:func:`sequence_payload`): it
steps and plays through them in place, keeps track ids, interpolates between keyframes and submits them all at once
(:func:`submit_sequence`), in one transaction with one audit row per sample.

Track-wide edits: ``{"track_id", "category", "size": [length, width, height]}``. The server applies them to every
box of that track in the answers sent, and also to the stored answers of the worker's samples of the sequence that
were not sent (samples answered earlier, e.g. from another tab): each gets a new answer with the track's class and
size (audit action ``task.track_edit``, naming the task the edit came from). Position and yaw stay per sample.
"""

from __future__ import annotations

from typing import Any

from prelabel.review import responses, review_jobs, tasks
from prelabel.review.db import Database, now
from prelabel.review.errors import NotFoundError, ReviewInputError
from prelabel.review.tasks3d import MAX_TRACK, cameras, check_box7, review_labels3d

MAX_SAMPLES = 1000  # samples of one sequence shown and answered together


def _place(f: review_jobs.JobFrame) -> int:
    return f.record.frame.index if f.record.frame.index is not None else f.position


def sequence_tasks(db: Database, task: tasks.Task) -> tuple[str, list[tuple[tasks.Task, review_jobs.JobFrame]]]:
    """The sequence's name and the task worker's tasks on its samples, in sample order (index, then source order)."""
    jf = review_jobs.job_frame(db, task.job_id, task.frame_id)
    seq = jf.record.frame.sequence
    if seq is None:
        raise NotFoundError("sequence of task", task.id)
    frames = {f.frame_id: f for f in review_jobs.sequence_frames(db, task.job_id, seq)}
    out = [
        (t, frames[t.frame_id])
        for t in tasks.job_tasks(db, task.job_id)
        if t.worker == task.worker and t.frame_id in frames
    ]
    out.sort(key=lambda p: (_place(p[1]), p[1].position))
    if len(out) > MAX_SAMPLES:
        raise ReviewInputError(f"sequence {seq!r} has {len(out)} samples for this worker; at most {MAX_SAMPLES}")
    return seq, out


def sequence_payload(db: Database, task: tasks.Task, base: str) -> dict[str, Any]:
    """What the 3D page needs to show every sample of the task's sequence: per sample its task, labels, the
    worker's last answer, the point cloud URL and the cameras (all served only for the worker's own tasks)."""
    seq, items = sequence_tasks(db, task)
    samples = []
    for t, f in items:
        last = responses.last_response(db, t.id)
        samples.append(
            {
                "task": t.id,
                "frame": f.frame_id,
                "index": f.record.frame.index,
                "status": t.status,
                "labels": review_labels3d(f.record),
                "previous": last.payload if last is not None else None,
                "points": f"{base}/api/tasks/{t.id}/points",
                "cameras": cameras(f.record, base, t.id),
            }
        )
    return {"name": seq, "current": task.id, "samples": samples}


def check_track_edits(job: review_jobs.Job, edits: Any) -> list[dict[str, Any]]:
    """``[{"track_id", "category", "size": [l, w, h]}]`` checked against the job (one edit per track)."""
    if edits is None:
        return []
    if not isinstance(edits, list) or len(edits) > responses.MAX_BOXES:
        most = responses.MAX_BOXES
        raise ReviewInputError(f"'track_edits' must be a list of at most {most} {{track_id, category, size}}")
    out: dict[str, dict[str, Any]] = {}
    for i, e in enumerate(edits):
        if not isinstance(e, dict):
            raise ReviewInputError(f"track edit {i} must be an object with track_id, category, size")
        track = e.get("track_id")
        if not isinstance(track, str) or not 0 < len(track) <= MAX_TRACK:
            raise ReviewInputError(f"track edit {i}: track_id must be text of 1-{MAX_TRACK} characters; got {track!r}")
        if e.get("category") not in job.categories:
            raise ReviewInputError(
                f"track edit {i}: category {e.get('category')!r} is not among the job's categories: "
                f"{', '.join(job.categories)}"
            )
        size = e.get("size")
        if not isinstance(size, list) or len(size) != 3:
            raise ReviewInputError(f"track edit {i}: 'size' must be [length, width, height]; got {size!r}")
        box = check_box7([0.0, 0.0, 0.0, *size, 0.0], f"track edit {i}")
        out[track] = {"track_id": track, "category": e["category"], "size": box[3:6]}
    return list(out.values())


def apply_track_edits(answer: dict[str, Any], edits: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """The answer with each edited track's boxes given the track's class and size; and how many boxes changed."""
    by = {e["track_id"]: e for e in edits}
    boxes, n = [], 0
    for b in answer.get("boxes", []):
        e = by.get(b.get("track_id") or "")
        if e is not None and (b["category"] != e["category"] or b["box3d"][3:6] != e["size"]):
            b = {**b, "category": e["category"], "box3d": [*b["box3d"][:3], *e["size"], b["box3d"][6]]}
            n += 1
        boxes.append(b)
    return {**answer, "boxes": boxes}, n


def submit_sequence(db: Database, task_id: int, worker: str, payload: Any) -> dict[str, Any]:
    """Store the worker's answers to samples of a sequence together: ``{"samples": [{"task": id, "response":
    <a 3D answer>}], "track_edits": [...]}``. Every task must be the worker's, on the same sequence; every answer
    is checked before any is stored. Returns the response ids and how many earlier answers the track edits
    changed."""
    task = tasks.get_task(db, task_id, worker)
    job = review_jobs.get_job(db, task.job_id)
    if job.modality != "3d":
        raise NotFoundError("3D task", task_id)
    if not isinstance(payload, dict) or not isinstance(payload.get("samples"), list):
        raise ReviewInputError("a sequence answer needs 'samples': a list of {task, response}")
    edits = check_track_edits(job, payload.get("track_edits"))
    if edits and job.type != "adjust":
        raise ReviewInputError("track edits belong to adjust jobs; this is a verify job")
    seq, items = sequence_tasks(db, task)
    mine = {t.id: (t, f) for t, f in items}
    answers: dict[int, dict[str, Any]] = {}
    for i, s in enumerate(payload["samples"]):
        tid = s.get("task") if isinstance(s, dict) else None
        if not isinstance(tid, int) or tid not in mine:
            raise ReviewInputError(f"sample {i}: task {tid!r} is not one of your samples of sequence {seq!r}")
        if tid in answers:
            raise ReviewInputError(f"sample {i}: task {tid} appears twice")
        try:
            answer = responses.validate_response(job, mine[tid][1], s.get("response"))
        except ReviewInputError as e:
            raise ReviewInputError(f"sample {i} (frame {mine[tid][0].frame_id}): {e}") from None
        answers[tid] = apply_track_edits(answer, edits)[0] if edits else answer
    carried: dict[int, dict[str, Any]] = {}
    for tid in mine:
        last = responses.last_response(db, tid) if edits and tid not in answers else None
        if last is not None:
            new, n = apply_track_edits(last.payload, edits)
            if n:
                carried[tid] = new
    at = now()
    ids = {}
    with db.transaction() as conn:
        for tid, answer in answers.items():
            ids[tid], _ = responses.store_response(conn, job, mine[tid][0], worker, answer, at, extra={"sequence": seq})
        for tid, answer in carried.items():
            extra = {"sequence": seq, "track_edits": edits, "from_task": task_id}
            ids[tid], _ = responses.store_response(
                conn, job, mine[tid][0], worker, answer, at, "task.track_edit", extra
            )
    return {"responses": ids, "submitted": len(answers), "track_updates": len(carried), "sequence": seq}
