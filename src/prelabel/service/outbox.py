"""Webhook delivery from the outbox (the ``notices`` table): at least once, retried with back-off.

A notice row is written in the same transaction as its invocation's final state, so a worker killed right after
completing an invocation cannot lose its notice. This thread (in the server process, next to the supervisor)
POSTs every due notice with an ``Idempotency-Key: <inference id>:<event>`` header (also the payload's ``key``),
marks it delivered on a 2xx answer and otherwise retries it after ``backoff_s * 2**(attempts-1)`` seconds
(capped at ``backoff_max_s``), until ``attempts`` tries have failed: then it is marked failed (shown by
``GET /invocations/{id}`` and counted in ``prelabel_webhook_failures_total``). A notice POSTed just before the
service died, but not yet marked delivered, is sent again after the restart: receivers de-duplicate by key.

The thread does not poll: it sleeps until the next pending notice is due, or until it is kicked (:meth:`Outbox.kick`,
called when an invocation's completion is announced), or at the latest ``poll_s`` (1 s: for notices nobody
announced, e.g. written by a Ray replica on another node).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prelabel.service.delivery import post_notice
from prelabel.service.store import Store

log = logging.getLogger("prelabel.service.webhooks")


class Outbox:
    def __init__(
        self,
        store: Store,
        *,
        attempts: int = 10,
        backoff_s: float = 1.0,
        backoff_max_s: float = 300.0,
        timeout_s: float = 5.0,
        threads: int = 4,
        poll_s: float = 1.0,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"webhook attempts must be at least 1; got {attempts}")
        self.store = store
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self.threads = threads
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        self.store.release_notices()  # what a previous run left pending is due now
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="webhook")
        self._thread = threading.Thread(target=self._loop, name="prelabel-outbox", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        """Look for due notices now (a completion was announced). Never blocks."""
        self._kick.set()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 5)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self.run_once()
            except Exception:
                log.exception("outbox pass failed")
                sent = 0
            if not sent and not self._stop.is_set():
                self._kick.wait(self._idle_s())
            self._kick.clear()

    def _idle_s(self) -> float:
        """Until the next pending notice is due, at most ``poll_s``."""
        try:
            due = self.store.next_notice_at()
        except Exception:
            log.exception("outbox: cannot read the next due time")
            return self.poll_s
        return self.poll_s if due is None else min(self.poll_s, max(0.0, due - time.time()))

    def run_once(self) -> int:
        """Deliver the notices due now (concurrently); how many were tried."""
        rows = self.store.due_notices(self.threads * 4, claim_s=self.timeout_s + 30)
        if not rows:
            return 0
        if self._pool is None:
            for r in rows:
                self.deliver(dict(r))
        else:
            list(self._pool.map(self.deliver, [dict(r) for r in rows]))
        return len(rows)

    def deliver(self, row: dict[str, Any]) -> None:
        key, url = row["key"], row["url"]
        error = post_notice(url, json.loads(row["payload"]), key, timeout_s=self.timeout_s)
        attempt = int(row["attempts"]) + 1
        if error is None:
            self.store.notice_attempted(key, None, None)
            return
        if attempt >= self.attempts:
            log.error("webhook %s for %s: gave up after %d attempts: %s", url, key, attempt, error)
            self.store.notice_attempted(key, error, None)
            return
        delay = min(self.backoff_s * 2 ** (attempt - 1), self.backoff_max_s)
        log.warning(
            "webhook %s for %s: attempt %d/%d failed (%s); retry in %.2g s",
            url,
            key,
            attempt,
            self.attempts,
            error,
            delay,
        )
        self.store.notice_attempted(key, error, time.time() + delay)
