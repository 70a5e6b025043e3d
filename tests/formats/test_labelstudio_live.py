"""A live Label Studio round trip: real SSD pre-labels on KITTI frames go into a real Label Studio 1.23 server
(started here on 127.0.0.1, offline, its own data dir), a person's review is made through its HTTP API, and the
project's JSON export is read back and merged by region id.

Label Studio lives in its own virtual environment (``make labelstudio-venv``, scripts/labelstudio-venv.sh);
``PRELABEL_LABELSTUDIO`` may name another ``label-studio`` executable.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prelabel.core.labels import FrameRecord, ReviewState
from prelabel.errors import FormatError
from prelabel.formats import labelstudio as ls
from tests.conftest import REPO, free_port

LS_BIN = Path(os.environ.get("PRELABEL_LABELSTUDIO", REPO / ".venv-ls" / "bin" / "label-studio"))
USER = "reviewer@example.com"

pytestmark = pytest.mark.slow


class LabelStudio:
    """An API client authenticated the way Label Studio 1.23 documents (legacy tokens are off by default): log in,
    create a personal access token (a JWT refresh token), trade it for an access token."""

    def __init__(self, url: str, password: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as web:
            web.get("/user/login/")
            csrf = web.cookies["csrftoken"]
            r = web.post(
                "/user/login/",
                data={"email": USER, "password": password, "csrfmiddlewaretoken": csrf},
                headers={"Referer": f"{url}/user/login/"},
            )
            assert r.status_code == 302, f"login as {USER}: HTTP {r.status_code}"
            r = web.post("/api/token/", headers={"X-CSRFToken": web.cookies["csrftoken"], "Referer": url})
            assert r.status_code == 201, f"POST /api/token/: HTTP {r.status_code}: {r.text[:300]}"
            refresh = r.json()["token"]
        r = httpx.post(f"{url}/api/token/refresh/", json={"refresh": refresh}, timeout=60)
        assert r.status_code == 200, f"POST /api/token/refresh/: HTTP {r.status_code}: {r.text[:300]}"
        access = r.json()["access"]
        self.client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {access}"}, timeout=60)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.client.request(method, path, **kw)
        assert r.status_code < 300, f"{method} {path}: HTTP {r.status_code}: {r.text[:500]}"
        return r.json()


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudio]:
    if not LS_BIN.exists():
        pytest.fail(f"Label Studio not found at {LS_BIN}; run `make labelstudio-venv` (or set PRELABEL_LABELSTUDIO)")
    home = tmp_path_factory.mktemp("labelstudio")
    port, password = free_port(), secrets.token_hex(8)
    env = {
        **os.environ,
        "HOME": str(home),
        "LABEL_STUDIO_BASE_DATA_DIR": str(home / "data"),
        "LATEST_VERSION_CHECK": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "COLLECT_ANALYTICS": "false",
    }
    cmd = [str(LS_BIN), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port)]
    cmd += ["--data-dir", str(home / "data"), "--username", USER, "--password", password]
    log = (home / "server.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            if proc.poll() is not None:
                pytest.fail(f"label-studio exited with {proc.returncode}:\n{(home / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"label-studio did not answer in 240 s:\n{(home / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        server = LabelStudio(url, password)
        yield server
        server.client.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and anything it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def prelabels(ssd, kitti: Path) -> list[FrameRecord]:  # type: ignore[no-untyped-def]
    """Real SSD pre-labels (score >= 0.3) on three KITTI frames with at least two boxes each."""
    from prelabel.inference.predictor import Predictor
    from prelabel.sources.images import image_frames

    predictor = Predictor(ssd)
    out: list[FrameRecord] = []
    for frame in image_frames(str(kitti / "image_2")):
        rec = predictor.predict_frame(frame)
        rec.labels = [lb for lb in rec.labels if (lb.score or 0) >= 0.3]
        if len(rec.labels) >= 2:
            out.append(rec)
        if len(out) == 3:
            return out
    pytest.fail("fewer than three KITTI frames with two SSD boxes of score >= 0.3")


def _tasks(server: LabelStudio, project: int) -> list[dict[str, Any]]:
    page = server.call("GET", "/api/tasks", params={"project": project, "page_size": 100, "fields": "all"})
    return list(page["tasks"] if isinstance(page, dict) else page)


def test_prelabels_survive_a_live_label_studio_review(
    label_studio: LabelStudio, prelabels: list[FrameRecord], tmp_path: Path
) -> None:
    tasks_file = tmp_path / "tasks.json"
    summary = ls.write(prelabels, str(tasks_file), url_prefix="/data/local-files/?d=image_2/")
    assert summary.frames == 3 and summary.labels == sum(len(r.labels) for r in prelabels)

    config = ls.labeling_config(sorted({lb.category for r in prelabels for lb in r.labels}))
    project = label_studio.call("POST", "/api/projects", json={"title": "prelabel round trip", "label_config": config})
    pid = project["id"]
    imported = label_studio.call(
        "POST",
        f"/api/projects/{pid}/import",
        content=tasks_file.read_bytes(),
        headers={"Content-Type": "application/json"},
    )
    assert imported["task_count"] == 3 and imported["prediction_count"] == 3

    # a person reviews the first frame: moves its first box 5% right, deletes its second, accepts the rest
    by_frame = {t["data"][ls.FRAME_ID_KEY]: t for t in _tasks(label_studio, pid)}
    first = prelabels[0]
    task = by_frame[first.frame.id]
    (prediction,) = task["predictions"]
    regions = [dict(r) for r in prediction["result"]]
    moved_id, deleted_id = regions[0]["id"], regions[1]["id"]
    regions[0]["value"] = {**regions[0]["value"], "x": regions[0]["value"]["x"] + 5.0}
    kept = [r for r in regions if r["id"] != deleted_id]
    for r in kept:
        r.pop("score", None)
    label_studio.call("POST", f"/api/tasks/{task['id']}/annotations/", json={"result": kept, "lead_time": 12.5})

    # the quick export lists prediction ids only: reading it would lose the predictions, so it is refused
    quick = label_studio.call("GET", f"/api/projects/{pid}/export", params={"exportType": "JSON"})
    (tmp_path / "quick.json").write_text(json.dumps(quick), encoding="utf-8")
    with pytest.raises(FormatError, match="ids only"):
        list(ls.read(str(tmp_path / "quick.json")))

    # an export snapshot with full predictions and annotators (the quick GET .../export lists prediction ids only)
    options = {"predictions": {"only_id": False}, "annotations__completed_by": {"only_id": False}}
    snap = label_studio.call("POST", f"/api/projects/{pid}/exports/", json={"serialization_options": options})
    deadline = time.monotonic() + 60
    while snap["status"] != "completed":
        assert snap["status"] in ("created", "in_progress", "queued") and time.monotonic() < deadline, snap
        time.sleep(0.5)
        snap = label_studio.call("GET", f"/api/projects/{pid}/exports/{snap['id']}")
    r = label_studio.client.get(f"/api/projects/{pid}/exports/{snap['id']}/download", params={"exportType": "JSON"})
    assert r.status_code == 200, r.text[:300]
    export_file = tmp_path / "export.json"
    export_file.write_bytes(r.content)
    back = {r.frame.id: r for r in ls.read(str(export_file))}
    assert set(back) == {r.frame.id for r in prelabels}

    w = first.frame.width
    assert w is not None
    for sent in prelabels:
        got = {lb.id: lb for lb in back[sent.frame.id].labels}
        assert set(got) == {lb.id for lb in sent.labels}
        assert back[sent.frame.id].frame.width == sent.frame.width
        assert back[sent.frame.id].frame.height == sent.frame.height
        for lb in sent.labels:
            g = got[lb.id]
            assert g.category == lb.category
            assert g.box is not None and lb.box is not None
            expected = list(lb.box.xyxy)
            if lb.id == moved_id:
                expected[0] += 0.05 * w
                expected[2] += 0.05 * w
                assert g.review == ReviewState.ADJUSTED and g.source == f"human:{USER}" and g.score is None
            elif sent is first and lb.id == deleted_id:
                assert g.review == ReviewState.REJECTED and g.source == lb.source
            elif sent is first:
                assert g.review == ReviewState.ACCEPTED and g.source == lb.source and g.score == pytest.approx(lb.score)
            else:
                assert g.review == ReviewState.PENDING and g.source == lb.source and g.score == pytest.approx(lb.score)
            assert g.box.xyxy == pytest.approx(expected, abs=1e-6)
