"""A bulk job on a real two-node Ray cluster (``ray start --head`` + ``ray start --address``, started by the
project's own code); the worker node is killed with SIGKILL mid-job and the job still labels every frame once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from prelabel import raycluster
from prelabel.labelfile import read_records
from tests.helpers.cli import EXE

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def _done(state: Path) -> int:
    dbs = list(state.glob("*/job.sqlite"))
    if not dbs:
        return 0
    try:
        with sqlite3.connect(dbs[0], timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM items WHERE state != 'pending'").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_job_survives_the_loss_of_a_worker_node(
    ray_cluster: tuple[raycluster.ClusterNode, raycluster.ClusterNode], kitti: Path, tmp_path: Path
) -> None:
    head, worker = ray_cluster
    frames = sorted((kitti / "image_2").glob("*.png"))
    assert len(frames) >= 30
    state = tmp_path / "state"
    out = tmp_path / "labels.jsonl"
    env = {**os.environ, "PRELABEL_STATE": str(state), "COLUMNS": "200"}
    cmd = [str(EXE), "label", str(kitti / "image_2"), "--out", str(out), "--model", "ssd-mobilenet-v2-coco"]
    cmd += ["--executor", "ray"]
    # one CPU per actor and one CPU per node: the second actor can only live on the worker node
    cmd += ["--ray-address", head.address, "--ray-actors", "2", "--ray-cpus-per-actor", "1"]
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 240

        def worker_has_actor() -> bool:
            return any("MapWorker" in cmd for cmd in raycluster.node_processes(worker).values())

        while not (_done(state) >= 2 and worker_has_actor()) and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert job.poll() is None, "the job ended before the worker node could be killed"
        before = _done(state)
        assert before < len(frames), "the job finished before the worker node was killed"
        killed = raycluster.kill_node(worker)
        assert any("MapWorker" in cmd for cmd in killed.values()), killed  # a predictor actor died with the node
        stdout, stderr = job.communicate(timeout=300)
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode == 0, stderr[-3000:]
    records = read_records(out)
    ids = [r.frame.id for r in records]
    assert sorted(ids) == sorted(f.stem for f in frames)  # every frame, exactly once
    assert len(set(ids)) == len(ids)
    assert all(r.status == "ok" for r in records)
    assert sum(len(r.labels) for r in records) > 30
    assert f"frames: {len(frames)}" in stdout
    print(stderr[-2000:])
