"""Completion events in the API server: a finished invocation is announced, not discovered by polling.

The server binds the abstract Unix datagram socket :data:`prelabel.service.wake.API` of its state folder; a worker
sends it an invocation's id right after committing the invocation's final state, and the supervisor does the
same for invocations it closes itself. The event loop reads the socket (``add_reader``: no thread) and sets the
:class:`asyncio.Event` of every request waiting for that id; listeners (the webhook outbox) are kicked too.

A datagram is a hint, never the truth: a waiter re-reads the invocation's row after each wake-up, and at least every
:data:`~prelabel.service.wake.FALLBACK_POLL_S` seconds, so a lost datagram (full buffer, a Ray replica on another
node, a platform without abstract sockets) costs at most that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from pathlib import Path

from prelabel.service.wake import API, address, parse, supported

log = logging.getLogger("prelabel.service")


class Completions:
    def __init__(self, state_dir: str | Path) -> None:
        self.address = address(state_dir, API)
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._listeners: list[Callable[[], None]] = []

    @property
    def listening(self) -> bool:
        return self._sock is not None

    def add_listener(self, fn: Callable[[], None]) -> None:
        """``fn()`` is called (in the event loop) after each batch of announcements that brought a webhook notice
        (announcements say whether they did); it must not block."""
        self._listeners.append(fn)

    def start(self) -> None:
        """Bind and read in the running event loop; without abstract sockets (or when another server holds the
        name) waiters fall back to reading the store."""
        if not supported():
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(self.address)
        except OSError as e:
            sock.close()
            log.warning("completion notices off (cannot bind %r: %s); waiting calls re-read the store", self.address, e)
            return
        sock.setblocking(False)
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)

    def stop(self) -> None:
        if self._sock is None:
            return
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None

    def _readable(self) -> None:
        assert self._sock is not None
        notices = False
        while True:
            try:
                data = self._sock.recv(256)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            inference_id, notice = parse(data)
            notices = notices or notice
            for ev in self._waiters.get(inference_id, ()):
                ev.set()
        if notices:  # a completion that added no webhook notice (the worker says so) does not kick the outbox
            for fn in self._listeners:
                try:
                    fn()
                except Exception:
                    log.exception("completion listener failed")

    async def wait(self, inference_id: str, is_done: Callable[[], bool], timeout_s: float, poll_s: float) -> bool:
        """Wait until ``is_done()`` (checked at once, after each announcement of ``inference_id`` and every
        ``poll_s``) or ``timeout_s``; True when done."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        ev = asyncio.Event()
        self._waiters.setdefault(inference_id, set()).add(ev)
        try:
            while True:
                if is_done():
                    return True
                left = deadline - loop.time()
                if left <= 0:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ev.wait(), timeout=min(left, poll_s))
                ev.clear()
        finally:
            waiters = self._waiters.get(inference_id)
            if waiters is not None:
                waiters.discard(ev)
                if not waiters:
                    del self._waiters[inference_id]
