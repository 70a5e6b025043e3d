"""Persisted bulk jobs: id, configuration, progress and per-item state in one SQLite file per job.

A job lives in ``<state root>/<job id>/job.sqlite`` (state root: ``--state``, ``$PRELABEL_STATE``, or
``~/.local/state/prelabel/jobs``), always on local disk even when inputs and outputs are on S3. Each frame is an item
(``seq`` = its position in the input) with state ``pending``, ``done`` or ``failed``; a finished item's labels record
is stored with its state in the same transaction, so after a crash (even ``kill -9``) every item is either finished
with its record or still pending: resuming labels each pending frame once and never repeats a finished one. The
labels file is written from the items when the job completes (atomically, streamed: memory stays flat).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prelabel import sqlite, storage
from prelabel.core.labels import Frame, FrameRecord
from prelabel.errors import InputNotFoundError, PrelabelError
from prelabel.inference.runner import RunSummary

STATE_ENV = "PRELABEL_STATE"
DB_NAME = "job.sqlite"
MAX_FAILURES_KEPT = 1000

#: Schema versions (``PRAGMA user_version``); migration ``i`` brings a file from version ``i`` to ``i + 1``.
#: Version 1 is prelabel 0.1's schema: its files (user_version 0 with an ``items`` table) are stamped as version 1.
_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY,
    frame_id TEXT NOT NULL,
    frame TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    record TEXT,
    error TEXT,
    updated_at REAL
);
CREATE INDEX IF NOT EXISTS items_state ON items (state, seq);
"""
MIGRATIONS: list[sqlite.Migration] = [_V1]


class JobConfig(BaseModel):
    """Everything needed to (re)run a job. ``predictor`` holds the Predictor's keyword options."""

    model_config = ConfigDict(extra="forbid")

    input: str
    output: str
    model: str
    predictor: dict[str, Any] = Field(default_factory=dict)
    topics: list[str] | None = None
    fps: float | None = None
    every: int | None = None
    executor: str = "local"
    executor_options: dict[str, Any] = Field(default_factory=dict)


