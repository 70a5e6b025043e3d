"""Frame images over real HTTP: only from the job's allowed roots, only as images, no server-side fetch, never a 500;
sign-in attempts rate-limited per account and per address (429 + Retry-After) and reset by a good sign-in."""

from __future__ import annotations

import http.server
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import free_port
from tests.helpers.images import png_header_only
from tests.review.conftest import PASSWORDS, Server

from prelabel.labelfile import read_records
from prelabel.review.db import Database
from prelabel.review.review_jobs import create_job
from prelabel.review.tasks import assign
from prelabel.review.throttle import LoginThrottle


@pytest.fixture()
def http_origin() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 that records every request it gets (the portal must send none)."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", free_port()), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", seen
    finally:
        httpd.shutdown()


def test_frames_only_from_roots_and_only_as_images(
    server: Server,
    prelabels: Path,
    kitti: Path,
    shared_data: Path,
    tmp_path: Path,
    http_origin: tuple[str, list[str]],
) -> None:
    from prelabel.sources.rosbag import bag_frames

    bag_frame = next(iter(bag_frames(str(shared_data / "rosbags" / "kitti_object_3f_sqlite3"))))
    origin, seen = http_origin
    root = tmp_path / "frames"
    root.mkdir()
    shutil.copy(kitti / "image_2" / "000001.png", root / "real.png")
    (root / "evil.html").write_text("<script>document.title='pwned'</script>")
    (root / "page.png").write_text("<html><script>alert(1)</script></html>")  # HTML named .png
    (root / "bomb.png").write_bytes(png_header_only(30000, 30000))
    (root / "link.png").symlink_to("/etc/passwd")
    uris = {
        "real": str(root / "real.png"),
        "passwd": "/etc/passwd",
        "dotdot": f"{root}/../../../../../../etc/passwd",
        "link": str(root / "link.png"),
        "html": str(root / "evil.html"),
        "page": str(root / "page.png"),
        "bomb": str(root / "bomb.png"),
        "http": f"{origin}/frame.png",
        "missing": str(root / "gone.png"),
        "folder": str(root),
        "bag": bag_frame.uri,  # a frame inside a rosbag2 folder under the portal's roots: decoded, sent as PNG
    }
    template = read_records(prelabels)[0]
    records = [
        template.model_copy(update={"frame": template.frame.model_copy(update={"id": fid, "uri": uri})})
        for fid, uri in uris.items()
    ]
    db = Database(server.state)
    job, _ = create_job(db, "frames", "adjust", records, source=str(tmp_path / "x.jsonl"), roots=[str(root)])
    assign(db, job.id, ["alice"])
    alice, _ = server.login("alice")
    tasks = {t["frame"]: t["task"] for t in alice.get("/api/tasks").json()["tasks"]}
    assert set(tasks) == set(uris)

    def get(fid: str):  # type: ignore[no-untyped-def]
        return alice.get(f"/api/tasks/{tasks[fid]}/image")

    r = get("bag")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(b"\x89PNG")
    r = get("real")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content == (kitti / "image_2" / "000001.png").read_bytes()
    for fid in ("passwd", "dotdot", "link"):
        r = get(fid)
        assert r.status_code == 403 and "outside the allowed roots" in r.json()["error"], (fid, r.text)
        assert "root:" not in r.text
    for fid in ("html", "page"):
        r = get(fid)
        assert r.status_code == 415 and "not an image" in r.json()["error"], (fid, r.text)
        assert "text/html" not in r.headers["content-type"] and "<script>" not in r.text
    r = get("bomb")
    assert r.status_code == 413 and "30000x30000" in r.json()["error"]
    r = get("http")
    assert r.status_code == 403 and "does not fetch http(s) frames" in r.json()["error"]
    assert seen == []  # the server never fetched it
    assert get("missing").status_code == 404
    assert get("folder").status_code == 404
    # nothing above was a server error
    for fid in uris:
        assert get(fid).status_code < 500


def test_login_is_rate_limited_per_account_and_address(server: Server) -> None:
    c = server.client()

    def attempt(user: str, password: str):  # type: ignore[no-untyped-def]
        page = c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        return c.post("/login", data={"username": user, "password": password, "csrf_token": token.group(1)})

    for _ in range(5):
        assert attempt("alice", "wrong-password").status_code == 303
    r = attempt("alice", PASSWORDS["alice"])  # even the right password waits: the account is throttled
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "too many failed sign-ins" in r.text
    # the limit is per account and per address: from this address bob is throttled too
    assert attempt("bob", PASSWORDS["bob"]).status_code == 429


def test_throttle_backs_off_exponentially_capped_and_resets() -> None:
    now = [1000.0]
    t = LoginThrottle(free=3, cap=60, clock=lambda: now[0])
    for _ in range(3):
        t.check("alice", "10.0.0.1")
        t.failed("alice", "10.0.0.1")
    waits = []
    for _ in range(10):
        with pytest.raises(Exception) as e:
            t.check("alice", "10.0.0.2")  # another address: the account itself is throttled
        waits.append(e.value.retry_after)  # type: ignore[attr-defined]
        now[0] += e.value.retry_after  # type: ignore[attr-defined]
        t.check("alice", "10.0.0.2")
        t.failed("alice", "10.0.0.2")
    assert waits[:4] == [1, 2, 4, 8] and max(waits) == 60  # doubling, capped at a minute
    t.succeeded("alice", "10.0.0.2")
    t.check("alice", "10.0.0.2")  # a good sign-in clears the account and the address
    t.check("alice", "10.0.0.3")
