"""Review portal fixtures: real KITTI frames pre-labelled by the real SSD detector, a portal state folder with users,
and a real uvicorn server on 127.0.0.1 at a free port."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.conftest import free_port

from prelabel.core.labels import FrameRecord
from prelabel.labelfile import write_records

FRAMES = ["000001", "000008", "000013", "000020"]
PASSWORDS = {"admin": "admin-pass-1", "alice": "alice-pass-1", "bob": "bob-pass-12"}


@pytest.fixture(scope="session")
def prelabels(ssd, kitti: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labels file: SSD-MobileNetV2 on four KITTI frames (scores >= 0.3)."""
    from prelabel.inference.predictor import Predictor
    from prelabel.sources.images import image_frames

    predictor = Predictor(ssd, job="kitti-prelabel", min_score=0.3)
    frames = [f for f in image_frames(str(kitti / "image_2")) if f.id in FRAMES]
    records = predictor(frames)
    for r in records:
        for lb in r.labels:
            assert lb.score is not None
    records = [r.model_copy(update={"labels": [lb for lb in r.labels if (lb.score or 0) >= 0.3]}) for r in records]
    assert all(r.status == "ok" for r in records)
    assert sum(len(r.labels) for r in records) >= 8
    out = tmp_path_factory.mktemp("prelabels") / "labels.jsonl"
    write_records(out, records)
    return out


def read_labels(path: Path) -> list[FrameRecord]:
    from prelabel.labelfile import read_records

    return read_records(path)


@dataclass
class Server:
    url: str
    state: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=30)

    def login(self, user: str, password: str | None = None) -> tuple[httpx.Client, str]:
        """A signed-in client and its CSRF token, through the real login form."""
        c = self.client()
        page = c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, page.text
        r = c.post(
            "/login",
            data={"username": user, "password": password or PASSWORDS[user], "csrf_token": token.group(1)},
        )
        assert r.status_code == 303 and r.headers["location"].endswith("/"), (r.status_code, r.text)
        me = c.get("/api/me").json()
        assert me["user"] == user
        return c, me["csrf_token"]


def start_server(app, prefix: str = "") -> Iterator[str]:  # type: ignore[no-untyped-def]
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("the portal server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}{prefix}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture()
def state(tmp_path: Path) -> Path:
    from prelabel.review.db import Database
    from prelabel.review.workforce import create_user

    db = Database(tmp_path / "state")
    create_user(db, "admin", PASSWORDS["admin"], "admin")
    create_user(db, "alice", PASSWORDS["alice"], "worker")
    create_user(db, "bob", PASSWORDS["bob"], "worker")
    return tmp_path / "state"


@pytest.fixture()
def server(state: Path, shared_data: Path, prelabels: Path) -> Iterator[Server]:
    from prelabel.review.web import create_portal_app

    # frames come from the real data, job sources from the pre-labels' folder
    for url in start_server(create_portal_app(state, roots=[str(shared_data), str(prelabels.parent)])):
        yield Server(url=url, state=state)
