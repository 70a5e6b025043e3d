"""The portal over real HTTP (uvicorn on 127.0.0.1): sign-in, sessions, CSRF, roles, task isolation, responses,
exports and quality figures, on KITTI frames pre-labelled by the real SSD detector."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.review.conftest import FRAMES, Server

from prelabel.core.geometry.boxes2d import overlap as iou_matrix
from prelabel.labelfile import read_records


def _create_job(admin, csrf: str, prelabels: Path, name: str = "kitti-adjust", **extra) -> dict:  # type: ignore[no-untyped-def]
    found = {lb.category for r in read_records(prelabels) for lb in r.labels}
    cats = ["car", "person", "truck", *sorted(found - {"car", "person", "truck"})]
    body = {
        "name": name,
        "type": "adjust",
        "source": str(prelabels),
        "instructions": "Fit boxes tightly.",
        "categories": cats,
        **extra,
    }
    r = admin.post("/admin/jobs", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    return r.json()


def _assign(admin, csrf: str, job: int, workers: list[str], frames: list[str] | None = None) -> None:  # type: ignore[no-untyped-def]
    r = admin.post(
        f"/admin/jobs/{job}/assign", json={"workers": workers, "frames": frames}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 200, r.text


def test_sign_in_sessions_and_refusals(server: Server) -> None:
    anon = server.client()
    assert anon.get("/api/tasks").status_code == 401
    assert anon.get("/tasks").headers["location"].endswith("/login")
    assert anon.post("/api/tasks/1/response", json={"boxes": []}).status_code in (401, 403)
    # login without the login form's token is refused
    r = anon.post("/login", data={"username": "alice", "password": "alice-pass-1"})
    assert r.status_code == 403
    # a wrong password does not sign in, and says so
    page = anon.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = anon.post("/login", data={"username": "alice", "password": "wrong-password", "csrf_token": token})
    assert r.status_code == 303 and "/login?error=" in r.headers["location"]
    assert anon.get("/api/me").status_code == 401

    alice, csrf = server.login("alice")
    cookie = next(h for h in alice.get("/login").headers.get_list("set-cookie") if "prelabel_portal_login" in h)
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    # the session cookie was set HttpOnly and SameSite=Strict; only a hash of it is stored
    c2 = server.client()
    page = c2.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = c2.post("/login", data={"username": "bob", "password": "bob-pass-12", "csrf_token": token})
    session_cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("prelabel_portal="))
    assert "httponly" in session_cookie.lower() and "samesite=strict" in session_cookie.lower()
    raw = session_cookie.split("=", 1)[1].split(";")[0]
    import sqlite3

    stored = [
        row[0] for row in sqlite3.connect(server.state / "review.sqlite3").execute("SELECT token_hash FROM sessions")
    ]
    assert raw not in stored and len(stored) == 2

    # a worker is no admin
    assert alice.get("/admin").status_code == 403
    r = alice.post("/admin/users", json={"username": "mallory", "password": "x" * 12}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403
    # logout needs the CSRF token; afterwards the session is gone
    assert alice.post("/logout").status_code == 403
    assert alice.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert alice.get("/api/me").status_code == 200
    r = alice.post("/logout", data={"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"].endswith("/login")
    alice.cookies.clear()
    assert alice.get("/api/me").status_code == 401


def test_jobs_isolation_and_adjust_export(server: Server, prelabels: Path, kitti: Path) -> None:
    admin, acsrf = server.login("admin")
    # admins create workers through the portal; a short password and a repeated name are refused
    r = admin.post("/admin/users", json={"username": "carol", "password": "short"}, headers={"X-CSRF-Token": acsrf})
    assert r.status_code == 422 and "too short" in r.json()["error"]
    r = admin.post("/admin/users", json={"username": "alice", "password": "x" * 12}, headers={"X-CSRF-Token": acsrf})
    assert r.status_code == 422 and "already exists" in r.json()["error"]
    # state-changing admin requests need the CSRF token
    r = admin.post("/admin/jobs", json={"name": "x", "source": str(prelabels)})
    assert r.status_code == 403
    r = admin.post("/admin/jobs", json={"name": "x", "source": str(prelabels), "frames": ["nope"]},
                   headers={"X-CSRF-Token": acsrf})  # fmt: skip
    assert r.status_code == 422 and "nope" in r.json()["error"]

    routed = FRAMES[:3]  # the frames routed to review
    job = _create_job(admin, acsrf, prelabels, frames=routed)
    assert job["frames"] == 3
    _assign(admin, acsrf, job["job"], ["alice"], frames=routed[:2])
    _assign(admin, acsrf, job["job"], ["bob"], frames=routed[2:])

    alice, csrf = server.login("alice")
    bob, bcsrf = server.login("bob")
    queue = alice.get("/api/tasks").json()["tasks"]
    assert sorted(t["frame"] for t in queue) == sorted(routed[:2])
    certainties = [t["certainty"] for t in queue]
    assert certainties == sorted(certainties)  # least certain first
    bob_tasks = bob.get("/api/tasks").json()["tasks"]
    assert [t["frame"] for t in bob_tasks] == routed[2:]

    task = alice.get(f"/api/tasks/{queue[0]['task']}").json()
    frame_id = task["frame"]["id"]
    labels = task["labels"]
    assert len(labels) >= 2 and all(0.3 <= lb["score"] <= 1 for lb in labels)
    assert task["job"]["instructions"] == "Fit boxes tightly."
    # the image comes from the job's frame, byte for byte
    img = alice.get(f"/api/tasks/{queue[0]['task']}/image")
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    assert img.content == (kitti / "image_2" / f"{frame_id}.png").read_bytes()

    # bob can neither see nor answer alice's task
    tid = queue[0]["task"]
    assert bob.get(f"/api/tasks/{tid}").status_code == 404
    assert bob.get(f"/api/tasks/{tid}/image").status_code == 404
    assert bob.get(f"/tasks/{tid}").status_code == 404
    r = bob.post(f"/api/tasks/{tid}/response", json={"boxes": []}, headers={"X-CSRF-Token": bcsrf})
    assert r.status_code == 404
    # nor with alice's CSRF token on his session
    assert bob.post(f"/api/tasks/{tid}/response", json={"boxes": []}, headers={"X-CSRF-Token": csrf}).status_code in (
        403,
        404,
    )
    # no path in a request reaches files: static is its own folder
    for path in ("/static/../review.sqlite3", "/static/..%2f..%2fweb.py", "/static/%2e%2e/db.py"):
        assert alice.get(path).status_code == 404

    # alice's edit: delete the first box, move the second, draw a new one
    keep = labels[1:]
    moved = dict(keep[0])
    moved["box"] = [moved["box"][0] + 10, moved["box"][1] + 4, moved["box"][2] + 10, moved["box"][3] + 4]
    new_box = [20.0, 200.0, 90.0, 260.0]
    answer = {
        "boxes": [
            {"id": moved["id"], "category": moved["category"], "box": moved["box"]},
            *[{"id": lb["id"], "category": lb["category"], "box": lb["box"]} for lb in keep[1:]],
            {"id": None, "category": "person", "box": new_box},
        ],
        "comment": "first box was a reflection",
    }
    url = f"/api/tasks/{tid}/response"
    assert alice.post(url, json=answer).status_code == 403  # no CSRF token
    assert alice.post(url, json=answer, headers={"X-CSRF-Token": "guess"}).status_code == 403
    bad = {"boxes": [{"id": None, "category": "unicorn", "box": new_box}]}
    r = alice.post(url, json=bad, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and "unicorn" in r.json()["error"]
    forged = {"boxes": [{"id": "not-a-prelabel", "category": "car", "box": new_box}]}
    assert alice.post(url, json=forged, headers={"X-CSRF-Token": csrf}).status_code == 422
    r = alice.post(url, json=answer, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert r.json()["next_task"] == queue[1]["task"]
    again = alice.get(f"/api/tasks/{tid}").json()  # reopening shows the answer given, to resubmit if need be
    assert again["status"] == "submitted" and again["previous"]["comment"] == answer["comment"]
    assert [b["id"] for b in again["previous"]["boxes"]] == [b["id"] for b in answer["boxes"]]
    assert again["next_task"] == queue[1]["task"]

    # the Ground Truth output manifest holds exactly that edit
    assert alice.get(f"/admin/jobs/{job['job']}/output.manifest").status_code == 403
    text = admin.get(f"/admin/jobs/{job['job']}/output.manifest").text
    lines = [json.loads(x) for x in text.splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["source-ref"].endswith(f"{frame_id}.png")
    assert len(line["prelabel-boxes"]["annotations"]) == len(labels)  # the input attribute, unchanged
    out = line["prelabel-boxes-adjusted"]
    meta = line["prelabel-boxes-adjusted-metadata"]
    assert meta["human-annotated"] == "yes" and meta["adjustment-status"] == "adjusted"
    assert meta["type"] == "groundtruth/object-detection" and meta["job-name"] == "labeling-job/kitti-adjust"
    assert out["image_size"] == [{"width": 1242, "height": 375, "depth": 3}]
    cmap = meta["class-map"]
    got = sorted((cmap[str(a["class_id"])], a["left"], a["top"], a["width"], a["height"]) for a in out["annotations"])
    want = sorted(
        (b["category"], round(b["box"][0]), round(b["box"][1]), round(b["box"][2]) - round(b["box"][0]),
         round(b["box"][3]) - round(b["box"][1]))
        for b in answer["boxes"]
    )  # fmt: skip
    assert got == want

    # labels with review state: ids preserved, the deleted box rejected, the new one human
    recs = {
        r["frame"]["id"]: r
        for r in map(json.loads, admin.get(f"/admin/jobs/{job['job']}/labels.jsonl").text.splitlines())
    }
    assert set(recs) == set(routed)
    by_id = {lb["id"]: lb for lb in recs[frame_id]["labels"]}
    assert by_id[labels[0]["id"]]["review"] == "rejected"
    assert by_id[moved["id"]]["review"] == "adjusted" and by_id[moved["id"]]["source"] == "human:alice"
    assert by_id[moved["id"]]["attributes"]["prelabel_box"] == labels[1]["box"]
    for lb in keep[1:]:
        assert by_id[lb["id"]]["review"] == "accepted" and by_id[lb["id"]]["source"].startswith("model:")
    added = [lb for lb in recs[frame_id]["labels"] if lb["id"] not in {x["id"] for x in labels}]
    assert len(added) == 1 and added[0]["source"] == "human:alice" and added[0]["category"] == "person"
    other = recs[routed[2]]
    assert all(lb["review"] == "pending" for lb in other["labels"])  # not reviewed yet

    # quality figures
    st = admin.get(f"/api/admin/jobs/{job['job']}/stats").json()
    n = len(labels)
    assert st["prelabels_reviewed"] == n and st["accepted"] == n - 2
    assert st["acceptance_rate"] == round((n - 2) / n, 4)
    assert (st["added"], st["removed"], st["moved"], st["reclassified"]) == (1, 1, 1, 0)
    iou = iou_matrix(np.asarray([labels[1]["box"]]), np.asarray([moved["box"]]))[0, 0]
    assert st["mean_iou"] == pytest.approx((iou + (n - 2)) / (n - 1), abs=1e-3)

    # the audit trail has who, what and when
    audit = admin.get(f"/api/admin/jobs/{job['job']}/audit").json()["entries"]
    actions = [(a["actor"], a["action"]) for a in audit]
    assert actions == [
        ("admin", "job.create"),
        ("admin", "job.assign"),
        ("admin", "job.assign"),
        ("alice", "task.submit"),
    ]
    assert audit[-1]["detail"]["answer"]["comment"] == "first box was a reflection" and audit[-1]["at"]

    # the admin pages render
    assert "Acceptance rate" in admin.get(f"/admin/jobs/{job['job']}").text
    assert "kitti-adjust" in admin.get("/admin").text


def test_two_workers_consolidated(server: Server, prelabels: Path) -> None:
    admin, acsrf = server.login("admin")
    job = _create_job(admin, acsrf, prelabels, name="double", frames=[FRAMES[1]])
    _assign(admin, acsrf, job["job"], ["alice", "bob"])
    answers = {}
    for who, dx in (("alice", 4.0), ("bob", -2.0)):
        c, csrf = server.login(who)
        tid = c.get("/api/tasks").json()["tasks"][0]["task"]
        labels = c.get(f"/api/tasks/{tid}").json()["labels"]
        boxes = [{"id": lb["id"], "category": lb["category"], "box": lb["box"]} for lb in labels]
        first = boxes[0]["box"]
        boxes[0]["box"] = [first[0] + dx, first[1], first[2] + dx, first[3]]
        if who == "alice":
            boxes.append({"id": None, "category": "car", "box": [100.0, 150.0, 180.0, 220.0]})
        else:
            boxes.append({"id": None, "category": "truck", "box": [102.0, 152.0, 182.0, 224.0]})
        r = c.post(f"/api/tasks/{tid}/response", json={"boxes": boxes}, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200, r.text
        answers[who] = (labels, boxes)
    labels = answers["alice"][0]
    recs = [json.loads(x) for x in admin.get(f"/admin/jobs/{job['job']}/labels.jsonl").text.splitlines()]
    by_id = {lb["id"]: lb for lb in recs[0]["labels"]}
    a0 = labels[0]["box"]
    mean = by_id[labels[0]["id"]]["box"]
    assert [mean["x1"], mean["x2"]] == pytest.approx([a0[0] + 1.0, a0[2] + 1.0], abs=0.01)  # mean of +4 and -2
    assert by_id[labels[0]["id"]]["source"] == "human:alice+bob"
    added = [lb for lb in recs[0]["labels"] if lb["id"] not in {x["id"] for x in labels}]
    assert len(added) == 1  # the two drawn boxes overlap: one cluster
    assert added[0]["box"] == pytest.approx({"x1": 101.0, "y1": 151.0, "x2": 181.0, "y2": 222.0})
    assert added[0]["category"] in ("car", "truck")


def test_verify_job(server: Server, prelabels: Path) -> None:
    admin, acsrf = server.login("admin")
    job = _create_job(admin, acsrf, prelabels, name="check", type="verify", frames=[FRAMES[0]])
    _assign(admin, acsrf, job["job"], ["alice"])
    c, csrf = server.login("alice")
    tid = c.get("/api/tasks").json()["tasks"][0]["task"]
    labels = c.get(f"/api/tasks/{tid}").json()["labels"]
    partial = {"verdicts": [{"id": labels[0]["id"], "verdict": "good"}]}
    if len(labels) > 1:
        r = c.post(f"/api/tasks/{tid}/response", json=partial, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 422 and "every label" in r.json()["error"]
    verdicts = [{"id": lb["id"], "verdict": "good"} for lb in labels]
    verdicts[0] = {"id": labels[0]["id"], "verdict": "bad", "comment": "not a car, a sign"}
    r = c.post(f"/api/tasks/{tid}/response", json={"verdicts": verdicts}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    line = json.loads(admin.get(f"/admin/jobs/{job['job']}/output.manifest").text)
    assert line["prelabel-boxes-verified"] == "1"
    meta = line["prelabel-boxes-verified-metadata"]
    assert meta["class-name"] == "bad" and meta["type"] == "groundtruth/label-verification"
    assert meta["human-annotated"] == "yes" and meta["worker-feedback"] == [{"comment": "not a car, a sign"}]
    assert [o["class-name"] for o in meta["objects"]] == [v["verdict"] for v in verdicts]
    st = admin.get(f"/api/admin/jobs/{job['job']}/stats").json()
    assert st["removed"] == 1 and st["accepted"] == len(labels) - 1


def test_cli_round_trip(tmp_path: Path, prelabels: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from prelabel.cli.main import app
    from prelabel.review.db import Database
    from prelabel.review.responses import submit
    from prelabel.review.review_jobs import get_job
    from prelabel.review.tasks import worker_queue

    state = tmp_path / "st"
    monkeypatch.setenv("PRELABEL_STATE", str(state))
    run = CliRunner().invoke
    r = run(app, ["review", "create-user", "boss", "--role", "admin", "--password-stdin"], input="boss-pass-1\n")
    assert r.exit_code == 0, r.output
    r = run(app, ["review", "create-user", "wendy", "--password-stdin"], input="wendy-pass-1\n")
    assert r.exit_code == 0, r.output
    r = run(app, ["review", "create-user", "wendy", "--password-stdin"], input="wendy-pass-1\n")
    assert r.exit_code == 2 and "already exists" in r.output
    r = run(app, ["review", "set-password", "wendy", "--password-stdin"], input="wendy-pass-2\n")
    assert r.exit_code == 0, r.output
    r = run(app, ["review", "set-password", "nobody", "--password-stdin"], input="whatever-1\n")
    assert r.exit_code == 2 and "user not found: nobody" in r.output
    routed = tmp_path / "routed.txt"
    routed.write_text(f"{FRAMES[0]}\n{FRAMES[2]}\n")
    r = run(app, ["review", "create-job", "cli-job", str(prelabels), "--frames", str(routed), "--type", "adjust"])
    assert r.exit_code == 0, r.output
    assert "2 frames" in r.output
    r = run(app, ["review", "create-job", "bad-job", str(tmp_path / "missing.jsonl")])
    assert r.exit_code == 2 and "not found" in r.output
    r = run(app, ["review", "assign", "cli-job", "wendy"])
    assert r.exit_code == 0 and "2 new tasks" in r.output
    db = Database(state)
    for item in worker_queue(db, "wendy"):
        jf = next(r for r in read_records(prelabels) if r.frame.id == item.task.frame_id)
        boxes = [{"id": lb.id, "category": lb.category, "box": list(lb.box.xyxy)} for lb in jf.labels if lb.box]
        submit(db, item.task.id, "wendy", {"boxes": boxes})  # everything accepted as it was
    r = run(app, ["review", "stats", "cli-job", "--json"])
    assert r.exit_code == 0, r.output
    st = json.loads(r.output)
    assert st["acceptance_rate"] == 1.0 and st["mean_iou"] == 1.0 and st["frames_reviewed"] == 2
    r = run(app, ["review", "export", "cli-job", "--out", str(tmp_path / "export")])
    assert r.exit_code == 0, r.output
    root = tmp_path / "export" / "cli-job"
    lines = [json.loads(x) for x in (root / "manifests" / "output" / "output.manifest").read_text().splitlines()]
    assert [ln["prelabel-boxes-adjusted-metadata"]["adjustment-status"] for ln in lines] == ["unadjusted", "unadjusted"]
    assert len(list((root / "annotations" / "worker-response").rglob("*.json"))) == 2
    recs = read_records(root / "labels.jsonl")
    assert all(lb.review == "accepted" for r in recs for lb in r.labels)
    r = run(app, ["review", "export", "cli-job", "--out", str(tmp_path / "export")])
    assert r.exit_code == 2 and "already exists" in r.output  # nothing overwritten silently
    assert get_job(db, "cli-job").type == "adjust"
    r = run(app, ["review", "serve", "--state", str(tmp_path / "empty")])
    assert r.exit_code == 2 and "no admin" in r.output


def test_mounted_under_prefix(state: Path) -> None:
    """Mounted at /portal (as ``prelabel serve`` does), every URL and cookie carries the prefix."""
    from fastapi import FastAPI
    from tests.review.conftest import start_server

    from prelabel.review.web import create_portal_app

    outer = FastAPI()
    outer.mount("/portal", create_portal_app(state))
    for url in start_server(outer, "/portal"):
        srv = Server(url=url, state=state)
        c = srv.client()
        assert c.get("/").headers["location"] == "/portal/login"
        page = c.get("/login")
        assert 'action="/portal/login"' in page.text and "/portal/static/portal.css" in page.text
        assert "path=/portal" in page.headers["set-cookie"].lower()
        admin, _ = srv.login("admin")
        assert admin.get("/").headers["location"] == "/portal/admin"
        assert c.get("/static/annotator.js").status_code == 200


def test_admin_html_forms(server: Server, prelabels: Path) -> None:
    """The admin pages' plain HTML forms: the CSRF token travels as a form field; errors come back as one line."""
    admin, csrf = server.login("admin")
    page = admin.get("/admin").text
    assert f'name="csrf_token" value="{csrf}"' in page
    form = {"username": "dave", "password": "dave-pass-1", "role": "worker"}
    assert admin.post("/admin/users", data=form).status_code == 403
    r = admin.post("/admin/users", data={**form, "csrf_token": csrf})
    assert r.status_code == 303 and "created%20dave" in r.headers["location"]
    job = {"name": "form-job", "type": "adjust", "source": str(prelabels), "frames": f"{FRAMES[0]}\n{FRAMES[1]}\n",
           "csrf_token": csrf}  # fmt: skip
    found = {lb.category for r in read_records(prelabels) for lb in r.labels}
    job["categories"] = ", ".join(["car", "person", "truck", *sorted(found - {"car", "person", "truck"})])
    r = admin.post("/admin/jobs", data=job)
    assert r.status_code == 303, r.text
    job_page = r.headers["location"]
    r = admin.post(f"{job_page}/assign", data={"workers": ["dave", "alice"], "csrf_token": csrf})
    assert r.status_code == 303
    page = admin.get(job_page).text
    assert page.count("<td>dave</td>") == 2 and page.count("<td>alice</td>") == 2
    # a form that breaks a rule gets a page naming the problem
    r = admin.post("/admin/jobs", data={**job, "name": "form-job"})
    assert r.status_code == 422 and "job &#39;form-job&#39; already exists" in r.text
    missing = prelabels.parent / "no-such-labels.jsonl"
    r = admin.post("/admin/jobs", data={**job, "name": "other", "source": str(missing)})
    assert r.status_code == 404 and f"not found: {missing}" in r.text
    r = admin.post("/admin/jobs", data={**job, "name": "other", "source": "/etc/passwd"})  # outside the roots
    assert r.status_code == 403 and "outside the allowed roots" in r.text
    # sign-ins are in the audit trail too
    from prelabel.review.audit import entries
    from prelabel.review.db import Database

    log = [(e["actor"], e["action"]) for e in entries(Database(server.state)) if e["action"].startswith("session.")]
    assert ("admin", "session.login") in log
