"""Running models over frames: the predictor, persisted jobs (job_store), labelling an input as a job
(labelling: start_job, resume_job, run_job), run summaries and executors."""

from __future__ import annotations

from typing import Any

_LAZY = {"start_job", "resume_job", "run_job", "JobResult"}


def __getattr__(name: str) -> Any:
    """``prelabel.inference.run_job`` and friends, imported on first use (importing the package stays light)."""
    if name in _LAZY:
        from prelabel.inference import labelling

        return getattr(labelling, name)
    raise AttributeError(f"module 'prelabel.inference' has no attribute {name!r}")
