"""The durable queue's rules on a real SQLite file, and the write-once output, without a server."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from prelabel.service.delivery import write_once
from prelabel.service.store import Store


def _queue(tmp_path: Path, n: int) -> Store:
    store = Store(tmp_path / "state")
    for i in range(n):
        assert store.enqueue(f"inv{i}", "ep", f"/in/{i}.png", f"/out/{i}.json", f"/fail/{i}.json")
    return store


def test_leases_are_fifo_exclusive_and_expire(tmp_path: Path) -> None:
    store = _queue(tmp_path, 5)
    assert not store.enqueue("inv0", "ep", "/in/0.png", "/out/0.json", "/fail/0.json")  # same id: no second row
    a = store.lease("ep", "A", 2, lease_s=0.2)
    b = store.lease("ep", "B", 10, lease_s=30)
    assert [x.id for x in a] == ["inv0", "inv1"] and [x.id for x in b] == ["inv2", "inv3", "inv4"]
    assert store.lease("ep", "C", 10, lease_s=30) == []  # all held
    assert store.backlog("ep") == 5
    time.sleep(0.3)  # A stops renewing (hung or dead): its leases expire and go to the next worker
    c = store.lease("ep", "C", 10, lease_s=30)
    assert [(x.id, x.attempts) for x in c] == [("inv0", 2), ("inv1", 2)]
    assert not store.finish("inv0", "A", ok=True)  # A lost the lease: its late answer does not count
    assert store.finish("inv0", "C", ok=True, model_seconds=0.01)
    assert not store.finish("inv0", "C", ok=True)  # the final transition happens once
    assert store.release_leases("B") == 3  # B died: its work is queued again at once
    assert [x.id for x in store.lease("ep", "D", 10, lease_s=30)] == ["inv2", "inv3", "inv4"]
    assert store.backlog("ep") == 4


def test_concurrent_workers_never_share_an_invocation(tmp_path: Path) -> None:
    store = _queue(tmp_path, 60)
    got: dict[str, list[str]] = {}

    def worker(name: str) -> None:
        s = Store(tmp_path / "state")  # a connection of its own, like a worker process
        mine: list[str] = []
        while batch := s.lease("ep", name, 3, lease_s=30):
            mine += [x.id for x in batch]
        got[name] = mine

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in got.values() for i in ids]
    assert sorted(every) == sorted(f"inv{i}" for i in range(60))  # each exactly once
    assert store.backlog("ep") == 60  # leased, not finished


def test_write_once_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "o" / "x.json"
    assert write_once(str(out), b"first")
    assert not write_once(str(out), b"second")
    assert out.read_bytes() == b"first"
    assert [p.name for p in out.parent.iterdir()] == ["x.json"]  # no temporary files left


def test_webhook_is_retried_after_a_server_error() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    calls: list[int] = []

    class Flaky(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            calls.append(503 if not calls else 204)
            self.send_response(calls[-1])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    from prelabel.service.delivery import notify

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert notify(f"http://127.0.0.1:{server.server_address[1]}/hook", {"event": "success"})
        assert calls == [503, 204]
        server.shutdown()
        server.server_close()
        assert not notify(f"http://127.0.0.1:{server.server_address[1]}/hook", {"event": "x"}, attempts=2)
    finally:
        server.server_close()
