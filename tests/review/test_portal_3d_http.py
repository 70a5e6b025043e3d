"""3D review over HTTP against the real portal server: a job made (through the CLI) from 3D pre-labels of the real
nuScenes sample; its points and camera images served only to the task's worker (and admins), only from the
job's roots; answers validated; the export is Ground Truth's 3D point cloud output with the quality figures."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.review.conftest import Server, start_server
from tests.review.scenes3d import nuscenes_record

from prelabel.core.labels import FrameRecord
from prelabel.labelfile import read_records, write_records


@pytest.fixture()
def labels3d(tmp_path: Path, shared_data: Path) -> Path:
    out = tmp_path / "prelabels3d" / "labels.jsonl"
    out.parent.mkdir()
    write_records(out, [nuscenes_record(shared_data)])
    return out


@pytest.fixture()
def server3d(state: Path, labels3d: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """A 3D adjust job ``nus3d`` (made with ``review create-job``) assigned to alice; the portal itself has no
    roots, so the sweep and images are served only through the job's own ``--root``."""
    from typer.testing import CliRunner

    from prelabel.cli.main import app
    from prelabel.review.web import create_portal_app

    monkeypatch.setenv("PRELABEL_STATE", str(state))
    run = CliRunner().invoke
    nus = str(shared_data / "nuscenes" / "mmdet3d_demo")
    r = run(app, ["review", "create-job", "nus3d", str(labels3d), "--root", nus, "--categories", CATS])
    assert r.exit_code == 0, r.output
    assert "1 frames, 7 boxes" in r.output
    r = run(app, ["review", "assign", "nus3d", "alice"])
    assert r.exit_code == 0, r.output
    for url in start_server(create_portal_app(state)):
        yield Server(url=url, state=state)


CATS = "car,truck,bus,pedestrian,barrier,traffic_cone,bicycle,motorcycle,trailer,construction_vehicle"


def _task(server: Server) -> int:
    alice, _ = server.login("alice")
    return int(alice.get("/api/tasks").json()["tasks"][0]["task"])


