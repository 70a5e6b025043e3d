"""Sweeps the 3D page serves beyond KITTI/nuScenes binaries: a real Argoverse 2 sequence (feather) and a real PCD
file, each as whole float32 x y z intensity rows, only to the task's worker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tests.review.conftest import Server, start_server

from prelabel.sources.scenes import points as scene_points
from prelabel.sources.scenes import read_scenes


def test_av2_and_pcd_sweeps_served(state: Path, shared_data: Path) -> None:
    from prelabel.review.db import Database
    from prelabel.review.review_jobs import create_job
    from prelabel.review.tasks import assign
    from prelabel.review.web import create_portal_app

    db = Database(state)
    av2 = shared_data / "av2" / "sensor" / "val" / "7fab2350-7eaf-3b7e-a39d-6937a4c1bede"
    pcd = shared_data / "rosbags" / "kitti_000000_velodyne_fov.pcd"
    recs = list(read_scenes(str(av2))) + list(read_scenes(str(pcd)))
    assert [r.frame.point_format for r in recs] == ["av2_feather", "av2_feather", "pcd"]
    job, _ = create_job(db, "sweeps", "adjust", recs, source=str(av2), categories=["car"], roots=[str(shared_data)])
    assign(db, job.id, ["alice"])
    for url in start_server(create_portal_app(state)):
        server = Server(url=url, state=state)
        alice, _ = server.login("alice")
        bob, _ = server.login("bob")
        tasks = {t["frame"]: t["task"] for t in alice.get("/api/tasks").json()["tasks"]}
        for rec in recs:
            tid = tasks[rec.frame.id]
            r = alice.get(f"/api/tasks/{tid}/points")
            assert r.status_code == 200, r.text
            got = np.frombuffer(r.content, dtype="<f4").reshape(-1, 4)
            want = scene_points.load(rec.frame)
            assert len(got) == int(r.headers["x-point-count"]) == len(want) > 10_000
            np.testing.assert_array_equal(got, want)
            assert bob.get(f"/api/tasks/{tid}/points").status_code == 404
        seq = alice.get(f"/api/tasks/{tasks[recs[0].frame.id]}/sequence").json()
        assert [s["frame"] for s in seq["samples"]] == [r.frame.id for r in recs[:2]]
