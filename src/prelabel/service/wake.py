"""Wake-ups for workers: work arrives, a worker takes it at once instead of at its next poll of SQLite.

Each worker binds a Unix datagram socket in Linux's abstract namespace (no file, gone with the process), named
from the state folder and the instance id. The API server sends one byte to every live instance of an endpoint
after it queues an invocation there; the supervisor does the same when it puts work back in the queue or tells an
instance to drain; a worker pokes itself when one of its invocations finishes (a slot is free). An idle worker
blocks in ``select`` on its socket, with a slow fallback poll (1 s) for what nobody announces: a lease that
expired in a hung worker, or a platform without abstract sockets (then the worker polls as before).

The other direction uses the same mechanism: the API server binds the socket named :data:`API` and a worker sends
it the id of each invocation it has just finished (after the commit), so a synchronous call or a long poll
answers at once instead of reading SQLite in a loop (:mod:`prelabel.service.completions`).

A wake-up carries no data and grants nothing: the SQLite lease is still what decides who runs what, so a lost or
spurious datagram costs at most one poll.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import select
import socket
import sys
from collections.abc import Iterable
from pathlib import Path

FALLBACK_POLL_S = 1.0
#: an announcement that starts with this added no webhook notice: the server's outbox need not look
QUIET = "#"
#: the instance name the API server's own socket is bound under (workers tell it what they finished)
API = "api"


def address(state_dir: str | Path, instance: str) -> str:
    """The abstract socket name of ``instance`` (at most 108 bytes: the state folder is hashed)."""
    return _address(str(Path(state_dir).absolute()), instance)


@functools.lru_cache(maxsize=1024)
def _address(state_dir: str, instance: str) -> str:
    digest = hashlib.sha1(state_dir.encode()).hexdigest()[:16]
    return f"\0prelabel-{digest}-{instance}"[:107]


_SENDER: socket.socket | None = None


def _sender() -> socket.socket:
    """One unbound, non-blocking datagram socket per process for every announcement and wake-up it sends (the
    API server sends one per invocation it queues; ``sendto`` on it is safe from any thread)."""
    global _SENDER
    if _SENDER is None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.setblocking(False)
        _SENDER = s
    return _SENDER


def supported() -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "AF_UNIX")


class WakeSocket:
    """The worker's end: ``wait(timeout)`` returns when poked (True) or after ``timeout`` (False)."""

    def __init__(self, state_dir: str | Path, instance: str) -> None:
        self.address = address(state_dir, instance)
        self.api_address = address(state_dir, API)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self.sock.bind(self.address)
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)

    @classmethod
    def open(cls, state_dir: str | Path, instance: str) -> WakeSocket | None:
        """The socket, or None where abstract sockets are not available (the worker then polls)."""
        if not supported():
            return None
        try:
            return cls(state_dir, instance)
        except OSError:
            return None

    def wait(self, timeout_s: float) -> bool:
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout_s))
        woken = False
        while True:  # several pokes are one wake-up
            try:
                self.sock.recv(64)
                woken = True
            except (BlockingIOError, InterruptedError):
                break
        return woken or bool(ready)

    def poke(self, *_: object) -> None:
        """Wake this worker's own loop (e.g. from a finished invocation's callback thread)."""
        with contextlib.suppress(OSError):
            _sender().sendto(b"!", self.address)

    def announce(self, inference_id: str, notice: bool = True) -> None:
        """Tell the API server that ``inference_id`` has reached its final state (committed); ``notice``: a
        webhook notice was put in the outbox with it (False: the outbox is not kicked)."""
        with contextlib.suppress(OSError):
            _sender().sendto(_datagram(inference_id, notice), self.api_address)

    def close(self) -> None:
        self.sock.close()


def _datagram(inference_id: str, notice: bool) -> bytes:
    return (inference_id if notice else QUIET + inference_id).encode()


def parse(datagram: bytes) -> tuple[str, bool]:
    """(inference id, whether a webhook notice came with it) of an announcement."""
    text = datagram.decode(errors="replace")
    return (text[len(QUIET) :], False) if text.startswith(QUIET) else (text, True)


def announce(state_dir: str | Path, inference_ids: Iterable[str], notice: bool = True) -> None:
    """Tell the API server that these invocations have reached their final state (skipped when it is not
    listening: it then learns of them at its next fallback read); ``notice``: see :meth:`WakeSocket.announce`."""
    if not supported():
        return
    target = address(state_dir, API)
    s = _sender()
    for iid in inference_ids:
        with contextlib.suppress(OSError):
            s.sendto(_datagram(iid, notice), target)


def wake(state_dir: str | Path, instances: Iterable[str]) -> None:
    """Poke each instance's worker; silently skips those not listening (starting, gone, another platform)."""
    if not supported():
        return
    s = _sender()
    for instance in instances:
        with contextlib.suppress(OSError):  # not bound (yet), or its buffer is full: it is awake anyway
            s.sendto(b"!", address(state_dir, instance))
