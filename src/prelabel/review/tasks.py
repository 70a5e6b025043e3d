"""Review jobs: made from a labels file or a Ground Truth input manifest; assigned to workers as tasks (one frame,
one worker); answered with responses.

A job's type is ``adjust`` (workers move, resize, draw, delete and re-class boxes) or ``verify`` (workers judge each
label good or bad, with an optional comment). Only the frames routed to review can be put in a job (``frames``).
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prelabel.core.labels import FrameRecord
from prelabel.review import audit
from prelabel.review.db import Database, now
from prelabel.review.errors import NotFoundError, ReviewInputError

DEFAULT_ORIGINAL = "prelabel-boxes"  # = prelabel.formats.groundtruth.DEFAULT_ATTRIBUTE

JOB_TYPES = ("adjust", "verify")
VERDICTS = ("good", "bad")
_JOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_BOXES = 2000
MAX_COMMENT = 2000


@dataclass(frozen=True)
class Job:
    id: int
    name: str
    type: str
    attribute: str  # the Ground Truth label attribute the reviewed labels are written under
    source: str
    source_format: str  # "labels" or "groundtruth"
    categories: list[str]
    instructions: str
    created_by: str
    created_at: str
    source_attribute: str | None = None  # the manifest's label attribute (None for a labels file)
    roots: tuple[str, ...] = ()  # folders / s3 prefixes its frames may be served from (see review.frames)
    modality: str = "2d"  # "3d": pointcloud frames with 3D boxes (see review.tasks3d)
    kind: str = "frame"  # "sequence": one task per sequence chunk (see review.sequence_tasks)
    chunk: int = 0  # frames per sequence task (sequence jobs)

    @property
    def original_attribute(self) -> str:
        """The attribute the pre-labels sit under in the output manifest."""
        return self.source_attribute or DEFAULT_ORIGINAL


@dataclass(frozen=True)
class JobFrame:
    frame_id: str
    position: int
    certainty: float
    record: FrameRecord
    manifest_line: dict[str, Any] | None


@dataclass(frozen=True)
class Task:
    id: int
    job_id: int
    frame_id: str
    worker: str
    status: str
    assigned_at: str
    opened_at: str | None
    submitted_at: str | None


@dataclass(frozen=True)
class QueueItem:
    task: Task
    job_name: str
    job_type: str
    certainty: float
    labels: int


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


def frame_certainty(record: FrameRecord) -> float:
    """How sure the model was about a frame: its least confident box label's score (1.0 with no scored box).

    The work queue shows the least certain frames first.
    """
    scores = [lb.score for lb in record.labels if _reviewed(lb) and lb.score is not None]
    return min(scores) if scores else 1.0


def _reviewed(lb: Any) -> bool:
    """A label shown for review: one with a 2D box, or (pointcloud frames) a 3D box."""
    return lb.box is not None or lb.box3d is not None


def _shown(lb: Any, modality: str) -> bool:
    """Whether a label is reviewed in a job of this modality (2D box, or 3D box)."""
    return (lb.box3d if modality == "3d" else lb.box) is not None


def _review_count(rec: FrameRecord, modality: str) -> int:
    return sum(1 for lb in rec.labels if _shown(lb, modality))


def check_attribute(attribute: str, original: str | None = None) -> None:
    """Ground Truth's rules for a label attribute name (see :func:`prelabel.formats.groundtruth.check_attribute`)."""
    from prelabel.formats.groundtruth import check_attribute as gt_check

    gt_check(attribute, original=original)


