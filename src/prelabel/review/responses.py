"""Responses: a worker's answer to a task, checked against the job and the frame, stored with its timing.

adjust answers carry the boxes as the worker left them; verify answers carry one verdict per pre-label.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prelabel.core.labels import FrameRecord
from prelabel.review import audit
from prelabel.review.db import Database, from_row, now
from prelabel.review.errors import ReviewInputError
from prelabel.review.review_jobs import Job, JobFrame, get_job, job_frame
from prelabel.review.tasks import Task, get_task

VERDICTS = ("good", "bad")
MAX_BOXES = 2000
MAX_COMMENT = 2000


@dataclass(frozen=True)
class Response:
    id: int
    task_id: int
    job_id: int
    frame_id: str
    worker: str
    submitted_at: str
    seconds: float | None
    payload: dict[str, Any]


def last_response(db: Database, task_id: int) -> Response | None:
    """The latest answer to one task."""
    with db.connect() as conn:
        r = conn.execute("SELECT * FROM responses WHERE task_id = ? ORDER BY id DESC LIMIT 1", (task_id,)).fetchone()
    if r is None:
        return None
    return _response(r)


def review_labels(record: FrameRecord) -> list[dict[str, Any]]:
    """The labels a worker sees and edits: those with a 2D box."""
    return [
        {"id": lb.id, "category": lb.category, "score": lb.score, "box": list(lb.box.xyxy)}
        for lb in record.labels
        if lb.box is not None
    ]


def _number(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        raise ReviewInputError(f"{what} must be a finite number; got {v!r}")
    return float(v)


def checked_box(v: Any, w: float, h: float, what: str) -> list[float]:
    """A worker's ``[x1, y1, x2, y2]`` (pixels) clipped to the ``w`` x ``h`` frame, corners sorted, rounded to 0.01
    px; at least one pixel each way."""
    if not isinstance(v, list) or len(v) != 4:
        raise ReviewInputError(f"{what}: 'box' must be [x1, y1, x2, y2] in pixels; got {v!r}")
    x1, y1, x2, y2 = (_number(e, f"{what} coordinate") for e in v)
    x1, x2 = sorted((min(max(x1, 0.0), w), min(max(x2, 0.0), w)))
    y1, y2 = sorted((min(max(y1, 0.0), h), min(max(y2, 0.0), h)))
    if x2 - x1 < 1.0 or y2 - y1 < 1.0:
        raise ReviewInputError(f"{what}: smaller than one pixel inside the {w:g}x{h:g} frame")
    return [round(e, 2) for e in (x1, y1, x2, y2)]


def adjusted_boxes(
    job: Job, rec: FrameRecord, shown: dict[str, Any], boxes: Any, geometry: str
) -> Iterator[tuple[int, dict[str, Any], str | None, str]]:
    """The boxes of an adjust answer, each checked for shape, pre-label id (known, once) and category:
    ``(index, box object, pre-label id or None for a new box, category)``; 2D and 3D answers share this."""
    if not isinstance(boxes, list):
        raise ReviewInputError(f"an adjust response needs 'boxes': a list of {{id, category, {geometry}}}")
    if len(boxes) > MAX_BOXES:
        raise ReviewInputError(f"too many boxes: {len(boxes)}; at most {MAX_BOXES}")
    seen: set[str] = set()
    for i, b in enumerate(boxes):
        if not isinstance(b, dict):
            raise ReviewInputError(f"box {i} must be an object with id, category, {geometry}")
        bid = b.get("id")
        if bid is not None:
            if not isinstance(bid, str) or bid not in shown:
                raise ReviewInputError(f"box {i}: id {bid!r} is not a pre-label of frame {rec.frame.id}")
            if bid in seen:
                raise ReviewInputError(f"box {i}: pre-label {bid} appears twice")
            seen.add(bid)
        cat = b.get("category")
        if cat not in job.categories:
            raise ReviewInputError(
                f"box {i}: category {cat!r} is not among the job's categories: {', '.join(job.categories)}"
            )
        yield i, b, bid, str(cat)


def validate_response(job: Job, frame: JobFrame, payload: Any) -> dict[str, Any]:
    """Check a worker's answer against the job and the frame; returns the normalised answer.

    adjust: ``{"boxes": [{"id": <pre-label id or null>, "category": c, "box": [x1, y1, x2, y2]}, ...]}`` — the
    frame's boxes as the worker left them (pre-labels missing from the list were deleted).
    verify: ``{"verdicts": [{"id": <pre-label id>, "verdict": "good"|"bad", "comment": "..."}, ...]}`` — one
    verdict for every pre-label.
    Both take an optional overall ``"comment"``.
    """
    if job.modality == "3d":
        from prelabel.review.tasks3d import validate_response3d

        return validate_response3d(job, frame, payload)
    if not isinstance(payload, dict):
        raise ReviewInputError(f"response must be a JSON object; got {type(payload).__name__}")
    rec = frame.record
    shown = {lb["id"]: lb for lb in review_labels(rec)}
    comment = check_comment(payload.get("comment"), "comment")
    w = float(rec.frame.width or 0)
    h = float(rec.frame.height or 0)
    if job.type == "adjust":
        out = []
        for i, b, bid, cat in adjusted_boxes(job, rec, shown, payload.get("boxes"), "box"):
            out.append({"id": bid, "category": cat, "box": checked_box(b.get("box"), w, h, f"box {i}")})
        return {"boxes": out, "comment": comment}
    return checked_verdicts(shown, payload.get("verdicts"), comment, "label")


def check_comment(v: Any, what: str) -> str:
    """A comment: text of at most :data:`MAX_COMMENT` characters ('' when absent)."""
    c = v or ""
    if not isinstance(c, str) or len(c) > MAX_COMMENT:
        raise ReviewInputError(f"{what} must be text of at most {MAX_COMMENT} characters")
    return c


def checked_verdicts(shown: dict[str, Any], verdicts: Any, comment: str, thing: str) -> dict[str, Any]:
    """A verify answer: one good/bad verdict (with an optional comment) for every pre-label ``thing`` shown."""
    if not isinstance(verdicts, list):
        raise ReviewInputError("a verify response needs 'verdicts': a list of {id, verdict, comment}")
    got: dict[str, dict[str, Any]] = {}
    for i, v in enumerate(verdicts):
        if not isinstance(v, dict) or v.get("id") not in shown:
            raise ReviewInputError(f"verdict {i}: id {v.get('id') if isinstance(v, dict) else v!r} is not a pre-label")
        if v.get("verdict") not in VERDICTS:
            raise ReviewInputError(f"verdict {i}: expected 'good' or 'bad'; got {v.get('verdict')!r}")
        c = check_comment(v.get("comment"), f"verdict {i}: comment")
        got[v["id"]] = {"id": v["id"], "verdict": v["verdict"], "comment": c}
    missing = [k for k in shown if k not in got]
    if missing:
        raise ReviewInputError(f"every {thing} needs a verdict; missing for: {', '.join(missing[:5])}")
    return {"verdicts": [got[k] for k in shown], "comment": comment}


def submit(db: Database, task_id: int, worker: str, payload: Any) -> Response:
    """Store a worker's answer to their task (a new answer to the same task supersedes the old; both are kept)."""
    task = get_task(db, task_id, worker)
    job = get_job(db, task.job_id)
    frame = job_frame(db, job.id, task.frame_id)
    if job.kind == "sequence":
        from prelabel.review.sequence_tasks import validate_sequence_response

        answer = validate_sequence_response(db, job, task, payload)
    else:
        answer = validate_response(job, frame, payload)
    at = now()
    with db.transaction() as conn:
        rid, seconds = store_response(conn, job, task, worker, answer, at)
    return Response(
        id=rid,
        task_id=task.id,
        job_id=job.id,
        frame_id=task.frame_id,
        worker=worker,
        submitted_at=at,
        seconds=seconds,
        payload=answer,
    )


