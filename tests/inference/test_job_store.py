"""Persisted jobs: exactly-once item state, kill -9 and resume through the real CLI, job listing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from prelabel.core.labels import Frame, FrameRecord
from prelabel.errors import InputNotFoundError, PrelabelError
from prelabel.inference.job_store import Job, JobConfig, list_jobs
from prelabel.labelfile import read_records
from tests.helpers.cli import EXE, prelabel


def _config(tmp_path: Path) -> JobConfig:
    return JobConfig(input="in", output=str(tmp_path / "out" / "labels.jsonl"), model="ssd-mobilenet-v2-coco")


def test_items_finish_once_and_the_labels_file_keeps_input_order(tmp_path: Path) -> None:
    job = Job.create(_config(tmp_path), tmp_path / "state")
    frames = [Frame(id=f"f{i}", uri=f"/x/f{i}.png") for i in range(5)]
    assert job.add_frames(frames) == 5
    assert job.add_frames(frames) == 5  # re-listing (after a crash while listing) adds nothing
    assert job.counts() == {"pending": 5, "done": 0, "failed": 0, "total": 5}
    assert [seq for seq, _ in job.pending()] == [0, 1, 2, 3, 4]
    ok = {i: FrameRecord(frame=frames[i], job=job.id) for i in range(5)}
    assert job.complete([(3, ok[3]), (1, ok[1])]) == 2
    assert job.complete([(3, ok[3])]) == 0  # finished items are never finished twice
    bad = FrameRecord(frame=frames[0], status="failed", error="cannot read f0", job=job.id)
    assert job.complete([(0, bad)]) == 1
    with pytest.raises(PrelabelError, match="2 pending frames; resume it first"):
        job.finalize()
    assert [seq for seq, _ in job.pending()] == [2, 4]
    job.complete([(4, ok[4]), (2, ok[2])])
    summary = job.finalize()
    assert (summary.frames, summary.labelled, summary.failed) == (5, 4, 1)
    records = read_records(tmp_path / "out" / "labels.jsonl")
    assert [r.frame.id for r in records] == ["f0", "f1", "f2", "f3", "f4"]
    assert job.status == "completed"
    assert job.retry_failed() == 1 and job.counts()["pending"] == 1
    again = Job.open(job.id, tmp_path / "state")
    assert again.config == job.config and again.dir == job.dir
    assert list_jobs(tmp_path / "state") == [job.dir]
    with pytest.raises(InputNotFoundError, match=f"job not found: nope .*recent jobs: {job.id}"):
        Job.open("nope", tmp_path / "state")
    # one process at a time runs a job
    job.acquire()
    with pytest.raises(PrelabelError, match=f"job {job.id} is being run by another process \\(pid {os.getpid()}\\)"):
        again.acquire()
    job.close()
    again.acquire()
    again.close()


def _job_progress(state: Path) -> tuple[str | None, int]:
    dirs = [d for d in state.glob("*") if (d / "job.sqlite").is_file()] if state.exists() else []
    if not dirs:
        return None, 0
    try:
        with sqlite3.connect(dirs[0] / "job.sqlite", timeout=5) as db:
            n = db.execute("SELECT COUNT(*) FROM items WHERE state != 'pending'").fetchone()[0]
    except sqlite3.OperationalError:
        return dirs[0].name, 0
    return dirs[0].name, int(n)


def _kill_when(proc: subprocess.Popen[str], state: Path, more_than: int, timeout: float = 90) -> tuple[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job_id, done = _job_progress(state)
        if job_id and done > more_than:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            return job_id, done
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before it could be killed: {proc.communicate()}")
        time.sleep(0.03)
    proc.kill()
    raise AssertionError("no progress to interrupt")


@pytest.mark.slow
def test_kill_9_twice_then_resume_labels_every_frame_exactly_once(kitti: Path, tmp_path: Path, ssd: object) -> None:
    state = tmp_path / "state"
    out = tmp_path / "out" / "labels.jsonl"
    env = {**os.environ, "PRELABEL_STATE": str(state), "COLUMNS": "200"}
    exe = str(EXE)
    frames = sorted(p.stem for p in (kitti / "image_2").glob("*.png"))
    assert len(frames) == 30

    cmd = [
        exe,
        "label",
        str(kitti / "image_2"),
        "--model",
        "ssd-mobilenet-v2-coco",
        "--out",
        str(out),
        "--threads",
        "1",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    job_id, done1 = _kill_when(proc, state, 0)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    assert 0 < done1 < 30

    proc = subprocess.Popen(
        [exe, "label", "--resume", job_id, "--threads", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, done2 = _kill_when(proc, state, done1)
    assert done1 < done2 < 30

    r = prelabel("label", "--resume", job_id, env={"PRELABEL_STATE": str(state)})
    assert r.returncode == 0, r.stderr
    assert f"resuming job {job_id}" in r.stderr
    assert "frames: 30  labelled: 30  failed: 0" in r.stdout
    records = read_records(out)
    ids = [rec.frame.id for rec in records]
    assert ids == frames  # every frame once: none missing, none twice, in input order
    assert {rec.job for rec in records} == {job_id}
    # the labels are the model's labels for those pixels, whichever run made them
    from prelabel.inference.predictor import Predictor

    predictor = Predictor(ssd, job=job_id)  # type: ignore[arg-type]
    for rec in records[::10]:
        fresh = predictor.predict_frame(Frame(id=rec.frame.id, uri=rec.frame.uri))
        assert [lab.box for lab in fresh.labels] == [lab.box for lab in rec.labels]

    r = prelabel("jobs", "list", env={"PRELABEL_STATE": str(state)})
    assert r.returncode == 0 and job_id in r.stdout and "completed" in r.stdout
    r = prelabel("jobs", "show", job_id, env={"PRELABEL_STATE": str(state)})
    assert r.returncode == 0 and '"done": 30' in r.stdout


@pytest.mark.slow
def test_bad_job_usage_is_one_clear_line(tmp_path: Path) -> None:
    env = {"PRELABEL_STATE": str(tmp_path / "state")}
    r = prelabel("label", "--resume", "no-such-job", env=env)
    assert r.returncode == 2 and "error: job not found: no-such-job" in r.stderr
    r = prelabel("label", str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "--executor", "spark", env=env)
    assert r.returncode == 2 and "unknown executor 'spark'; expected one of: local, ray" in r.stderr
    r = prelabel("label", env=env)
    assert r.returncode == 2 and "give an INPUT and --out" in r.stderr
    r = prelabel("label", str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "--topics", "/cam", env=env)
    assert r.returncode == 2 and "--topics picks topics of a ROS bag or MCAP file" in r.stderr
    r = prelabel("label", str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "--every", "3", env=env)
    assert r.returncode == 2 and "--fps and --every sample a video" in r.stderr
    assert not (tmp_path / "state").exists() or not list_jobs(tmp_path / "state")  # nothing half-made
