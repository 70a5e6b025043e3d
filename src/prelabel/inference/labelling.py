"""Labelling an input as a persisted job: what ``prelabel label`` does, as library calls.

>>> job = start_job("frames/", "out/labels.jsonl", "ssd-mobilenet-v2-coco")
>>> result = run_job(job)          # labels every pending frame on the job's executor, writes the labels file
>>> result.whole.labelled, result.output

:func:`start_job` checks everything it can (output, input kind and options, model reference, executor) before a job
exists; :func:`resume_job` reopens an interrupted one. Both claim the job for this process.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prelabel.errors import OutputExistsError, PrelabelError
from prelabel.inference.job_store import Job, JobConfig
from prelabel.inference.runner import RunSummary


@dataclass
class JobResult:
    """``whole``: the summary of the whole job (every run of it); ``this_run``: this call's frames and time."""

    job_id: str
    output: str
    whole: RunSummary
    this_run: RunSummary

    @property
    def fps(self) -> float:
        return self.this_run.fps


def resolve_out_uri(out: str) -> str:
    """``out`` names a labels file (``*.jsonl``) or a folder that gets ``labels.jsonl``; local or ``s3://``."""
    if out.endswith(".jsonl"):
        return out
    from prelabel import storage

    return storage.join(out, "labels.jsonl")


def start_job(
    input: str,
    out: str,
    model: str,
    *,
    predictor_options: dict[str, Any] | None = None,
    overwrite: bool = False,
    topics: list[str] | None = None,
    fps: float | None = None,
    every: int | None = None,
    executor: str = "local",
    executor_options: dict[str, Any] | None = None,
    state: str | None = None,
) -> Job:
    """Create a job for ``input`` and list its frames. Bad usage or input fails here, before a job exists."""
    from prelabel import storage
    from prelabel.inference.executors import get_executor
    from prelabel.models.loader import check_model_ref
    from prelabel.sources.frames import input_kind, iter_frames

    get_executor(executor)  # an unknown executor fails before a job exists
    out_uri = resolve_out_uri(out)
    if storage.exists(out_uri) and not overwrite:
        raise OutputExistsError(out_uri)
    kind = input_kind(input)
    if topics and kind != "bag":
        raise PrelabelError(f"--topics picks topics of a ROS bag or MCAP file; {input} is {kind}")
    if (fps is not None or every is not None) and kind != "video":
        raise PrelabelError(f"--fps and --every sample a video; {input} is {kind}")
    if fps is not None and every is not None:
        raise PrelabelError("sample a video by --fps or by --every, not both")
    frames = iter_frames(input, topics=topics, fps=fps, every=every)
    first = next(frames, None)  # bad input fails here, before a job exists
    if first is None:
        raise PrelabelError(f"no frames in {input}")
    check_model_ref(model, options=predictor_options)  # any reference prelabel.models.refs parses
    cfg = JobConfig(
        input=input,
        output=out_uri,
        model=model,
        predictor=predictor_options or {},
        topics=topics,
        fps=fps,
        every=every,
        executor=executor,
        executor_options=executor_options or {},
    )
    job = Job.create(cfg, state)
    job.acquire()
    job.add_frames(itertools.chain([first], frames))
    return job


def resume_job(
    ref: str,
    *,
    state: str | None = None,
    executor: str | None = None,
    executor_options: dict[str, Any] | None = None,
    retry_failed: bool = False,
) -> Job:
    """Reopen an interrupted job (by id or folder), optionally on another executor or with its failed frames
    pending again."""
    from prelabel.inference.executors import get_executor
    from prelabel.sources.frames import iter_frames

    job = Job.open(ref, state)
    job.acquire()
    cfg = job.config
    if executor is not None and (executor != cfg.executor or executor_options):
        get_executor(executor)
        cfg = cfg.model_copy(update={"executor": executor, "executor_options": executor_options or {}})
        job.set_meta({"config": cfg.model_dump_json()})
    if job.status == "listing":  # killed while listing the input: list again (idempotent by position)
        job.add_frames(iter_frames(cfg.input, topics=cfg.topics, fps=cfg.fps, every=cfg.every))
    if retry_failed:
        job.retry_failed()
    return job


def run_job(job: Job, *, on_progress: Callable[[int], None] | None = None) -> JobResult:
    """Label the job's pending frames on its executor, then write the labels file.

    ``on_progress(n)`` is called as ``n`` more frames finish. An interrupted run (Ctrl-C) marks the job
    ``interrupted``, any other error ``failed`` with the reason; both re-raise, and the job can be resumed.
    """
    from prelabel.inference.executors import get_executor

    run = get_executor(job.config.executor)
    job.set_status("running")
    try:
        this_run = run(job, lambda recs: on_progress(len(recs)) if on_progress else None)
    except KeyboardInterrupt:
        job.set_status("interrupted")
        raise
    except BaseException as e:
        job.set_status("failed", error=f"{type(e).__name__}: {e}")
        raise
    whole = job.finalize()
    whole.seconds = this_run.seconds
    return JobResult(job_id=job.id, output=job.config.output, whole=whole, this_run=this_run)
