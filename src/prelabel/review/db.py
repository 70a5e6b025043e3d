"""The portal's state: one SQLite file under the state folder. A connection per unit of work (thread safe).

Opened through :mod:`prelabel.sqlite` (pragmas, versioned migrations, rollback on error). Times are UTC ISO-8601
strings. JSON columns hold compact JSON text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from prelabel import sqlite

T = TypeVar("T")

DB_NAME = "review.sqlite3"

#: Version 1: prelabel 0.1's schema (its files, user_version 0 with a ``jobs`` table, are stamped as version 1).
_V1 = """
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('admin', 'worker')),
  password_hash TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  token_hash TEXT PRIMARY KEY,
  user_name TEXT NOT NULL REFERENCES users(name),
  csrf_token TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL CHECK (type IN ('adjust', 'verify')),
  attribute TEXT NOT NULL,
  source TEXT NOT NULL,
  source_format TEXT NOT NULL,
  categories TEXT NOT NULL,
  instructions TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS frames (
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  frame_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  certainty REAL NOT NULL,
  boxes INTEGER NOT NULL DEFAULT 0,
  record TEXT NOT NULL,
  manifest_line TEXT,
  PRIMARY KEY (job_id, frame_id)
);
CREATE TABLE IF NOT EXISTS tasks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  frame_id TEXT NOT NULL,
  worker TEXT NOT NULL REFERENCES users(name),
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'submitted')),
  assigned_at TEXT NOT NULL,
  opened_at TEXT,
  submitted_at TEXT,
  UNIQUE (job_id, frame_id, worker)
);
CREATE INDEX IF NOT EXISTS tasks_worker ON tasks(worker, status);
CREATE TABLE IF NOT EXISTS responses (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  job_id INTEGER NOT NULL,
  frame_id TEXT NOT NULL,
  worker TEXT NOT NULL,
  submitted_at TEXT NOT NULL,
  seconds REAL,
  payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_job ON responses(job_id, frame_id);
CREATE INDEX IF NOT EXISTS responses_task ON responses(task_id);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  job_id INTEGER,
  frame_id TEXT,
  task_id INTEGER,
  detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_job ON audit(job_id);
"""
#: Migration ``i`` brings the file from schema version ``i`` to ``i + 1``.
MIGRATIONS: list[sqlite.Migration] = [_V1]


def from_row(cls: type[T], row: sqlite3.Row, **values: Any) -> T:
    """A dataclass of a table row: each field from the column of its name, unless given in ``values``."""
    return cls(**{f.name: values[f.name] if f.name in values else row[f.name] for f in fields(cls)})  # type: ignore[arg-type]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Database:
    """The SQLite file ``<state_dir>/review.sqlite3``; created with its schema on first use."""

    def __init__(self, state_dir: str | Path) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.state_dir / DB_NAME
        with self.connect() as conn:
            sqlite.adopt_unversioned(conn, "jobs", 1, baseline=_V1)
            sqlite.migrate(conn, MIGRATIONS, path=str(self.path))

    def _open(self) -> sqlite3.Connection:
        return sqlite.connect(self.path, synchronous="FULL", check_same_thread=False)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode (each statement stands alone); closed afterwards."""
        conn = self._open()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside ``BEGIN IMMEDIATE``: committed when the block ends, rolled back on error."""
        conn = self._open()
        try:
            with sqlite.transaction(conn):
                yield conn
        finally:
            conn.close()
