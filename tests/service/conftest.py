"""Fixtures for the service tests: a real ``prelabel serve`` process and a real webhook receiver, on 127.0.0.1."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from prelabel.client import Client
from prelabel.service.launch import ServiceProcess, free_port
from tests.conftest import REPO, SHARED_DATA

FRAMES = ["000001", "000005", "000008", "000013", "000020", "000027"]


class Webhooks:
    """An HTTP server that records every JSON notice POSTed to it (with its ``Idempotency-Key`` header as
    ``idempotency_key``). ``fail_first``: answer 503 to the first that many POSTs of each key (recorded in
    ``rejected``); ``port``: listen there (a receiver that comes up after the service has tried it)."""

    def __init__(self, port: int = 0, fail_first: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                notice = {"path": self.path, "idempotency_key": self.headers.get("idempotency-key"), **json.loads(body)}
                with hooks.lock:
                    seen = sum(r["idempotency_key"] == notice["idempotency_key"] for r in hooks.rejected)
                    ok = seen >= fail_first
                    (hooks.received if ok else hooks.rejected).append(notice)
                self.send_response(204 if ok else 503)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.received if e["path"] == path]

    def counts(self, path: str) -> Counter[str]:
        return Counter(e["inference_id"] for e in self.events(path))

    def wait(self, path: str, n: int, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """The notices at ``path`` once there are ``n`` of them (a notice is sent just after the state changes)."""
        deadline = time.monotonic() + timeout_s
        while len(self.events(path)) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # and a moment more, so a duplicate would show
        return self.events(path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(predicate: Callable[[], object], timeout_s: float = 60.0, what: str = "condition") -> None:
    """Return once ``predicate()`` is true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def leased_by_a_worker(db: sqlite3.Connection, endpoint: str, timeout_s: float = 60.0) -> tuple[str, str, int]:
    """Once a ready worker of ``endpoint`` holds a lease (read from the service's SQLite file): (the invocation,
    the worker instance, its pid). Fails the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = db.execute(
            "SELECT v.id, i.id, i.pid FROM invocations v JOIN instances i ON i.id = v.lease_owner "
            "WHERE v.endpoint = ? AND v.state = 'leased' AND i.state = 'ready' LIMIT 1",
            (endpoint,),
        ).fetchone()
        if row is not None:
            return str(row[0]), str(row[1]), int(row[2])
        time.sleep(0.02)
    raise AssertionError(f"no worker of {endpoint} took work within {timeout_s} s")


def service_options(tmp_path_factory: pytest.TempPathFactory, *urls: str) -> dict[str, Any]:
    """What the tests' services may touch: pytest's temporary folders, the shared data and ``urls`` (webhook
    receivers, endpoints used as models); python: test models."""
    allow = [arg for url in urls for arg in ("--allow-url", url)]
    return {"roots": [tmp_path_factory.getbasetemp(), SHARED_DATA], "allow_python_models": True, "extra_args": allow}


@pytest.fixture(scope="module")
def webhooks() -> Iterator[Webhooks]:
    w = Webhooks()
    yield w
    w.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, kitti: Path, webhooks: Webhooks) -> Iterator[ServiceProcess]:
    """One real service for a test module (state in a temp folder); stopped with SIGTERM at the end. It may call
    the module's webhook receiver and its own endpoints (as another endpoint's model)."""
    state = tmp_path_factory.mktemp("service-state")
    port = free_port()
    options = service_options(tmp_path_factory, webhooks.url, f"http://127.0.0.1:{port}/endpoints")
    svc = ServiceProcess(state, port=port, tick_s=0.1, lease_s=10.0, cwd=REPO, **options).start()
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def client(service: ServiceProcess) -> Iterator[Client]:
    with Client(service.url) as c:
        yield c


@pytest.fixture()
def frames(kitti_frames: Callable[..., Path]) -> list[Path]:
    d = kitti_frames(*FRAMES)
    return [d / f"{f}.png" for f in FRAMES]
