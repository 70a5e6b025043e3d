"""Worker wake-ups on real Unix datagram sockets: a poke ends the wait, several pokes are one wake-up, a
worker that is not listening is skipped, and a name already taken falls back to polling."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from prelabel.service.wake import WakeSocket, address, supported, wake

pytestmark = pytest.mark.skipif(not supported(), reason="abstract Unix sockets are Linux only")


def test_a_poke_wakes_the_waiting_worker(tmp_path: Path) -> None:
    sock = WakeSocket.open(tmp_path, "ep-1234abcd")
    assert sock is not None
    assert not sock.wait(0.01)  # nothing sent: times out
    wake(tmp_path, ["ep-1234abcd", "ep-notthere"])  # the second is not listening: skipped
    wake(tmp_path, ["ep-1234abcd"])
    t0 = time.monotonic()
    assert sock.wait(5.0) and time.monotonic() - t0 < 5.0
    assert not sock.wait(0.01)  # both pokes were drained by the one wake-up
    sock.poke()  # from the worker itself (a finished invocation)
    assert sock.wait(5.0)
    assert WakeSocket.open(tmp_path, "ep-1234abcd") is None  # the name is taken: that worker would poll instead
    sock.close()
    again = WakeSocket.open(tmp_path, "ep-1234abcd")  # the name is free again once its socket is closed
    assert again is not None
    again.close()


def test_addresses_are_per_state_folder_and_bounded(tmp_path: Path) -> None:
    assert address(tmp_path / "a", "x") != address(tmp_path / "b", "x")
    assert len(address(tmp_path / ("d" * 200), "e" * 63 + "-12345678").encode()) <= 107