def state_root(root: str | Path | None = None) -> Path:
    if root:
        return Path(root).expanduser()
    env = os.environ.get(STATE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "state" / "prelabel" / "jobs"


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


class JobNotFoundError(InputNotFoundError):
    pass


class Job:
    """A handle on one job's SQLite file. Safe to share between threads (one connection, one lock)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.id = directory.name
        self.path = directory / DB_NAME
        self._lock = threading.RLock()
        self._db = sqlite.connect(self.path, check_same_thread=False)
        try:
            sqlite.adopt_unversioned(self._db, "items", 1, baseline=_V1)
            sqlite.migrate(self._db, MIGRATIONS, path=str(self.path))
        except BaseException:
            self._db.close()
            raise

    # -- lifecycle
    @classmethod
    def create(cls, config: JobConfig, root: str | Path | None = None, job_id: str | None = None) -> Job:
        directory = state_root(root) / (job_id or new_job_id())
        directory.mkdir(parents=True, exist_ok=False)
        job = cls(directory)
        now = str(time.time())
        job.set_meta({"id": job.id, "config": config.model_dump_json(), "status": "listing", "created_at": now})
        return job

    @classmethod
    def open(cls, ref: str, root: str | Path | None = None) -> Job:
        """A job by id (under the state root) or by the path of its folder."""
        cand = [Path(ref).expanduser(), state_root(root) / ref]
        for d in cand:
            if (d / DB_NAME).is_file():
                return cls(d)
        known = [p.name for p in list_jobs(root)][-10:]
        raise JobNotFoundError(
            f"{ref} (looked in {state_root(root)}; recent jobs: {', '.join(known) or 'none'})", what="job"
        )

    def acquire(self) -> None:
        """Claim the job for this process (an OS file lock, released on exit, even on ``kill -9``); a job already
        running elsewhere is refused."""
        import fcntl

        if getattr(self, "_lock_fd", None) is not None:
            return
        fd = os.open(self.dir / "run.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise PrelabelError(f"job {self.id} is being run by another process (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd: int | None = fd

    def close(self) -> None:
        with self._lock:
            self._db.close()
        fd = getattr(self, "_lock_fd", None)
        if fd is not None:
            os.close(fd)
            self._lock_fd = None

    # -- metadata
    def set_meta(self, values: dict[str, str]) -> None:
        """Set several metadata keys in one transaction."""
        with self._lock, sqlite.transaction(self._db):
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    def _get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @property
    def config(self) -> JobConfig:
        return JobConfig.model_validate_json(self._get("config") or "{}")

    @property
    def status(self) -> str:
        return self._get("status") or "unknown"

    def set_status(self, status: str, error: str | None = None) -> None:
        values = {"status": status, "updated_at": str(time.time())}
        if error is not None:
            values["error"] = error
        self.set_meta(values)

    def meta(self) -> dict[str, str]:
        with self._lock:
            return {str(k): str(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    # -- items
    def add_frames(self, frames: Iterable[Frame], batch: int = 512) -> int:
        """Store the input's frames as pending items, in order. Idempotent by position: re-listing after a crash
        during listing keeps the items already stored."""
        n = 0
        rows: list[tuple[int, str, str]] = []

        def flush() -> None:
            with self._lock, sqlite.transaction(self._db):
                self._db.executemany("INSERT OR IGNORE INTO items (seq, frame_id, frame) VALUES (?, ?, ?)", rows)
            rows.clear()

        for frame in frames:
            rows.append((n, frame.id, frame.model_dump_json(exclude_none=True)))
            n += 1
            if len(rows) >= batch:
                flush()
        if rows:
            flush()
        self.set_meta({"total": str(n), "status": "ready"})
        return n

    def pending(self, page: int = 256) -> Iterator[tuple[int, Frame]]:
        """Pending items in order, read a page at a time (no cursor is held open while the caller works)."""
        sql = "SELECT seq, frame FROM items WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?"
        for seq, frame in self._paged(sql, page):
            yield seq, Frame.model_validate_json(frame)

    def _paged(self, sql: str, page: int) -> Iterator[tuple[int, str]]:
        """``(seq, value)`` rows of ``sql`` (parameters: the last seq read, the page size), a page at a time."""
        last = -1
        while True:
            with self._lock:
                rows = self._db.execute(sql, (last, page)).fetchall()
            if not rows:
                return
            for seq, value in rows:
                last = int(seq)
                yield last, value

    def complete(self, results: Iterable[tuple[int, FrameRecord]]) -> int:
        """Record finished items in one transaction. An item already finished is left as it was (never twice)."""
        now = time.time()
        rows = [("failed" if r.status == "failed" else "done", r.to_json(), r.error, now, seq) for seq, r in results]
        if not rows:
            return 0
        with self._lock, sqlite.transaction(self._db):
            cur = self._db.executemany(
                "UPDATE items SET state = ?, record = ?, error = ?, updated_at = ? WHERE seq = ? AND state = 'pending'",
                rows,
            )
        return int(cur.rowcount)

    def retry_failed(self) -> int:
        with self._lock:
            cur = self._db.execute(
                "UPDATE items SET state = 'pending', record = NULL, error = NULL WHERE state = 'failed'"
            )
        return int(cur.rowcount)

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall()
        out = {"pending": 0, "done": 0, "failed": 0}
        out.update({str(s): int(n) for s, n in rows})
        out["total"] = sum(out[k] for k in ("pending", "done", "failed"))
        return out

    def records(self, page: int = 256) -> Iterator[FrameRecord]:
        """Finished records in input order."""
        sql = "SELECT seq, record FROM items WHERE state != 'pending' AND seq > ? ORDER BY seq LIMIT ?"
        for _, rec in self._paged(sql, page):
            yield FrameRecord.from_json(rec)

    # -- output
    def finalize(self) -> RunSummary:
        """Write the labels file (one record per frame, input order) to the job's output and mark the job completed.

        Returns the summary of the whole job (every run of it)."""
        counts = self.counts()
        if counts["pending"]:
            raise PrelabelError(f"job {self.id} still has {counts['pending']} pending frames; resume it first")
        out = self.config.output
        summary = RunSummary()
        with storage.open(out, "w", newline="\n") as fh:  # streamed; appears whole, or not at all
            for rec in self.records():
                fh.write(rec.to_json() + "\n")
                _add(summary, rec)
        self.set_meta({"status": "completed", "finished_at": str(time.time())})
        return summary


def _add(summary: RunSummary, rec: FrameRecord) -> None:
    summary.add(rec)
    if len(summary.failures) > MAX_FAILURES_KEPT:
        summary.failures.pop()


def list_jobs(root: str | Path | None = None) -> list[Path]:
    base = state_root(root)
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if (p / DB_NAME).is_file())


def job_overview(job: Job) -> dict[str, Any]:
    meta = job.meta()
    cfg = json.loads(meta.get("config", "{}"))
    return {
        "id": job.id,
        "status": meta.get("status"),
        **job.counts(),
        "input": cfg.get("input"),
        "output": cfg.get("output"),
        "model": cfg.get("model"),
        "executor": cfg.get("executor"),
        "created_at": float(meta.get("created_at", "0")),
        "error": meta.get("error"),
    }


def labels_per_class(records: Iterable[FrameRecord]) -> Counter[str]:
    c: Counter[str] = Counter()
    for r in records:
        c.update(label.category for label in r.labels)
    return c