def test_3d_task_payload_points_and_confinement(server3d: Server, labels3d: Path) -> None:
    tid = _task(server3d)
    alice, _ = server3d.login("alice")
    bob, _ = server3d.login("bob")
    admin, _ = server3d.login("admin")
    t = alice.get(f"/api/tasks/{tid}").json()
    assert t["modality"] == "3d" and len(t["labels"]) == 7 and len(t["cameras"]) == 6
    cam = t["cameras"][0]
    assert cam["name"] == "CAM_FRONT" and len(cam["camera_from_lidar"]) == 4 and cam["K"][2] == [0.0, 0.0, 1.0]
    page = alice.get(f"/tasks/{tid}")
    assert page.status_code == 200 and "task3d.js" in page.text and 'type="module"' in page.text
    # the points: float32 x y z intensity, all of the 34,688-point sweep (under the cap)
    r = alice.get(t["points"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    pts = np.frombuffer(r.content, dtype="<f4").reshape(-1, 4)
    raw = np.fromfile(read_records(labels3d)[0].frame.uri, dtype="<f4").reshape(-1, 5)
    assert len(pts) == int(r.headers["x-point-count"]) == len(raw) == 34688
    assert np.array_equal(pts, raw[:, :4])
    img = alice.get(cam["image"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert admin.get(t["points"]).status_code == 200  # admins may look at any task
    # another worker, or nobody signed in: nothing
    assert bob.get(t["points"]).status_code == 404
    assert bob.get(cam["image"]).status_code == 404
    assert server3d.client().get(t["points"]).status_code == 401
    assert alice.get(f"/api/tasks/{tid}/cameras/6/image").status_code == 404


def test_3d_sweep_outside_roots_refused(state: Path, labels3d: Path, shared_data: Path) -> None:
    """A job whose frames lie outside its roots (only the labels file's folder) gets 403 for points and images."""
    from prelabel.review.db import Database
    from prelabel.review.review_jobs import create_job
    from prelabel.review.tasks import assign
    from prelabel.review.web import create_portal_app

    db = Database(state)
    create_job(db, "noroot", "adjust", read_records(labels3d), source=str(labels3d), roots=[str(labels3d.parent)])
    assign(db, "noroot", ["alice"])
    for url in start_server(create_portal_app(state)):
        alice, _ = Server(url=url, state=state).login("alice")
        tid = alice.get("/api/tasks").json()["tasks"][0]["task"]
        r = alice.get(f"/api/tasks/{tid}/points")
        assert r.status_code == 403 and "outside the allowed roots" in r.json()["error"]
        assert alice.get(f"/api/tasks/{tid}/cameras/0/image").status_code == 403


def test_3d_answers_validated_exported_and_measured(server3d: Server, tmp_path: Path) -> None:
    from prelabel.review.db import Database
    from prelabel.review.export import export_job
    from prelabel.review.review_jobs import get_job
    from prelabel.review.stats import job_stats

    tid = _task(server3d)
    alice, token = server3d.login("alice")
    t = alice.get(f"/api/tasks/{tid}").json()
    labels = t["labels"]
    url = f"/api/tasks/{tid}/response"
    h = {"X-CSRF-Token": token}

    def bad(boxes: object, expect: str) -> None:
        r = alice.post(url, json={"boxes": boxes}, headers=h)
        assert r.status_code == 422 and expect in r.json()["error"], r.text

    first = labels[0]
    bad([{**first, "box3d": first["box3d"][:6]}], "must be [x, y, z, length, width, height, yaw]")
    bad([{**first, "box3d": [*first["box3d"][:3], -1, 1, 1, 0]}], "length must be > 0")
    bad([{**first, "box3d": [*first["box3d"][:6], "x"]}], "must be a finite number")
    bad([{**first, "category": "<script>"}], "is not among the job's categories")
    bad([first, first], "appears twice")
    assert alice.post(url, json={"boxes": []}).status_code == 403  # no CSRF token
    # the answer: box 0 moved 0.5 m forward and turned 10 degrees, box 1 deleted, box 2 reclassified, one drawn
    b0 = list(first["box3d"])
    b0[0] += 0.5 * math.cos(b0[6])
    b0[1] += 0.5 * math.sin(b0[6])
    b0[6] += math.radians(10)
    boxes = [{"id": first["id"], "category": first["category"], "box3d": b0, "track_id": first["track_id"]}]
    boxes.append({**labels[2], "category": "bus"})
    boxes += [{"id": lb["id"], "category": lb["category"], "box3d": lb["box3d"]} for lb in labels[3:]]
    boxes.append({"id": None, "category": "pedestrian", "box3d": [5.0, 2.0, -1.0, 0.7, 0.7, 1.7, 0.0]})
    r = alice.post(url, json={"boxes": boxes, "comment": "<img src=x onerror=alert(1)>"}, headers=h)
    assert r.status_code == 200, r.text

    db = Database(server3d.state)
    st = job_stats(db, "nus3d")
    q = st["quality3d"]
    assert q["boxes"] == {"accepted": 4, "adjusted": 2, "deleted": 1, "added": 1}
    # over the 6 kept pre-labels: one moved by 0.5 m and turned by 10 degrees, the rest unchanged in geometry
    assert q["mean_centre_change_m"] == pytest.approx(0.5 / 6, abs=2e-3)
    assert q["mean_yaw_change_deg"] == pytest.approx(10 / 6, abs=0.01)
    assert 0.8 < q["mean_iou3d"] < 1.0
    admin, _ = server3d.login("admin")
    page = admin.get(f"/admin/jobs/{get_job(db, 'nus3d').id}")
    assert page.status_code == 200 and '<td id="q3d-boxes">4 / 2 / 1 / 1</td>' in page.text
    out = export_job(db, "nus3d", str(tmp_path / "export"))
    line = json.loads(Path(out["manifest"]).read_text().splitlines()[0])
    meta = line["prelabel-boxes-adjusted-metadata"]
    assert meta["type"] == "groundtruth/lidar_object_detection" and meta["human-annotated"] == "yes"
    assert meta["adjustment-status"] == "adjusted" and meta["class-map"]["0"] == "car"
    anns = line["prelabel-boxes-adjusted"]["annotations"]
    assert len(anns) == 7  # 7 pre-labels - 1 deleted + 1 drawn
    a0 = next(a for a in anns if a["object-id"] == first["id"])
    # Ground Truth's cuboid fields; the frame has no ego pose (world = LiDAR frame), yaw right-handed as ours
    assert a0["center-x"] == pytest.approx(b0[0], abs=1e-3) and a0["center-y"] == pytest.approx(b0[1], abs=1e-3)
    assert (a0["roll"], a0["pitch"]) == (0.0, 0.0) and a0["length"] == pytest.approx(b0[3], abs=1e-4)
    assert a0["yaw"] == pytest.approx(b0[6], abs=1e-4)
    assert a0["prelabel-origin"] == "human"
    assert {a["prelabel-origin"] for a in anns if a["object-id"] == labels[3]["id"]} == {"prelabel"}
    assert line["source-ref"].endswith(".pcd.bin")
    rec: FrameRecord = read_records(out["labels"])[0]
    states = {lb.id: (lb.review, lb.attributes.get("review_action")) for lb in rec.labels}
    assert states[labels[1]["id"]] == ("rejected", "deleted")
    assert rec.labels[0].attributes["prelabel_box3d"] == pytest.approx(first["box3d"], abs=1e-3)
    assert next(lb for lb in rec.labels if lb.id == labels[2]["id"]).category == "bus"


def test_3d_verify_job(state: Path, labels3d: Path, shared_data: Path) -> None:
    """A verify job on the same boxes: every box needs a verdict; bad ones are rejected, comments kept."""
    from prelabel.review.db import Database
    from prelabel.review.errors import ReviewInputError
    from prelabel.review.export import reviewed_records
    from prelabel.review.responses import submit
    from prelabel.review.review_jobs import create_job
    from prelabel.review.stats import job_stats
    from prelabel.review.tasks import assign, worker_queue

    db = Database(state)
    recs = read_records(labels3d)
    job, summary = create_job(db, "nus3d-verify", "verify", recs, source=str(labels3d))
    assert job.modality == "3d" and summary["labels"] == 7
    assign(db, job.id, ["bob"])
    tid = worker_queue(db, "bob")[0].task.id
    ids = [lb.id for lb in recs[0].labels]
    with pytest.raises(ReviewInputError, match="every box needs a verdict"):
        submit(db, tid, "bob", {"verdicts": [{"id": ids[0], "verdict": "good"}]})
    verdicts = [{"id": i, "verdict": "bad" if n == 1 else "good"} for n, i in enumerate(ids)]
    verdicts[1]["comment"] = "<b>not a barrier</b>"
    submit(db, tid, "bob", {"verdicts": verdicts})
    q = job_stats(db, job)["quality3d"]
    assert q["boxes"] == {"accepted": 6, "adjusted": 0, "deleted": 1, "added": 0} and q["mean_iou3d"] == 1.0
    rec = reviewed_records(db, job)[0]
    bad = next(lb for lb in rec.labels if lb.id == ids[1])
    assert bad.review == "rejected" and bad.attributes["review_comments"][0]["comment"] == "<b>not a barrier</b>"


def test_mixed_frames_refused(labels3d: Path, state: Path) -> None:
    from prelabel.core.labels import Box2D, Frame, Label
    from prelabel.review.db import Database
    from prelabel.review.errors import ReviewInputError
    from prelabel.review.review_jobs import create_job

    img = FrameRecord(
        frame=Frame(id="img", uri="/x.png", width=10, height=10),
        labels=[Label(id="a", category="car", source="fused", box=Box2D(x1=0, y1=0, x2=5, y2=5))],
    )
    with pytest.raises(ReviewInputError, match="image frames or pointcloud frames, not both"):
        create_job(Database(state), "mixed", "adjust", [*read_records(labels3d), img], source=str(labels3d))


def test_kitti_sequence_steps_and_serves(state: Path, shared_data: Path, tmp_path: Path) -> None:
    """A real KITTI tracking sequence (two samples): points and the camera served, each task knows the worker's
    tasks on the samples before and after, boxes keep their track ids."""
    from tests.review.scenes3d import kitti_sequence

    from prelabel.review.db import Database
    from prelabel.review.review_jobs import create_job
    from prelabel.review.tasks import assign
    from prelabel.review.web import create_portal_app

    recs = kitti_sequence(shared_data)
    assert all(r.labels for r in recs)
    src = tmp_path / "kitti" / "labels.jsonl"
    src.parent.mkdir()
    write_records(src, recs[::-1])  # file order is not sequence order
    db = Database(state)
    job, _ = create_job(
        db, "kitti-seq", "adjust", read_records(src), source=str(src), roots=[str(shared_data / "kitti_tracking")]
    )
    assign(db, job.id, ["alice"])
    for url in start_server(create_portal_app(state)):
        alice, _ = Server(url=url, state=state).login("alice")
        tasks = {t["frame"]: t["task"] for t in alice.get("/api/tasks").json()["tasks"]}
        first = alice.get(f"/api/tasks/{tasks['kitti-0001-000000']}").json()
        second = alice.get(f"/api/tasks/{tasks['kitti-0001-000001']}").json()
        assert first["sequence"] == {
            "name": "kitti-tracking-0001",
            "position": 0,
            "length": 2,
            "prev_task": None,
            "next_task": tasks["kitti-0001-000001"],
        }
        assert second["sequence"]["prev_task"] == tasks["kitti-0001-000000"] and second["sequence"]["next_task"] is None
        shared = {lb["track_id"] for lb in first["labels"]} & {lb["track_id"] for lb in second["labels"]}
        assert shared  # the same objects, by track id, in both samples
        pts = alice.get(first["points"])
        assert pts.status_code == 200 and int(pts.headers["x-point-count"]) == 122320
        assert alice.get(first["cameras"][0]["image"]).headers["content-type"] == "image/png"
