"""Bulk jobs from the command line: the body of ``prelabel label`` (create or resume a job, run it on an executor,
write the labels) and ``prelabel jobs list/show``."""

from __future__ import annotations

import itertools
import time
from typing import Any

import typer

from prelabel.cli._common import console, err_console, progress_bar


def resolve_out_uri(out: str) -> str:
    """``--out`` names a labels file (``*.jsonl``) or a folder that gets ``labels.jsonl``; local or ``s3://``."""
    if out.endswith(".jsonl"):
        return out
    from prelabel import storage

    return storage.join(out, "labels.jsonl")


def run_label_job(
    *,
    input: str | None,
    out: str | None,
    model: str,
    predictor_options: dict[str, Any],
    overwrite: bool = False,
    topics: list[str] | None = None,
    fps: float | None = None,
    every: int | None = None,
    resume: str | None = None,
    executor: str | None = None,
    executor_options: dict[str, Any] | None = None,
    state: str | None = None,
    retry_failed: bool = False,
) -> Any:
    """Create (or resume) a persisted job, run its pending frames, write the labels file. Returns
    ``(summary of the whole job, this run's summary, output uri)``."""
    from prelabel import storage
    from prelabel.errors import OutputExistsError, PrelabelError
    from prelabel.inference.executors import get_executor
    from prelabel.inference.jobs import Job, JobConfig
    from prelabel.sources.frames import iter_frames

    if resume:
        job = Job.open(resume, state)
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
        err_console.print(f"resuming job {job.id}: {job.counts()['pending']} frames pending", highlight=False)
    else:
        if input is None or out is None:
            raise PrelabelError("give an INPUT and --out (or --resume JOB to finish an interrupted job)")
        executor = executor or "local"
        get_executor(executor)  # an unknown executor fails before a job exists
        out_uri = resolve_out_uri(out)
        if storage.exists(out_uri) and not overwrite:
            raise OutputExistsError(out_uri)
        from prelabel.sources.frames import input_kind

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
        from prelabel.models.loader import check_model_ref

        check_model_ref(model)  # zoo id, registry team/name@version or endpoint URL
        cfg = JobConfig(
            input=input,
            output=out_uri,
            model=model,
            predictor=predictor_options,
            topics=topics,
            fps=fps,
            every=every,
            executor=executor,
            executor_options=executor_options or {},
        )
        job = Job.create(cfg, state)
        job.acquire()
        err_console.print(
            f"job {job.id} (state in {job.dir}; if interrupted: prelabel label --resume {job.id})", highlight=False
        )
        job.add_frames(itertools.chain([first], frames))
    run = get_executor(job.config.executor)
    counts = job.counts()
    job.set_status("running")
    try:
        with progress_bar() as progress:
            task = progress.add_task(f"labelling with {job.config.model}", total=counts["total"])
            progress.update(task, completed=counts["done"] + counts["failed"])
            this_run = run(job, lambda recs: progress.advance(task, len(recs)))
    except KeyboardInterrupt:
        job.set_status("interrupted")
        err_console.print(f"interrupted; finish it with: prelabel label --resume {job.id}", highlight=False)
        raise
    except BaseException as e:
        job.set_status("failed", error=f"{type(e).__name__}: {e}")
        raise
    whole = job.finalize()
    whole.seconds = this_run.seconds
    whole_fps = this_run.frames / this_run.seconds if this_run.seconds > 0 else 0.0
    return whole, this_run, job.config.output, job.id, whole_fps


def register(app: typer.Typer) -> None:
    jobs = typer.Typer(help="Bulk labelling jobs: list them, show one.", no_args_is_help=True)
    app.add_typer(jobs, name="jobs")

    @jobs.command("list")
    def list_cmd(
        state: str | None = typer.Option(None, "--state", envvar="PRELABEL_STATE", help="Job state folder."),
    ) -> None:
        """Every job under the state folder with its progress."""
        from rich.table import Table

        from prelabel.inference.jobs import Job, job_overview, list_jobs

        table = Table(show_edge=False)
        for col in ("job", "status", "done", "failed", "pending", "total", "model", "output"):
            table.add_column(col)
        for d in list_jobs(state):
            job = Job(d)
            o = job_overview(job)
            job.close()
            table.add_row(
                o["id"], str(o["status"]), str(o["done"]), str(o["failed"]), str(o["pending"]), str(o["total"]),
                str(o["model"]), str(o["output"]),
            )  # fmt: skip
        console.print(table)

    @jobs.command("show")
    def show_cmd(
        job_ref: str = typer.Argument(..., help="Job id or folder."),
        state: str | None = typer.Option(None, "--state", envvar="PRELABEL_STATE", help="Job state folder."),
    ) -> None:
        """One job's configuration, status and progress."""
        import json

        from prelabel.cli._common import fail
        from prelabel.errors import PrelabelError
        from prelabel.inference.jobs import Job, job_overview

        try:
            job = Job.open(job_ref, state)
        except PrelabelError as e:
            raise fail(str(e)) from None
        o = job_overview(job)
        o["created"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(o.pop("created_at")))
        o["config"] = job.config.model_dump()
        console.print_json(json.dumps(o))