def store_response(
    conn: sqlite3.Connection,
    job: Job,
    task: Task,
    worker: str,
    answer: dict[str, Any],
    at: str,
    action: str = "task.submit",
    extra: dict[str, Any] | None = None,
) -> tuple[int, float | None]:
    """Inside the caller's transaction: store an answer, mark its task submitted, audit it as ``action`` (with
    ``extra`` in the detail). Returns (the response id, the seconds the worker took: only for a submit; a track
    edit carried to an earlier answer took the worker no time on that sample)."""
    seconds = None
    if task.opened_at and action == "task.submit":
        seconds = (datetime.fromisoformat(at) - datetime.fromisoformat(task.opened_at)).total_seconds()
    cur = conn.execute(
        "INSERT INTO responses (task_id, job_id, frame_id, worker, submitted_at, seconds, payload) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (task.id, job.id, task.frame_id, worker, at, seconds, json.dumps(answer, separators=(",", ":"))),
    )
    rid = int(cur.lastrowid or 0)
    conn.execute("UPDATE tasks SET status = 'submitted', submitted_at = ? WHERE id = ?", (at, task.id))
    detail = {"response_id": rid, "answer": answer, "seconds": seconds, **(extra or {})}
    audit.record(conn, worker, action, job_id=job.id, frame_id=task.frame_id, task_id=task.id, detail=detail)
    return rid, seconds


def _response(row: sqlite3.Row) -> Response:
    return from_row(Response, row, payload=json.loads(row["payload"]))


def latest_responses(db: Database, job_id: int) -> dict[str, list[Response]]:
    """Per frame, each worker's latest answer (earlier answers to the same task stay in the audit trail)."""
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT r.* FROM responses r JOIN (SELECT task_id, MAX(id) AS id FROM responses WHERE job_id = ? "
            "GROUP BY task_id) last ON last.id = r.id ORDER BY r.frame_id, r.worker",
            (job_id,),
        ).fetchall()
    out: dict[str, list[Response]] = {}
    for r in rows:
        out.setdefault(r["frame_id"], []).append(_response(r))
    return out