def _job_from_row(row: sqlite3.Row) -> Job:
    src = json.loads(row["source"])
    return Job(
        id=row["id"],
        name=row["name"],
        type=row["type"],
        attribute=row["attribute"],
        source=src["uri"],
        source_attribute=src.get("attribute"),
        roots=tuple(src.get("roots") or ()),
        modality=src.get("modality") or "2d",
        kind=src.get("kind") or "frame",
        chunk=int(src.get("chunk") or 0),
        source_format=row["source_format"],
        categories=json.loads(row["categories"]),
        instructions=row["instructions"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


def create_job(
    db: Database,
    name: str,
    job_type: str,
    records: Sequence[FrameRecord],
    *,
    source: str,
    source_format: str = "labels",
    source_attribute: str | None = None,
    manifest_lines: Sequence[dict[str, Any] | None] | None = None,
    categories: Sequence[str] | None = None,
    instructions: str = "",
    frames: Sequence[str] | None = None,
    attribute: str | None = None,
    actor: str = "cli",
    roots: Sequence[str] = (),
    source_extra: dict[str, Any] | None = None,
) -> tuple[Job, dict[str, Any]]:
    """Store a job with its frames. Returns the job and a summary (frames in, frames skipped and why).

    ``roots``: folders and ``s3://`` prefixes the portal may serve this job's frames from (besides its own).
    ``source_extra``: more job settings kept with the source (a sequence job's ``kind`` and ``chunk``).

    ``frames``: only these frame ids (those routed to review); every id must be in the source.
    ``categories``: the classes workers may use; by default the categories found in the pre-labels.
    """
    if not _JOB_NAME_RE.match(name):
        raise ReviewInputError(f"job name {name!r} must be 1-128 letters, digits, '.', '_' or '-'")
    if job_type not in JOB_TYPES:
        raise ReviewInputError(f"job type {job_type!r} is not known; expected one of: {', '.join(JOB_TYPES)}")
    lines = list(manifest_lines) if manifest_lines is not None else [None] * len(records)
    if len(lines) != len(records):
        raise ReviewInputError(f"got {len(records)} records but {len(lines)} manifest lines")
    original = source_attribute or DEFAULT_ORIGINAL
    attribute = attribute or f"{original}-{'adjusted' if job_type == 'adjust' else 'verified'}"
    check_attribute(attribute, original)
    for line in lines:
        if line is not None and (attribute in line or f"{attribute}-metadata" in line):
            raise ReviewInputError(
                f"the manifest already has an attribute {attribute!r} (an earlier job's answers); "
                "name a new output attribute so nothing is overwritten"
            )

    summary: dict[str, Any] = {"frames": 0, "labels": 0, "skipped_failed": [], "duplicates": []}
    by_id: dict[str, tuple[FrameRecord, dict[str, Any] | None]] = {}
    for rec, line in zip(records, lines, strict=True):
        if rec.status == "failed":
            summary["skipped_failed"].append(rec.frame.id)
            continue
        if rec.frame.id in by_id:
            if by_id[rec.frame.id][0].frame.uri != rec.frame.uri:
                raise ReviewInputError(
                    f"frame id {rec.frame.id} names two images: {by_id[rec.frame.id][0].frame.uri} and "
                    f"{rec.frame.uri}; frame ids must be unique in a job"
                )
            summary["duplicates"].append(rec.frame.id)
        by_id[rec.frame.id] = (rec, line)  # the last record of a frame wins (a resumed run rewrites it)
    if frames is not None:
        wanted = list(dict.fromkeys(f.strip() for f in frames if f.strip()))
        missing = [f for f in wanted if f not in by_id]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise ReviewInputError(f"frames to review not found among the usable frames of {source}: {shown}")
        chosen = [by_id[f] for f in wanted]
    else:
        chosen = list(by_id.values())
    if not chosen:
        raise ReviewInputError(f"{source} has no usable frames for a review job")

    from prelabel.review.tasks3d import modality as job_modality

    mode = job_modality([rec for rec, _ in chosen])
    found = sorted({lb.category for rec, _ in chosen for lb in rec.labels if _shown(lb, mode)})
    cats = list(dict.fromkeys(c.strip() for c in categories if c.strip())) if categories else found
    if not cats:
        raise ReviewInputError("the job needs label categories; the pre-labels have none, so pass categories")
    unknown = sorted(set(found) - set(cats))
    if unknown:
        raise ReviewInputError(
            f"pre-labels use categories that are not among the job's categories: {', '.join(unknown)}; "
            "add them to the categories or leave the categories out to use those found"
        )

    for rec, _ in chosen if mode == "2d" else ():
        if rec.frame.width is None or rec.frame.height is None:
            raise ReviewInputError(
                f"frame {rec.frame.id} has no width/height; label it with prelabel (records carry the size) "
                "or give image_size in the manifest"
            )

    created = now()
    src = {"uri": source, "attribute": source_attribute, "roots": list(roots), **(source_extra or {})}
    src_json = json.dumps(src if mode == "2d" else {**src, "modality": mode})
    with db.transaction() as conn:
        if conn.execute("SELECT 1 FROM jobs WHERE name = ?", (name,)).fetchone():
            raise ReviewInputError(f"job {name!r} already exists; pick another name")
        cur = conn.execute(
            "INSERT INTO jobs (name, type, attribute, source, source_format, categories, instructions, created_by, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, job_type, attribute, src_json, source_format, json.dumps(cats), instructions, actor, created),
        )
        job_id = int(cur.lastrowid or 0)
        for pos, (rec, line) in enumerate(chosen):
            conn.execute(
                "INSERT INTO frames (job_id, frame_id, position, certainty, boxes, record, manifest_line) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    rec.frame.id,
                    pos,
                    frame_certainty(rec),
                    _review_count(rec, mode),
                    rec.to_json(),
                    None if line is None else json.dumps(line, separators=(",", ":")),
                ),
            )
            summary["labels"] += _review_count(rec, mode)
        summary["frames"] = len(chosen)
        audit.record(
            conn,
            actor,
            "job.create",
            job_id=job_id,
            detail={
                "name": name,
                "type": job_type,
                "source": source,
                "frames": len(chosen),
                "categories": cats,
                "modality": mode,
            },
        )
    return get_job(db, job_id), summary


def get_job(db: Database, job: int | str) -> Job:
    """A job by id or by name."""
    with db.connect() as conn:
        if isinstance(job, int) or (isinstance(job, str) and job.isdigit()):
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (int(job),)).fetchone()
            if row is None and isinstance(job, str):
                row = conn.execute("SELECT * FROM jobs WHERE name = ?", (job,)).fetchone()
        else:
            row = conn.execute("SELECT * FROM jobs WHERE name = ?", (job,)).fetchone()
    if row is None:
        raise NotFoundError("job", job)
    return _job_from_row(row)


