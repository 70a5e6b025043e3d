"""The service's state in one SQLite file (WAL): models, endpoint configs, endpoints, worker instances, scaling
events, and the invocation queue.

The queue is durable: an accepted invocation is a row before the client hears 202. Workers *lease* rows
(``state='leased'``, ``lease_owner``, ``lease_expires``) and renew the lease while they work; a row whose worker
died (its lease released by the supervisor, or simply expired) is leased again. The final transition
(``leased -> completed|failed``) only succeeds for the current lease owner, so it happens once per invocation.
Rows are leased by priority first (synchronous invocations, priority 1, go before queued async ones), then
first-in first-out.

Webhook notices go through an *outbox*: the ``notices`` row is written in the same transaction as the
invocation's final transition, and the supervisor delivers it (at least once, retried with back-off, also after
a restart) until a 2xx marks it delivered or the attempts run out (``state='failed'``). Its key,
``<inference id>:<event>``, lets a receiver drop duplicates.

Connections (one per thread), migrations (on ``user_version``) and transactions (``BEGIN IMMEDIATE``, rolled back
on any error) come from :mod:`prelabel.sqlite`: one writer at a time, readers never blocked under WAL. Times are
UNIX seconds (float).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
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


class Store:
    def __init__(self, state_dir: str | Path) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.state_dir / DB_NAME
        self._conns = sqlite_layer.ThreadLocalConnections(self.path, synchronous="NORMAL")
        sqlite_layer.migrate(self.db, MIGRATIONS, path=str(self.path))

    # ---- connections and transactions
    @property
    def db(self) -> sqlite3.Connection:
        return self._conns.get()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with sqlite_layer.transaction(self.db) as db:
            yield db

    def close(self) -> None:
        self._conns.close()

    def one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(sql, args).fetchone()
        return row

    def all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        return list(self.db.execute(sql, args).fetchall())

    # ---- models, configs, endpoints
    def add_model(self, name: str, model: str, kind: str, options: dict[str, Any]) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO models VALUES (?,?,?,?,?)", (name, model, kind, json.dumps(options), time.time()))

    def add_config(self, row: dict[str, Any]) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO endpoint_configs VALUES (:name,:model_name,:max_concurrency,:output_path,:failure_path,"
                ":success_webhook,:error_webhook,:created_at)",
                {**row, "created_at": time.time()},
            )

    def add_endpoint(self, name: str, config_name: str, policy: dict[str, Any], backend: str) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO endpoints(name,config_name,policy,backend,status,created_at) VALUES (?,?,?,?,?,?)",
                (name, config_name, json.dumps(policy), backend, "in_service", time.time()),
            )

    def endpoint_spec(self, endpoint: str) -> dict[str, Any] | None:
        """Everything a worker needs: model reference and options, concurrency, webhooks, policy."""
        row = self.one(
            "SELECT e.name, e.policy, e.backend, e.status, c.max_concurrency, c.success_webhook, c.error_webhook, "
            "c.output_path, c.failure_path, m.name AS model_name, m.model, m.kind, m.options "
            "FROM endpoints e JOIN endpoint_configs c ON c.name = e.config_name "
            "JOIN models m ON m.name = c.model_name WHERE e.name = ?",
            endpoint,
        )
        if row is None:
            return None
        spec = dict(row)
        spec["policy"] = json.loads(spec["policy"])
        spec["options"] = json.loads(spec["options"])
        return spec

    # ---- the queue
    def enqueue(
        self,
        inference_id: str,
        endpoint: str,
        input_location: str,
        output_location: str,
        failure_location: str,
        params: dict[str, Any] | None = None,
        priority: int = 0,
    ) -> bool:
        """Insert a queued invocation. False if the id exists already (idempotent retries of the same call).
        Higher ``priority`` is leased first (synchronous calls use 1)."""
        with self.tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO invocations(id,endpoint,input_location,output_location,failure_location,state,"
                "created_at,params,priority) VALUES (?,?,?,?,?,'queued',?,?,?)",
                (
                    inference_id,
                    endpoint,
                    input_location,
                    output_location,
                    failure_location,
                    time.time(),
                    json.dumps(params or {}),
                    priority,
                ),
            )
            return cur.rowcount == 1

    def lease(self, endpoint: str, owner: str, limit: int, lease_s: float) -> list[Lease]:
        """Take up to ``limit`` invocations, queued ones and ones whose lease expired: higher priority first
        (synchronous calls), then first-in first-out."""
        if limit <= 0:
            return []
        now = time.time()
        # a read first (no write lock): idle workers poll often and must not queue up for the writer lock
        if not self.one(
            "SELECT 1 FROM invocations WHERE endpoint = ? AND (state = 'queued' OR "
            "(state = 'leased' AND lease_expires < ?)) LIMIT 1",
            endpoint,
            now,
        ):
            return []
        with self.tx() as db:
            rows = db.execute(
                "SELECT * FROM invocations WHERE endpoint = ? AND (state = 'queued' OR "
                "(state = 'leased' AND lease_expires < ?)) ORDER BY priority DESC, created_at LIMIT ?",
                (endpoint, now, limit),
            ).fetchall()
            for r in rows:
                db.execute(
                    "UPDATE invocations SET state='leased', lease_owner=?, lease_expires=?, attempts=attempts+1, "
                    "started_at=COALESCE(started_at, ?) WHERE id=?",
                    (owner, now + lease_s, now, r["id"]),
                )
        return [
            Lease(
                id=r["id"],
                endpoint=r["endpoint"],
                input_location=r["input_location"],
                output_location=r["output_location"],
                failure_location=r["failure_location"],
                attempts=int(r["attempts"]) + 1,
                params=json.loads(r["params"]),
            )
            for r in rows
        ]

    def lease_one(self, inference_id: str, owner: str, lease_s: float) -> Lease | None:
        """Lease one named invocation if it is queued or its lease expired (the Ray Serve path)."""
        now = time.time()
        with self.tx() as db:
            r = db.execute(
                "SELECT * FROM invocations WHERE id=? AND (state='queued' OR (state='leased' AND lease_expires < ?))",
                (inference_id, now),
            ).fetchone()
            if r is None:
                return None
            db.execute(
                "UPDATE invocations SET state='leased', lease_owner=?, lease_expires=?, attempts=attempts+1, "
                "started_at=COALESCE(started_at, ?) WHERE id=?",
                (owner, now + lease_s, now, inference_id),
            )
        return Lease(
            id=r["id"],
            endpoint=r["endpoint"],
            input_location=r["input_location"],
            output_location=r["output_location"],
            failure_location=r["failure_location"],
            attempts=int(r["attempts"]) + 1,
            params=json.loads(r["params"]),
        )

    def renew(self, ids: list[str], owner: str, lease_s: float) -> None:
        if not ids:
            return
        with self.tx() as db:
            db.executemany(
                "UPDATE invocations SET lease_expires=? WHERE id=? AND state='leased' AND lease_owner=?",
                [(time.time() + lease_s, i, owner) for i in ids],
            )

    def holds(self, inference_id: str, owner: str) -> bool:
        row = self.one("SELECT state, lease_owner FROM invocations WHERE id=?", inference_id)
        return row is not None and row["state"] == "leased" and row["lease_owner"] == owner

    def finish(
        self,
        inference_id: str,
        owner: str,
        *,
        ok: bool,
        error: str | None = None,
        error_type: str | None = None,
        model_seconds: float | None = None,
        notice: tuple[str | None, dict[str, Any]] | None = None,
    ) -> bool:
        """The one final transition. True only for the lease owner, once. ``model_seconds``: the model's own time
        (the rest of the latency is the service's overhead). ``notice``: (webhook URL, payload) put in the outbox
        in the same transaction, so a completed invocation always has its notice recorded."""
        with self.tx() as db:
            cur = db.execute(
                "UPDATE invocations SET state=?, completed_at=?, error=?, error_type=?, lease_expires=NULL, "
                "model_seconds=? WHERE id=? AND state='leased' AND lease_owner=?",
                ("completed" if ok else "failed", time.time(), error, error_type, model_seconds, inference_id, owner),
            )
            done = cur.rowcount == 1
            if done and notice is not None:
                self._add_notice(db, inference_id, *notice)
            return done

    # ---- the webhook outbox
    @staticmethod
    def _add_notice(db: sqlite3.Connection, inference_id: str, url: str | None, payload: dict[str, Any]) -> None:
        if not url:
            return
        event = str(payload["event"])
        key = notice_key(inference_id, event)
        now = time.time()
        db.execute(
            "INSERT OR IGNORE INTO notices(key,inference_id,event,endpoint,url,payload,next_attempt_at,created_at) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (key, inference_id, event, payload.get("endpoint", ""), url, json.dumps({**payload, "key": key}), now, now),
        )

    def due_notices(self, limit: int, claim_s: float) -> list[sqlite3.Row]:
        """Pending notices whose time has come, claimed for ``claim_s`` seconds (the time one POST may take)."""
        now = time.time()
        if not self.one("SELECT 1 FROM notices WHERE state='pending' AND next_attempt_at <= ? LIMIT 1", now):
            return []
        with self.tx() as db:
            rows = db.execute(
                "SELECT * FROM notices WHERE state='pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
                (now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE notices SET next_attempt_at=? WHERE key=?", [(now + claim_s, r["key"]) for r in rows]
            )
        return list(rows)

    def notice_attempted(self, key: str, error: str | None, retry_at: float | None) -> None:
        """Record one delivery attempt: delivered (``error`` None), retried at ``retry_at``, or given up."""
        now = time.time()
        with self.tx() as db:
            if error is None:
                db.execute(
                    "UPDATE notices SET state='delivered', attempts=attempts+1, delivered_at=?, last_error=NULL "
                    "WHERE key=?",
                    (now, key),
                )
            else:
                db.execute(
                    "UPDATE notices SET state=?, attempts=attempts+1, last_error=?, next_attempt_at=? WHERE key=?",
                    ("pending" if retry_at is not None else "failed", error, retry_at or now, key),
                )

    def release_notices(self) -> int:
        """After a restart: pending notices are due at once (their attempt counts are kept)."""
        with self.tx() as db:
            return db.execute("UPDATE notices SET next_attempt_at=? WHERE state='pending'", (time.time(),)).rowcount

    def notices(self, inference_id: str) -> list[sqlite3.Row]:
        return self.all("SELECT * FROM notices WHERE inference_id=? ORDER BY created_at", inference_id)

    def release_leases(self, owner: str) -> int:
        """Put back what a dead or stopped worker held, at once (no need to wait for the lease to expire)."""
        with self.tx() as db:
            cur = db.execute(
                "UPDATE invocations SET state='queued', lease_owner=NULL, lease_expires=NULL "
                "WHERE state='leased' AND lease_owner=?",
                (owner,),
            )
            return cur.rowcount

    def fail_queued(
        self,
        endpoint: str,
        reason: str,
        notice: Callable[[sqlite3.Row], tuple[str | None, dict[str, Any]]] | None = None,
        error_type: str = "EndpointFailed",
    ) -> list[sqlite3.Row]:
        """Close every queued invocation of an endpoint as failed (the endpoint cannot run them). ``notice`` is
        called for each inside the transaction (so it can write the error document before anything is committed)
        and gives its (webhook URL, payload) for the outbox."""
        return self._fail_where("endpoint=? AND state='queued'", (endpoint,), lambda r: reason, error_type, notice)

    def fail_orphans(
        self,
        reason: Callable[[sqlite3.Row], str],
        notice: Callable[[sqlite3.Row], tuple[str | None, dict[str, Any]]] | None = None,
    ) -> list[sqlite3.Row]:
        """Close as failed the invocations no worker will ever run: queued (or holding an expired lease) on an
        endpoint that was deleted or has failed. ``reason(row)`` says why for each."""
        cond = (
            "(state='queued' OR (state='leased' AND lease_expires < ?)) AND "
            "(endpoint NOT IN (SELECT name FROM endpoints) OR endpoint IN (SELECT name FROM endpoints WHERE "
            "status='failed'))"
        )
        return self._fail_where(cond, (time.time(),), reason, "EndpointGone", notice)

    def _fail_where(
        self,
        cond: str,
        args: tuple[Any, ...],
        reason: Callable[[sqlite3.Row], str],
        error_type: str,
        notice: Callable[[sqlite3.Row], tuple[str | None, dict[str, Any]]] | None,
    ) -> list[sqlite3.Row]:
        with self.tx() as db:
            rows = db.execute(f"SELECT * FROM invocations WHERE {cond}", args).fetchall()
            now = time.time()
            db.executemany(
                "UPDATE invocations SET state='failed', error=?, error_type=?, completed_at=?, lease_owner=NULL, "
                "lease_expires=NULL WHERE id=?",
                [(reason(r), error_type, now, r["id"]) for r in rows],
            )
            if notice is not None:
                for r in rows:
                    self._add_notice(db, r["id"], *notice(r))
        return list(rows)

    def backlog(self, endpoint: str) -> int:
        row = self.one(
            "SELECT COUNT(*) AS n FROM invocations WHERE endpoint=? AND state IN ('queued','leased')", endpoint
        )
        return int(row["n"]) if row else 0

    def invocation(self, inference_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM invocations WHERE id=?", inference_id)

    # ---- instances
    def add_instance(self, instance_id: str, endpoint: str, pid: int | None) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO instances(id,endpoint,pid,state,started_at) VALUES (?,?,?,?,?)",
                (instance_id, endpoint, pid, "starting", time.time()),
            )

    def set_instance(self, instance_id: str, state: str, error: str | None = None, pid: int | None = None) -> None:
        now = time.time()
        with self.tx() as db:
            db.execute(
                "UPDATE instances SET state=?, error=COALESCE(?, error), pid=COALESCE(?, pid), "
                "ready_at=CASE WHEN ?='ready' THEN ? ELSE ready_at END, "
                "stopped_at=CASE WHEN ? IN ('stopped','failed','dead') THEN ? ELSE stopped_at END WHERE id=?",
                (state, error, pid, state, now, state, now, instance_id),
            )

    def instance_state(self, instance_id: str) -> str | None:
        row = self.one("SELECT state FROM instances WHERE id=?", instance_id)
        return None if row is None else str(row["state"])

    def live_instances(self, endpoint: str | None = None) -> list[sqlite3.Row]:
        marks = ",".join("?" * len(LIVE_INSTANCE_STATES))
        if endpoint is None:
            return self.all(f"SELECT * FROM instances WHERE state IN ({marks}, 'draining')", *LIVE_INSTANCE_STATES)
        return self.all(
            f"SELECT * FROM instances WHERE endpoint=? AND state IN ({marks})", endpoint, *LIVE_INSTANCE_STATES
        )

    # ---- scaling events
    def log_scaling(
        self, endpoint: str, from_n: int, to_n: int, backlog: int, action: str, reason: str, at: float | None = None
    ) -> None:
        at = time.time() if at is None else at
        with self.tx() as db:
            db.execute(
                "INSERT INTO scaling_events(endpoint,at,from_instances,to_instances,backlog,action,reason) "
                "VALUES (?,?,?,?,?,?,?)",
                (endpoint, at, from_n, to_n, backlog, action, reason),
            )
            if action == "scale_out":
                db.execute("UPDATE endpoints SET last_scale_out=? WHERE name=?", (at, endpoint))
            elif action == "scale_in":
                db.execute("UPDATE endpoints SET last_scale_in=? WHERE name=?", (at, endpoint))

    # ---- metrics
    def metrics_rows(self) -> dict[str, Any]:
        """Counts per endpoint for /metrics: states, errors, latency histogram (seconds from accept to done)."""
        states = self.all("SELECT endpoint, state, COUNT(*) AS n FROM invocations GROUP BY endpoint, state")
        buckets = ", ".join(f"SUM(completed_at - created_at <= {b}) AS b{i}" for i, b in enumerate(LATENCY_BUCKETS))
        lat = self.all(
            f"SELECT endpoint, COUNT(*) AS n, SUM(completed_at - created_at) AS total, "
            f"SUM(COALESCE(model_seconds, 0)) AS model_total, {buckets} "
            "FROM invocations WHERE state='completed' GROUP BY endpoint"
        )
        notices = self.all("SELECT endpoint, state, COUNT(*) AS n FROM notices GROUP BY endpoint, state")
        return {
            "states": [dict(r) for r in states],
            "latency": [dict(r) for r in lat],
            "notices": [dict(r) for r in notices],
        }
