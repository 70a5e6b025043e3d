"""Completion announcements: a waiting call wakes when a worker announces the invocation, not by polling."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from prelabel.service.completions import Completions
from prelabel.service.wake import WakeSocket, announce, supported

pytestmark = pytest.mark.skipif(not supported(), reason="abstract Unix sockets are Linux-only")


def test_a_waiter_wakes_on_the_announcement_of_its_invocation_only(tmp_path: Path) -> None:
    done: set[str] = set()
    checks: list[str] = []

    def is_done(iid: str) -> bool:
        checks.append(iid)
        return iid in done

    async def scenario() -> tuple[bool, bool, bool]:
        completions = Completions(tmp_path)
        kicked = threading.Event()
        completions.add_listener(kicked.set)
        completions.start()
        assert completions.listening
        worker = WakeSocket(tmp_path, "w1")  # a worker's socket announces through the same datagrams

        def finish_later() -> None:
            done.add("other")
            announce(tmp_path, ["other"])  # another invocation: our waiter is not woken by it
            done.add("mine")
            worker.announce("mine")

        loop = asyncio.get_running_loop()
        loop.call_later(0.05, threading.Thread(target=finish_later).start)
        t0 = loop.time()
        # the fallback read is 30 s away: only the announcement can end this wait in time
        got = await completions.wait("mine", lambda: is_done("mine"), timeout_s=10, poll_s=30)
        assert loop.time() - t0 < 5
        missing = await completions.wait("never", lambda: is_done("never"), timeout_s=0.2, poll_s=30)
        worker.close()
        completions.stop()
        return got, missing, kicked.is_set()

    got, missing, kicked = asyncio.run(scenario())
    assert got and not missing and kicked  # the listener (the webhook outbox) was kicked too
    assert checks.count("mine") == 2  # once at the start, once after its announcement: no polling in between


def test_a_second_server_on_the_same_state_falls_back_to_reading(tmp_path: Path) -> None:
    async def scenario() -> tuple[bool, bool]:
        first, second = Completions(tmp_path), Completions(tmp_path)
        first.start()
        second.start()  # the name is taken: no exception, the waiters of this one read the store
        listening = (first.listening, second.listening)
        ok = await second.wait("x", iter([False, True]).__next__, timeout_s=5, poll_s=0.05)
        first.stop()
        second.stop()
        return listening == (True, False), ok

    assert asyncio.run(scenario()) == (True, True)