def list_jobs(db: Database) -> list[Job]:
    with db.connect() as conn:
        rows = conn.execute("SELECT * FROM jobs ORDER BY id").fetchall()
    return [_job_from_row(r) for r in rows]


def _frame_from_row(row: sqlite3.Row) -> JobFrame:
    return JobFrame(
        frame_id=row["frame_id"],
        position=row["position"],
        certainty=row["certainty"],
        record=FrameRecord.from_json(row["record"]),
        manifest_line=None if row["manifest_line"] is None else json.loads(row["manifest_line"]),
    )


def job_frames(db: Database, job_id: int) -> list[JobFrame]:
    """The job's frames in their source order."""
    with db.connect() as conn:
        rows = conn.execute("SELECT * FROM frames WHERE job_id = ? ORDER BY position", (job_id,)).fetchall()
    return [_frame_from_row(r) for r in rows]


def job_frame(db: Database, job_id: int, frame_id: str) -> JobFrame:
    with db.connect() as conn:
        row = conn.execute("SELECT * FROM frames WHERE job_id = ? AND frame_id = ?", (job_id, frame_id)).fetchone()
    if row is None:
        raise NotFoundError("frame", frame_id)
    return _frame_from_row(row)


def _task_from_row(row: sqlite3.Row) -> Task:
    return Task(
        id=row["id"],
        job_id=row["job_id"],
        frame_id=row["frame_id"],
        worker=row["worker"],
        status=row["status"],
        assigned_at=row["assigned_at"],
        opened_at=row["opened_at"],
        submitted_at=row["submitted_at"],
    )


