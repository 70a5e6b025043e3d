"""The local executor: one predictor, the threaded pipeline, results committed to the job as they come."""

from __future__ import annotations

from typing import Any

from prelabel.inference.job_store import Job
from prelabel.inference.pipeline import PipelineOptions, run_pipeline
from prelabel.inference.predictor import Predictor
from prelabel.inference.runner import RunSummary
from prelabel.sources.frames import load_frame_image


def make_predictor(job: Job, **overrides: Any) -> Predictor:
    cfg = job.config
    kwargs = {**cfg.predictor, **overrides}
    return Predictor(cfg.model, job=job.id, loader=load_frame_image, **kwargs)


def run_local(job: Job, on_records: Any = None, *, predictor: Predictor | None = None) -> RunSummary:
    opts = job.config.executor_options
    defaults = PipelineOptions()
    pipe = PipelineOptions(
        decode_workers=int(opts.get("decode_workers", defaults.decode_workers)),
        queue_size=int(opts.get("queue_size", defaults.queue_size)),
        decode_nice=int(opts.get("decode_nice", defaults.decode_nice)),
        ahead=int(opts.get("ahead", defaults.ahead)),
        prepare=bool(opts.get("prepare", defaults.prepare)),
    )
    pred = predictor or make_predictor(job)
    pred.job = job.id
    return run_pipeline(pred, job.pending(), job.complete, options=pipe, on_records=on_records)
