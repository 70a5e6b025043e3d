"""Executors run a job's pending frames: ``local`` (threads on this machine) or ``ray`` (Ray Data actors).

Each is ``run(job, on_records) -> RunSummary`` and builds its predictors from the job's configuration, so a job
resumed on another executor labels the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from prelabel.core.labels import FrameRecord
from prelabel.errors import UnknownNameError
from prelabel.inference.job_store import Job
from prelabel.inference.runner import RunSummary

EXECUTORS = ("local", "ray")

OnRecords = Callable[[list[FrameRecord]], None]


class Executor(Protocol):
    def __call__(self, job: Job, on_records: OnRecords | None = None) -> RunSummary: ...


def get_executor(name: str) -> Executor:
    if name == "local":
        from prelabel.inference.executors.local import run_local

        return run_local
    if name == "ray":
        from prelabel.inference.executors.ray import run_ray

        return run_ray
    raise UnknownNameError("executor", name, EXECUTORS)