def assign(
    db: Database,
    job: int | str,
    workers: Sequence[str],
    *,
    frames: Sequence[str] | None = None,
    actor: str = "cli",
) -> int:
    """Give each worker a task for every frame of the job (or the listed frames). Returns how many tasks were new;
    tasks a worker already has are kept as they are."""
    j = get_job(db, job)
    if not workers:
        raise ReviewInputError("name at least one worker to assign")
    known = {f.frame_id for f in job_frames(db, j.id)}
    chosen = list(dict.fromkeys(frames)) if frames else sorted(known)
    missing = [f for f in chosen if f not in known]
    if missing:
        raise ReviewInputError(f"frames not in job {j.name!r}: {', '.join(missing[:5])}")
    if j.kind == "sequence":  # one task per sequence chunk, named by its first frame
        from prelabel.review.sequence_tasks import chunk_keys

        chosen = chunk_keys(db, j, chosen)
    created = 0
    with db.transaction() as conn:
        for w in workers:
            row = conn.execute("SELECT role, active FROM users WHERE name = ?", (w,)).fetchone()
            if row is None:
                raise NotFoundError("user", w)
            if row["role"] != "worker":
                raise ReviewInputError(f"user {w!r} is an {row['role']}; only workers take tasks")
            for f in chosen:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO tasks (job_id, frame_id, worker, assigned_at) VALUES (?, ?, ?, ?)",
                    (j.id, f, w, now()),
                )
                created += cur.rowcount
        audit.record(conn, actor, "job.assign", job_id=j.id, detail={"workers": list(workers), "frames": len(chosen)})
    return created


def worker_queue(db: Database, worker: str, *, include_done: bool = True) -> list[QueueItem]:
    """The worker's tasks: pending first, least certain frames first, then source order."""
    sql = (
        "SELECT t.*, j.name AS job_name, j.type AS job_type, f.certainty, f.position, f.boxes FROM tasks t "
        "JOIN jobs j ON j.id = t.job_id JOIN frames f ON f.job_id = t.job_id AND f.frame_id = t.frame_id "
        "WHERE t.worker = ?"
    )
    if not include_done:
        sql += " AND t.status = 'pending'"
    sql += " ORDER BY t.status = 'submitted', f.certainty, t.job_id, f.position"
    with db.connect() as conn:
        rows = conn.execute(sql, (worker,)).fetchall()
    return [
        QueueItem(
            task=_task_from_row(r),
            job_name=r["job_name"],
            job_type=r["job_type"],
            certainty=r["certainty"],
            labels=r["boxes"],
        )
        for r in rows
    ]


def get_task(db: Database, task_id: int, worker: str | None) -> Task:
    """A task; with ``worker`` given, only when it is that worker's (others get :class:`NotFoundError`)."""
    with db.connect() as conn:
        row = conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
    if row is None or (worker is not None and row["worker"] != worker):
        raise NotFoundError("task", task_id)
    return _task_from_row(row)


def job_tasks(db: Database, job_id: int) -> list[Task]:
    with db.connect() as conn:
        rows = conn.execute("SELECT * FROM tasks WHERE job_id = ? ORDER BY id", (job_id,)).fetchall()
    return [_task_from_row(r) for r in rows]


def mark_opened(db: Database, task: Task) -> None:
    if task.opened_at is None:
        with db.connect() as conn:
            conn.execute("UPDATE tasks SET opened_at = ? WHERE id = ? AND opened_at IS NULL", (now(), task.id))


