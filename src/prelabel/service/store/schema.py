"""The service database's schema: tables, migrations (on ``user_version``), states and the rows handed out."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from prelabel import sqlite as sqlite_layer

DB_NAME = "service.sqlite3"

# the schema of prelabel 0.1 (user_version 0); later versions only add to it through MIGRATIONS
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS models(
  name TEXT PRIMARY KEY, model TEXT NOT NULL, kind TEXT NOT NULL, options TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS endpoint_configs(
  name TEXT PRIMARY KEY, model_name TEXT NOT NULL, max_concurrency INTEGER NOT NULL, output_path TEXT NOT NULL,
  failure_path TEXT NOT NULL, success_webhook TEXT, error_webhook TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS endpoints(
  name TEXT PRIMARY KEY, config_name TEXT NOT NULL, policy TEXT NOT NULL, backend TEXT NOT NULL,
  status TEXT NOT NULL, failure_reason TEXT, created_at REAL NOT NULL,
  last_scale_out REAL NOT NULL DEFAULT 0, last_scale_in REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS instances(
  id TEXT PRIMARY KEY, endpoint TEXT NOT NULL, pid INTEGER, state TEXT NOT NULL, started_at REAL NOT NULL,
  ready_at REAL, stopped_at REAL, error TEXT);
CREATE TABLE IF NOT EXISTS invocations(
  id TEXT PRIMARY KEY, endpoint TEXT NOT NULL, input_location TEXT NOT NULL, output_location TEXT NOT NULL,
  failure_location TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, lease_owner TEXT,
  lease_expires REAL, created_at REAL NOT NULL, started_at REAL, completed_at REAL, error TEXT,
  params TEXT NOT NULL DEFAULT '{}', model_seconds REAL);
CREATE INDEX IF NOT EXISTS invocations_queue ON invocations(endpoint, state, created_at);
CREATE TABLE IF NOT EXISTS notices(
  key TEXT PRIMARY KEY, inference_id TEXT NOT NULL, event TEXT NOT NULL, endpoint TEXT NOT NULL, url TEXT NOT NULL,
  payload TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at REAL NOT NULL, last_error TEXT, created_at REAL NOT NULL, delivered_at REAL);
CREATE INDEX IF NOT EXISTS notices_due ON notices(state, next_attempt_at);
CREATE INDEX IF NOT EXISTS notices_invocation ON notices(inference_id);
CREATE TABLE IF NOT EXISTS scaling_events(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, endpoint TEXT NOT NULL, at REAL NOT NULL, from_instances INTEGER NOT NULL,
  to_instances INTEGER NOT NULL, backlog INTEGER NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL);
"""


def _v1_base_and_priority(db: sqlite3.Connection) -> None:
    """Version 1: the 0.1 tables (created if missing) with the sync-call ``priority`` column.

    A 0.1 file has ``user_version`` 0 and its tables already; some were written before ``priority`` existed. This
    is the one place that looks at the columns, and only to bring such a file to version 1.
    """
    for statement in sqlite_layer.statements(SCHEMA_V1):
        db.execute(statement)
    columns = {str(r["name"]) for r in db.execute("PRAGMA table_info(invocations)")}
    if "priority" not in columns:
        db.execute("ALTER TABLE invocations ADD COLUMN priority INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX IF NOT EXISTS invocations_lease ON invocations(endpoint, state, priority, created_at)")


#: Migration i brings the file from user_version i to i + 1 (prelabel.sqlite.migrate); append, never edit.
MIGRATIONS: list[sqlite_layer.Migration] = [
    _v1_base_and_priority,
    # 2: why an invocation failed, as a type (shown by describe_invocation even when no error document could be
    # written)
    "ALTER TABLE invocations ADD COLUMN error_type TEXT;",
]

# invocation states in the table -> what the API reports
PUBLIC_STATE = {"queued": "queued", "leased": "running", "completed": "completed", "failed": "failed"}
LIVE_INSTANCE_STATES = ("starting", "ready")

# latency histogram buckets (seconds) for /metrics
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def notice_key(inference_id: str, event: str) -> str:
    """The idempotency key of a webhook notice: the same for every delivery attempt of it."""
    return f"{inference_id}:{event}"


@dataclass(frozen=True)
class Lease:
    """One invocation a worker holds."""

    id: str
    endpoint: str
    input_location: str
    output_location: str
    failure_location: str
    attempts: int
    params: dict[str, Any]


def lease_from_row(row: sqlite3.Row) -> Lease:
    """The lease a worker gets for ``row`` (read before the lease's UPDATE: its attempt is the next one)."""
    return Lease(
        id=row["id"],
        endpoint=row["endpoint"],
        input_location=row["input_location"],
        output_location=row["output_location"],
        failure_location=row["failure_location"],
        attempts=int(row["attempts"]) + 1,
        params=json.loads(row["params"]),
    )
