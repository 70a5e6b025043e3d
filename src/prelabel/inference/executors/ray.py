"""The Ray executor: Ray Data ``map_batches`` over the job's pending frames with the same :class:`Predictor`.

A pool of actors (``ActorPoolStrategy``, fractional ``num_cpus`` so a small machine does not deadlock) each loads
the model once and labels batches of frames, decoding them itself (``load_frame_image``: image files, ``bag://``
and ``video://`` frames, local or S3). The driver commits every returned batch to the job, so a crash loses only
in-flight batches, which stay pending. Frames go to Ray in windows (``window`` items), keeping driver memory flat.
Ray is started on this machine with :func:`prelabel.raycluster.start_local_ray` unless already connected, or
joined as a driver when the job names a cluster (``address``, e.g. from ``--ray-address``).

Node loss: when a node dies mid-job its actors and in-flight batches are lost. Ray Data restarts actors elsewhere
where it can; where the dataset fails instead, the driver starts again from the job's pending items (at most
``max_attempts`` times in a row without progress). Finished items are committed once (``Job.complete`` only
changes pending items), so every frame is labelled exactly once whatever dies.
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

import numpy as np

from prelabel.core.labels import Frame, FrameRecord
from prelabel.errors import PrelabelError
from prelabel.inference.job_store import Job
from prelabel.inference.predictor import Predictor
from prelabel.inference.runner import RunSummary
from prelabel.sources.frames import load_frame_image

log = logging.getLogger(__name__)


class RayPredictor(Predictor):
    """:class:`Predictor` with Ray Data's column batches: ``{"seq", "frame"}`` in, ``{"seq", "record"}`` out."""

    def __init__(self, model: str, job: str, options: dict[str, Any]) -> None:
        super().__init__(model, job=job, loader=load_frame_image, **options)

    def __call__(self, batch: Any) -> Any:
        frames = [Frame.model_validate_json(str(s)) for s in batch["frame"]]
        records = [self.predict_frame(f).to_json() for f in frames]
        return {"seq": np.asarray(batch["seq"], dtype=np.int64), "record": np.asarray(records, dtype=object)}


def run_ray(job: Job, on_records: Any = None) -> RunSummary:
    import ray

    from prelabel.raycluster import connect, shutdown, start_local_ray

    cfg = job.config
    opts = cfg.executor_options
    actors = int(opts.get("actors", 2))
    cpus = float(opts.get("cpus_per_actor", 0.5))
    batch_size = int(opts.get("batch_size", 4))
    window = int(opts.get("window", 2048))
    from prelabel.models.backends.providers import is_gpu

    # a CUDA/TensorRT job's actors each ask Ray for a GPU (fractional with gpus_per_actor), so they land on GPU nodes
    gpus = float(opts.get("gpus_per_actor", 1.0)) if is_gpu(cfg.predictor.get("device")) else 0.0
    max_attempts = int(opts.get("max_attempts", 3))
    address = opts.get("address")
    started = False
    if not ray.is_initialized():
        if address:
            connect(str(address))
        else:
            start_local_ray(num_cpus=int(opts.get("num_cpus", 2)))
        started = True
    from ray.data import ActorPoolStrategy, DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    summary = RunSummary()
    start = time.perf_counter()
    failures = 0
    pending = job.pending()
    try:
        while True:
            chunk = [
                {"seq": seq, "frame": frame.model_dump_json(exclude_none=True)}
                for seq, frame in itertools.islice(pending, window)
            ]
            if not chunk:
                break
            ds = ray.data.from_items(chunk).map_batches(
                RayPredictor,
                fn_constructor_kwargs={"model": cfg.model, "job": job.id, "options": cfg.predictor},
                batch_size=batch_size,
                compute=ActorPoolStrategy(min_size=1, max_size=actors),
                num_cpus=cpus,
                num_gpus=gpus,
                batch_format="numpy",
            )
            finished = 0
            try:
                for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
                    results = [
                        (int(s), FrameRecord.from_json(str(r))) for s, r in zip(out["seq"], out["record"], strict=True)
                    ]
                    finished += job.complete(results)
                    for _, rec in results:
                        summary.add(rec)
                    if on_records:
                        on_records([r for _, r in results])
            except (ray.exceptions.RayError, ray.exceptions.RaySystemError) as exc:
                failures = 0 if finished else failures + 1
                if failures >= max_attempts:
                    raise PrelabelError(
                        f"job {job.id}: Ray failed {failures} times in a row without progress; last error: "
                        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; "
                        f"the job keeps its finished frames: resume it with --resume {job.id}"
                    ) from exc
                log.warning("job %s: Ray lost work (%s); going on from the pending items", job.id, type(exc).__name__)
                pending = job.pending()
                continue
            if not finished:
                raise PrelabelError(f"job {job.id}: Ray returned no results for {len(chunk)} frames")
            failures = 0
            pending = job.pending()
    finally:
        if started:
            shutdown()
    summary.seconds = time.perf_counter() - start
    return summary
