"""Sequence jobs over HTTP and the CLI: a job from a Ground Truth video-frame tracking manifest of the real BDD100K
sequences (frame sizes read from the images), tasks per chunk, frame images only for the task's worker, CSRF, bad
requests answered with a clear message; ``prelabel review create-job --kind sequence`` on KITTI tracking labels."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.review.conftest import Server, start_server
from tests.review.test_sequence_jobs import bdd_labels, kitti_records, prelabel_answer

from prelabel.labelfile import read_records, write_records


@pytest.fixture()
def seq_server(state: Path, shared_data: Path, tmp_path: Path) -> Iterator[Server]:
    from prelabel.review.web import create_portal_app

    for url in start_server(create_portal_app(state, roots=[str(shared_data), str(tmp_path)])):
        yield Server(url=url, state=state)


def _video_manifest(shared_data: Path, tmp_path: Path) -> Path:
    from prelabel.formats import groundtruth_video

    recs = [r for seq in ("00091078-875c1f73", "b1c66a42-6f7d68ca") for r in read_records(
        bdd_labels(shared_data, tmp_path / f"{seq}.jsonl", seq))]  # fmt: skip
    dst = tmp_path / "video" / "input.manifest"
    groundtruth_video.write(recs, str(dst))
    return dst


def test_video_manifest_job_over_http(seq_server: Server, shared_data: Path, tmp_path: Path) -> None:
    from prelabel.formats import groundtruth_video
    from prelabel.review.db import Database
    from prelabel.review.export import export_job

    manifest = _video_manifest(shared_data, tmp_path)
    admin, acsrf = seq_server.login("admin")
    h = {"X-CSRF-Token": acsrf}
    r = admin.post("/admin/jobs", json={"name": "v", "source": str(manifest), "kind": "sequence", "type": "verify"},
                   headers=h)  # fmt: skip
    assert r.status_code == 422 and "a sequence job is an adjust job" in r.json()["error"]
    r = admin.post("/admin/jobs", json={"name": "v", "source": str(manifest), "kind": "film"}, headers=h)
    assert r.status_code == 422 and "expected one of: auto, frame, sequence" in r.json()["error"]
    r = admin.post("/admin/jobs", json={"name": "v", "source": str(manifest), "chunk": "4x"}, headers=h)
    assert r.status_code == 422 and "'chunk'" in r.json()["error"]
    r = admin.post("/admin/jobs", json={"name": "v", "source": str(manifest), "chunk": 4, "chunk_overlap": 4},
                   headers=h)  # fmt: skip
    assert r.status_code == 422 and "chunk overlap" in r.json()["error"] and "must be 0-3" in r.json()["error"]
    r = admin.post("/admin/jobs", json={"name": "v", "source": str(manifest), "chunk": 4}, headers=h)  # kind auto
    assert r.status_code == 200, r.text
    s = r.json()
    assert (s["frames"], s["sequences"], s["tasks_per_worker"], s["untracked"]) == (12, 2, 4, 0)
    job = s["job"]
    r = admin.post(f"/admin/jobs/{job}/assign", json={"workers": ["alice"]}, headers=h)
    assert r.json()["new_tasks"] == 4
    assert "sequence, up to 4 frames per task" in admin.get(f"/admin/jobs/{job}").text

    alice, csrf = seq_server.login("alice")
    page = alice.get("/tasks").text
    assert "b1c66a42-6f7d68ca part 2/2 · 2 frames" in page and "00091078-875c1f73 part 1/2 · 4 frames" in page
    queue = alice.get("/api/tasks").json()["tasks"]
    assert len(queue) == 4
    tid = queue[0]["task"]
    t = alice.get(f"/api/tasks/{tid}").json()
    assert t["kind"] == "sequence" and 2 <= len(t["frames"]) <= 4
    assert {(f["width"], f["height"]) for f in t["frames"]} == {(1280, 720)}  # read from the images
    img = alice.get(t["frames"][-1]["image"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg" and len(img.content) > 50_000
    assert alice.get(f"/api/tasks/{tid}/frames/{len(t['frames'])}/image").status_code == 404
    assert alice.get(f"/tasks/{tid}").text.count('src="/static/sequence.js"') == 1
    bob, bcsrf = seq_server.login("bob")
    assert bob.get(f"/api/tasks/{tid}").status_code == 404
    assert bob.get(f"/api/tasks/{tid}/frames/0/image").status_code == 404
    answer = prelabel_answer(t)
    assert bob.post(f"/api/tasks/{tid}/response", json=answer, headers={"X-CSRF-Token": bcsrf}).status_code == 404
    assert alice.post(f"/api/tasks/{tid}/response", json=answer).status_code == 403  # no CSRF token
    bad = json.loads(json.dumps(answer))
    bad["frames"][0]["boxes"][0]["source"] = "guessed"
    r = alice.post(f"/api/tasks/{tid}/response", json=bad, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and "source must be one of human, interpolated, prelabel" in r.json()["error"]
    answer["frames"][0]["boxes"][0]["source"] = "human"
    r = alice.post(f"/api/tasks/{tid}/response", json=answer, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    again = alice.get(f"/api/tasks/{tid}").json()
    assert again["status"] == "submitted" and again["previous"]["frames"][0]["boxes"][0]["source"] == "human"

    stats = admin.get(f"/api/admin/jobs/{job}/stats").json()
    assert stats["frames_reviewed"] == len(t["frames"]) and stats["tasks_submitted"] == 1
    res = export_job(Database(seq_server.state), job, str(tmp_path / "out"))
    assert res["frames_reviewed"] == len(t["frames"]) and res["worker_responses"] == 1
    back = list(groundtruth_video.read(res["tracking_manifest"]))
    marks = [lb.attributes["review_source"] for r in back for lb in r.labels]
    assert marks.count("human") == 1 and set(marks) == {"human", "prelabel"}
    assert all(lb.track_id for r in back for lb in r.labels)

    # the same tracking output over HTTP, for admins only: the manifest, and the files it names beside it
    base = f"/admin/jobs/{job}/tracking"
    r = admin.get(f"{base}/output.manifest")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    exported = Path(res["tracking_manifest"]).parent
    assert r.text == (exported / "output.manifest").read_text()
    lines = [json.loads(line) for line in r.text.splitlines()]
    refs = [line[k] for line in lines for k in ("source-ref", "prelabel-boxes-adjusted-ref")]
    assert len(refs) == 2 and all("/" not in ref for ref in refs)
    for ref in refs:  # relative refs resolve against the manifest's URL: the files are routes beside it
        f = admin.get(f"{base}/{ref}")
        assert f.status_code == 200 and f.headers["content-type"] == "application/json"
        assert f.text == (exported / ref).read_text()
    assert admin.get(f"{base}/labels.jsonl").status_code == 404  # only the tracking output's own files
    assert admin.get(f"{base}/..%2F..%2Freview.sqlite3").status_code == 404
    assert admin.get(f"{base}/%2E%2E").status_code == 404
    assert admin.get(f"/admin/jobs/{job + 99}/tracking/output.manifest").status_code == 404
    assert alice.get(f"{base}/output.manifest").status_code == 403
    assert alice.get(f"{base}/{refs[1]}").status_code == 403
    anon = seq_server.client().get(f"{base}/output.manifest")  # not signed in: to the sign-in page, as for pages
    assert anon.status_code == 303 and "/login" in anon.headers["location"]


def test_cli_sequence_job(tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from prelabel.cli.main import app

    monkeypatch.setenv("PRELABEL_STATE", str(tmp_path / "st"))
    labels = tmp_path / "kitti-0001.jsonl"
    write_records(labels, kitti_records(shared_data))
    run = CliRunner().invoke
    r = run(app, ["review", "create-user", "wendy", "--password-stdin"], input="wendy-pass-1\n")
    assert r.exit_code == 0, r.output
    r = run(app, ["review", "create-job", "k1", str(labels), "--chunk", "150"])  # auto: tracked labels
    assert r.exit_code == 0, r.output
    assert "447 frames" in r.output and "1 sequences in 3 tasks of at most 150 frames" in r.output
    r = run(app, ["review", "assign", "k1", "wendy"])
    assert r.exit_code == 0 and "3 new tasks" in r.output
    r = run(app, ["review", "create-job", "k2", str(labels), "--kind", "sequence", "--type", "verify"])
    assert r.exit_code == 2 and "a sequence job is an adjust job" in r.output
    # frame by frame, the frames without an image on disk have no size (a sequence job takes the sequence's)
    r = run(app, ["review", "create-job", "k3", str(labels), "--kind", "frame"])
    assert r.exit_code == 2 and "frame 0001/000002 has no width/height" in r.output, r.output
