"""Review tasks: one frame of a job given to one worker; the worker's queue, least certain frames first."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from prelabel.review import audit
from prelabel.review.db import Database, from_row, now
from prelabel.review.errors import NotFoundError, ReviewInputError
from prelabel.review.review_jobs import frame_ids, get_job


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


def _task_from_row(row: sqlite3.Row) -> Task:
    return from_row(Task, row)


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
    known = set(frame_ids(db, j.id))
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