def next_task(db: Database, worker: str, after: int | None = None) -> int | None:
    """The id of the worker's next pending task in queue order (skipping ``after``)."""
    with db.connect() as conn:
        row = conn.execute(
            "SELECT t.id FROM tasks t JOIN frames f ON f.job_id = t.job_id AND f.frame_id = t.frame_id "
            "WHERE t.worker = ? AND t.status = 'pending' AND t.id != ? "
            "ORDER BY f.certainty, t.job_id, f.position LIMIT 1",
            (worker, -1 if after is None else after),
        ).fetchone()
    return None if row is None else int(row["id"])


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
    comment = payload.get("comment") or ""
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise ReviewInputError(f"comment must be text of at most {MAX_COMMENT} characters")
    w = float(rec.frame.width or 0)
    h = float(rec.frame.height or 0)
    if job.type == "adjust":
        out = []
        for i, b, bid, cat in adjusted_boxes(job, rec, shown, payload.get("boxes"), "box"):
            xyxy = b.get("box")
            if not isinstance(xyxy, list) or len(xyxy) != 4:
                raise ReviewInputError(f"box {i}: 'box' must be [x1, y1, x2, y2] in pixels; got {xyxy!r}")
            x1, y1, x2, y2 = (_number(v, f"box {i} coordinate") for v in xyxy)
            x1, x2 = sorted((min(max(x1, 0.0), w), min(max(x2, 0.0), w)))
            y1, y2 = sorted((min(max(y1, 0.0), h), min(max(y2, 0.0), h)))
            if x2 - x1 < 1.0 or y2 - y1 < 1.0:
                raise ReviewInputError(f"box {i}: smaller than one pixel inside the {w:g}x{h:g} frame")
            out.append({"id": bid, "category": cat, "box": [round(v, 2) for v in (x1, y1, x2, y2)]})
        return {"boxes": out, "comment": comment}
    verdicts = payload.get("verdicts")
    if not isinstance(verdicts, list):
        raise ReviewInputError("a verify response needs 'verdicts': a list of {id, verdict, comment}")
    got: dict[str, dict[str, Any]] = {}
    for i, v in enumerate(verdicts):
        if not isinstance(v, dict) or v.get("id") not in shown:
            raise ReviewInputError(f"verdict {i}: id {v.get('id') if isinstance(v, dict) else v!r} is not a pre-label")
        if v.get("verdict") not in VERDICTS:
            raise ReviewInputError(f"verdict {i}: expected 'good' or 'bad'; got {v.get('verdict')!r}")
        c = v.get("comment") or ""
        if not isinstance(c, str) or len(c) > MAX_COMMENT:
            raise ReviewInputError(f"verdict {i}: comment must be text of at most {MAX_COMMENT} characters")
        got[v["id"]] = {"id": v["id"], "verdict": v["verdict"], "comment": c}
    missing = [k for k in shown if k not in got]
    if missing:
        raise ReviewInputError(f"every label needs a verdict; missing for: {', '.join(missing[:5])}")
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
    seconds = None
    if task.opened_at:
        seconds = (datetime.fromisoformat(at) - datetime.fromisoformat(task.opened_at)).total_seconds()
    with db.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO responses (task_id, job_id, frame_id, worker, submitted_at, seconds, payload) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (task.id, job.id, task.frame_id, worker, at, seconds, json.dumps(answer, separators=(",", ":"))),
        )
        rid = int(cur.lastrowid or 0)
        conn.execute("UPDATE tasks SET status = 'submitted', submitted_at = ? WHERE id = ?", (at, task.id))
        audit.record(
            conn,
            worker,
            "task.submit",
            job_id=job.id,
            frame_id=task.frame_id,
            task_id=task.id,
            detail={"response_id": rid, "answer": answer, "seconds": seconds},
        )
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


def _response(row: sqlite3.Row) -> Response:
    return Response(
        id=row["id"],
        task_id=row["task_id"],
        job_id=row["job_id"],
        frame_id=row["frame_id"],
        worker=row["worker"],
        submitted_at=row["submitted_at"],
        seconds=row["seconds"],
        payload=json.loads(row["payload"]),
    )


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
