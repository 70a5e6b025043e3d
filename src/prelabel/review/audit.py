"""The audit trail: every response and every admin action, with who, what and when. Rows are only ever added."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from prelabel.review.db import Database, now


def record(
    conn: sqlite3.Connection,
    actor: str,
    action: str,
    *,
    job_id: int | None = None,
    frame_id: str | None = None,
    task_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one row inside the caller's transaction (so the action and its record commit together)."""
    conn.execute(
        "INSERT INTO audit (at, actor, action, job_id, frame_id, task_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (now(), actor, action, job_id, frame_id, task_id, json.dumps(detail or {}, separators=(",", ":"))),
    )


def entries(db: Database, *, job_id: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Audit rows, oldest first; only one job's when ``job_id`` is given."""
    sql = "SELECT id, at, actor, action, job_id, frame_id, task_id, detail FROM audit"
    args: list[Any] = []
    if job_id is not None:
        sql += " WHERE job_id = ?"
        args.append(job_id)
    sql += " ORDER BY id"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    with db.connect() as conn:
        rows = conn.execute(sql, args).fetchall()
    return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]
