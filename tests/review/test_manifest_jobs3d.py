"""Review jobs from Ground Truth 3D point cloud input manifests (through ``review create-job``): a tracking manifest
of a real KITTI sequence with its cuboids as pre-labels, and a detection frame manifest; the cloud and the camera
served; the export's tracking output names the input sequence file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.review.conftest import Server, start_server
from tests.review.scenes3d import kitti_sequence
from typer.testing import CliRunner

from prelabel.cli.main import app
from prelabel.sources.scenes import groundtruth3d as gt3d


def test_tracking_manifest_job(state: Path, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prelabel.review.db import Database
    from prelabel.review.export import export_job
    from prelabel.review.review_jobs import get_job
    from prelabel.review.web import create_portal_app

    recs = kitti_sequence(shared_data)
    (seq_file,) = gt3d.write_tracking(recs, str(tmp_path / "gt"), attribute="lidar-boxes")
    manifest = tmp_path / "gt" / "manifest.jsonl"
    monkeypatch.setenv("PRELABEL_STATE", str(state))
    run = CliRunner().invoke
    kt = str(shared_data / "kitti_tracking")
    r = run(
        app,
        ["review", "create-job", "gt3d-trk", str(manifest), "--root", kt, "--categories", "car,van,cyclist,pedestrian"],
    )
    assert r.exit_code == 0, r.output
    n = sum(len(x.labels) for x in recs)
    assert f"2 frames, {n} boxes" in r.output
    job = get_job(Database(state), "gt3d-trk")
    assert job.modality == "3d" and job.source_attribute == "lidar-boxes" and job.attribute == "lidar-boxes-adjusted"
    assert run(app, ["review", "assign", "gt3d-trk", "alice"]).exit_code == 0
    for url in start_server(create_portal_app(state)):
        server = Server(url=url, state=state)
        alice, token = server.login("alice")
        tid = alice.get("/api/tasks").json()["tasks"][0]["task"]
        seq = alice.get(f"/api/tasks/{tid}/sequence").json()
        assert [s["frame"] for s in seq["samples"]] == ["0/0", "0/1"]
        s0 = seq["samples"][0]
        want = {lb.track_id: lb for lb in recs[0].labels}
        for lb in s0["labels"]:  # the cuboids, back as the pre-labels they were written from
            b = want[lb["track_id"]].box3d
            assert lb["category"] == want[lb["track_id"]].category
            assert lb["box3d"] == pytest.approx([b.x, b.y, b.z, b.length, b.width, b.height, b.yaw], abs=2e-4)
        pts = alice.get(s0["points"])
        assert pts.status_code == 200 and int(pts.headers["x-point-count"]) == 122320
        (cam,) = s0["cameras"]
        assert alice.get(cam["image"]).headers["content-type"] == "image/png"
        answers = [
            {
                "task": s["task"],
                "response": {
                    "boxes": [{k: lb[k] for k in ("id", "category", "box3d", "track_id")} for lb in s["labels"]]
                },
            }
            for s in seq["samples"]
        ]
        r2 = alice.post(
            f"/api/tasks/{tid}/sequence/response", json={"samples": answers}, headers={"X-CSRF-Token": token}
        )
        assert r2.status_code == 200 and r2.json()["submitted"] == 2, r2.text
    out = export_job(Database(state), "gt3d-trk", str(tmp_path / "export"))
    (line,) = [json.loads(x) for x in Path(out["tracking_manifest"]).read_text().splitlines()]
    assert line["source-ref"] == seq_file  # the input's own sequence file
    meta = line["lidar-boxes-adjusted-ref-metadata"]
    assert meta["adjustment-status"] == "unadjusted"
    # the frame-level output: one line per sample, its own sweep as source-ref
    lines = [json.loads(x) for x in Path(out["manifest"]).read_text().splitlines()]
    assert [ln["source-ref"] for ln in lines] == [r.frame.uri for r in recs]


def test_detection_manifest_job(
    state: Path, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prelabel.review.db import Database
    from prelabel.review.review_jobs import get_job, job_frames

    recs = kitti_sequence(shared_data)
    manifest = tmp_path / "frames.manifest"
    assert gt3d.write_detection(recs, str(manifest), attribute="3d-bounding-box") == 2
    monkeypatch.setenv("PRELABEL_STATE", str(state))
    r = CliRunner().invoke(
        app, ["review", "create-job", "gt3d-det", str(manifest), "--root", str(shared_data / "kitti_tracking")]
    )
    assert r.exit_code == 0, r.output
    frames = job_frames(Database(state), get_job(Database(state), "gt3d-det").id)
    assert [len(f.record.labels) for f in frames] == [len(x.labels) for x in recs]
    assert frames[0].manifest_line is not None and "3d-bounding-box" in frames[0].manifest_line
    assert frames[0].record.frame.cameras and frames[0].record.frame.cameras[0].uri.endswith("000000.png")
