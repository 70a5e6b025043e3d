"""Sign-in attempts rate-limited per account and per client address, without locking the real user out for long.

Each key (``user:<name>``, ``client:<address>``) may fail ``free`` times; after that every further failure doubles
the wait before the next attempt (1 s, 2 s, 4 s ...), capped at ``cap`` seconds. A successful sign-in clears the
account's and the client's counts; counts also expire after ``forget`` seconds without failures. Memory is bounded
(the oldest keys are dropped past ``max_keys``). In-process: one portal process, one set of counters.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from prelabel.review.errors import TooManyAttemptsError


@dataclass
class _Entry:
    failures: int
    last: float


class LoginThrottle:
    def __init__(
        self,
        *,
        free: int = 5,
        cap: float = 60.0,
        forget: float = 900.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.cap, self.forget, self.max_keys = free, cap, forget, max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def _wait(self, key: str, now: float) -> float:
        e = self._entries.get(key)
        if e is None:
            return 0.0
        if now - e.last > self.forget:
            del self._entries[key]
            return 0.0
        if e.failures < self.free:
            return 0.0
        delay = min(self.cap, 2.0 ** (e.failures - self.free))
        return max(0.0, e.last + delay - now)

    def check(self, user: str, client: str | None) -> None:
        """Raise :class:`TooManyAttemptsError` when the account or the address must wait before trying again."""
        now = self._clock()
        with self._lock:
            for key, what in ((f"user:{user}", f"account {user!r}"), (f"client:{client}", f"address {client}")):
                wait = self._wait(key, now)
                if wait > 0:
                    seconds = max(1, math.ceil(wait))
                    raise TooManyAttemptsError(
                        f"too many failed sign-ins for {what}; try again in {seconds} s", retry_after=seconds
                    )

    def failed(self, user: str, client: str | None) -> None:
        now = self._clock()
        with self._lock:
            for key in (f"user:{user}", f"client:{client}"):
                e = self._entries.pop(key, None) or _Entry(0, now)
                e.failures += 1
                e.last = now
                self._entries[key] = e
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)

    def succeeded(self, user: str, client: str | None) -> None:
        with self._lock:
            self._entries.pop(f"user:{user}", None)
            self._entries.pop(f"client:{client}", None)
