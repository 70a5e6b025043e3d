"""The invocation queue: accept, lease, renew, finish (once), put back, and close what nobody will run."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypedDict, Unpack

from prelabel.service.store.base import StoreBase
from prelabel.service.store.notices import add_notice
from prelabel.service.store.schema import Lease, lease_from_row


class Outcome(TypedDict, total=False):
    """How an invocation ended, besides ok or not (see :meth:`Queue.finish_and_lease`)."""

    error: str | None
    error_type: str | None
    model_seconds: float | None
    notice: tuple[str | None, dict[str, Any]] | None


def _lease_in(db: sqlite3.Connection, endpoint: str, owner: str, limit: int, lease_s: float, now: float) -> list[Lease]:
    """Lease up to ``limit`` runnable invocations of ``endpoint`` inside the caller's transaction."""
    rows = db.execute(
        "SELECT * FROM invocations WHERE endpoint = ? AND (state = 'queued' OR "
        "(state = 'leased' AND lease_expires < ?)) ORDER BY priority DESC, created_at LIMIT ?",
        (endpoint, now, limit),
    ).fetchall()
    db.executemany(
        "UPDATE invocations SET state='leased', lease_owner=?, lease_expires=?, attempts=attempts+1, "
        "started_at=COALESCE(started_at, ?) WHERE id=?",
        [(owner, now + lease_s, now, r["id"]) for r in rows],
    )
    return [lease_from_row(r) for r in rows]


class Queue(StoreBase):
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
            return _lease_in(db, endpoint, owner, limit, lease_s, now)

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
        return lease_from_row(r)

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

    def finish(self, inference_id: str, owner: str, *, ok: bool, **outcome: Unpack[Outcome]) -> bool:
        """The one final transition (:meth:`finish_and_lease` without a next lease; ``outcome``: its error,
        error_type, model_seconds and notice). True only for the lease owner, once."""
        done, _ = self.finish_and_lease(inference_id, owner, ok=ok, **outcome)
        return done

    def finish_and_lease(
        self,
        inference_id: str,
        owner: str,
        *,
        ok: bool,
        error: str | None = None,
        error_type: str | None = None,
        model_seconds: float | None = None,
        notice: tuple[str | None, dict[str, Any]] | None = None,
        then_lease: tuple[str, float] | None = None,
    ) -> tuple[bool, Lease | None]:
        """The one final transition: (done, next lease); done is True only for the lease owner, once.
        ``model_seconds``: the model's own time (the rest of the latency is the service's overhead). ``notice``:
        (webhook URL, payload) put in the outbox in the same transaction, so a completed invocation always has its
        notice recorded. With ``then_lease`` = (endpoint, lease seconds), also the next runnable invocation of that
        endpoint leased to the same owner in the same transaction: a busy worker commits once per invocation, and
        the thread that finished one goes on with the next without a hand-off. The next lease is taken only with a
        final state that this call made (not after a lost lease), in the same commit."""
        with self.tx() as db:
            cur = db.execute(
                "UPDATE invocations SET state=?, completed_at=?, error=?, error_type=?, lease_expires=NULL, "
                "model_seconds=? WHERE id=? AND state='leased' AND lease_owner=?",
                ("completed" if ok else "failed", time.time(), error, error_type, model_seconds, inference_id, owner),
            )
            done = cur.rowcount == 1
            if done and notice is not None:
                add_notice(db, inference_id, *notice)
            nxt = None
            if done and then_lease is not None:  # a late answer (lease lost) takes nothing more
                got = _lease_in(db, then_lease[0], owner, 1, then_lease[1], time.time())
                nxt = got[0] if got else None
            return done, nxt

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
                    add_notice(db, r["id"], *notice(r))
        return list(rows)

    def backlog(self, endpoint: str) -> int:
        row = self.one(
            "SELECT COUNT(*) AS n FROM invocations WHERE endpoint=? AND state IN ('queued','leased')", endpoint
        )
        return int(row["n"]) if row else 0

    def invocation(self, inference_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM invocations WHERE id=?", inference_id)

    def invocations(self, inference_ids: list[str]) -> dict[str, sqlite3.Row]:
        """The rows of several invocations by id, in one query whatever their number (the ids travel as one JSON
        array, so SQLite's limit on bound variables does not apply); unknown ids are absent."""
        rows = self.all(
            "SELECT * FROM invocations WHERE id IN (SELECT value FROM json_each(?))", json.dumps(inference_ids)
        )
        return {str(r["id"]): r for r in rows}

    def fail_abandoned_sync_calls(self) -> int:
        """Close as failed the synchronous calls a previous run accepted (their client is gone with that run)."""
        with self.tx() as db:
            return db.execute(
                "UPDATE invocations SET state='failed', error_type='Abandoned', completed_at=?, lease_owner=NULL, "
                "lease_expires=NULL, error='the service restarted before this synchronous call was answered' "
                "WHERE priority=1 AND state IN ('queued','leased')",
                (time.time(),),
            ).rowcount

    def invocation_ids(self, endpoint: str, state: str | None, limit: int) -> list[str]:
        """Ids of an endpoint's invocations (in ``state`` when given), oldest first."""
        sql = "SELECT id FROM invocations WHERE endpoint=?" + (" AND state=?" if state else "")
        args: list[Any] = [endpoint] + ([state] if state else [])
        return [str(r["id"]) for r in self.all(sql + " ORDER BY created_at LIMIT ?", *args, limit)]

    def runnable_ids(self, endpoint: str) -> list[str]:
        """Queued invocations and ones whose lease expired, in lease order (the Ray Serve dispatcher)."""
        rows = self.all(
            "SELECT id FROM invocations WHERE endpoint=? AND (state='queued' OR "
            "(state='leased' AND lease_expires < ?)) ORDER BY priority DESC, created_at",
            endpoint,
            time.time(),
        )
        return [str(r["id"]) for r in rows]

    def leases_per_owner(self, endpoint: str) -> dict[str, int]:
        """Instance id -> invocations of ``endpoint`` it holds."""
        rows = self.all(
            "SELECT lease_owner, COUNT(*) AS n FROM invocations WHERE endpoint=? AND state='leased' "
            "GROUP BY lease_owner",
            endpoint,
        )
        return {str(r["lease_owner"]): int(r["n"]) for r in rows}
