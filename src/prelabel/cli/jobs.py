"""``prelabel jobs list/show``: the persisted bulk jobs (``prelabel label`` runs them through
:mod:`prelabel.inference.labelling`)."""

from __future__ import annotations

import time

import typer

from prelabel.cli._common import console


def register(app: typer.Typer) -> None:
    jobs = typer.Typer(help="Bulk labelling jobs: list them, show one.", no_args_is_help=True)
    app.add_typer(jobs, name="jobs")

    @jobs.command("list")
    def list_cmd(
        state: str | None = typer.Option(None, "--state", envvar="PRELABEL_STATE", help="Job state folder."),
    ) -> None:
        """Every job under the state folder with its progress."""
        from rich.table import Table

        from prelabel.inference.job_store import Job, job_overview, list_jobs

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
        from prelabel.inference.job_store import Job, job_overview

        try:
            job = Job.open(job_ref, state)
        except PrelabelError as e:
            raise fail(str(e)) from None
        o = job_overview(job)
        o["created"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(o.pop("created_at")))
        o["config"] = job.config.model_dump()
        console.print_json(json.dumps(o))
