"""Worker instances, scaling events, and the counts /metrics reports."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from prelabel.service.store.base import StoreBase
from prelabel.service.store.schema import LATENCY_BUCKETS, LIVE_INSTANCE_STATES


class Instances(StoreBase):
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

    def instance(self, instance_id: str) -> sqlite3.Row | None:
        return self.one("SELECT * FROM instances WHERE id=?", instance_id)

    def instances_to_drain(self) -> list[str]:
        """Live instances whose endpoint was deleted or is no longer in service."""
        rows = self.all(
            "SELECT i.id FROM instances i LEFT JOIN endpoints e ON e.name=i.endpoint "
            "WHERE i.state IN ('starting','ready') AND (e.name IS NULL OR e.status != 'in_service')"
        )
        return [str(r["id"]) for r in rows]

    def any_failed(self, endpoint: str, instance_ids: list[str]) -> bool:
        """Whether one of ``instance_ids`` of ``endpoint`` recorded a failed load."""
        if not instance_ids:
            return False
        marks = ",".join("?" * len(instance_ids))
        row = self.one(
            f"SELECT 1 FROM instances WHERE endpoint=? AND state='failed' AND id IN ({marks}) LIMIT 1",
            endpoint,
            *instance_ids,
        )
        return row is not None

    def scaling_events(self, endpoint: str, limit: int) -> list[sqlite3.Row]:
        """The newest ``limit`` scaling events of ``endpoint``, oldest first."""
        return self.all(
            "SELECT * FROM (SELECT * FROM scaling_events WHERE endpoint=? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            endpoint,
            limit,
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
