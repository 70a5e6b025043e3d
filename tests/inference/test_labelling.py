"""The Python API does what `prelabel label` does: start a job, run it with progress, resume it; bad usage fails
before a job exists."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from prelabel.errors import OutputExistsError, PrelabelError, UnknownNameError
from prelabel.inference import JobResult, resume_job, run_job, start_job
from prelabel.inference.job_store import list_jobs
from prelabel.labelfile import read_records


def test_start_run_and_resume_a_job_from_python(kitti_frames: Callable[..., Path], tmp_path: Path) -> None:
    frames = kitti_frames("000001", "000008")
    state = str(tmp_path / "state")
    job = start_job(str(frames), str(tmp_path / "out"), "ssd-mobilenet-v2-coco", state=state,
                    predictor_options={"min_score": 0.3, "threads": 2})  # fmt: skip
    assert job.counts() == {"pending": 2, "done": 0, "failed": 0, "total": 2}
    seen: list[int] = []
    result = run_job(job, on_progress=seen.append)
    job.close()
    assert isinstance(result, JobResult) and sum(seen) == 2
    assert result.output == str(tmp_path / "out" / "labels.jsonl") and result.job_id == job.id
    assert (result.whole.frames, result.whole.labelled, result.whole.failed) == (2, 2, 0)
    assert result.whole.labels_per_class["car"] > 0 and result.fps > 0
    assert [r.frame.id for r in read_records(result.output)] == ["000001", "000008"]

    again = resume_job(job.id, state=state, retry_failed=True)  # nothing pending: it only rewrites the file
    rerun = run_job(again)
    again.close()
    assert rerun.this_run.frames == 0 and rerun.whole.frames == 2


def test_bad_usage_fails_before_a_job_exists(kitti: Path, tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    images = str(kitti / "image_2" / "000001.png")
    with pytest.raises(UnknownNameError, match="unknown executor 'nope'"):
        start_job(images, str(tmp_path / "o.jsonl"), "ssd-mobilenet-v2-coco", executor="nope", state=state)
    with pytest.raises(PrelabelError, match="--topics picks topics of a ROS bag"):
        start_job(images, str(tmp_path / "o.jsonl"), "ssd-mobilenet-v2-coco", topics=["/cam"], state=state)
    with pytest.raises(PrelabelError, match="unknown model 'nope'"):
        start_job(images, str(tmp_path / "o.jsonl"), "nope", state=state)
    (tmp_path / "exists.jsonl").write_text("")
    with pytest.raises(OutputExistsError):
        start_job(images, str(tmp_path / "exists.jsonl"), "ssd-mobilenet-v2-coco", state=state)
    assert list_jobs(state) == []
