"""The webhook outbox (the ``notices`` table): a notice is written with its invocation's final transition and
delivered (at least once) by the server's outbox thread."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from prelabel.service.store.base import StoreBase
from prelabel.service.store.schema import notice_key


def add_notice(db: sqlite3.Connection, inference_id: str, url: str | None, payload: dict[str, Any]) -> None:
    """Put a notice in the outbox inside the caller's transaction (nothing when there is no webhook)."""
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


class Notices(StoreBase):
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

    def next_notice_at(self) -> float | None:
        """When the next pending notice is due (None: nothing pending)."""
        row = self.one("SELECT MIN(next_attempt_at) AS t FROM notices WHERE state='pending'")
        return None if row is None or row["t"] is None else float(row["t"])

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

    def notices_of(self, inference_ids: list[str]) -> dict[str, list[sqlite3.Row]]:
        """The notices of several invocations by invocation id, each oldest first, in one query whatever their
        number; an invocation without notices is absent."""
        rows = self.all(
            "SELECT * FROM notices WHERE inference_id IN (SELECT value FROM json_each(?)) ORDER BY created_at",
            json.dumps(inference_ids),
        )
        out: dict[str, list[sqlite3.Row]] = {}
        for r in rows:
            out.setdefault(str(r["inference_id"]), []).append(r)
        return out
