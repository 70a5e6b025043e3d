"""The portal's sequence routes: a sequence task's payload and the image of each of its frames, served only for
tasks the user may see (a worker: their own; an admin: any), only from the job's allowed roots
(:mod:`prelabel.review.frames`).

- ``GET /api/tasks/{id}`` (a sequence task): the common task fields plus ``kind: "sequence"``, ``sequence`` and
  ``frames`` (see :func:`prelabel.review.sequence_tasks.task_payload`);
- ``GET /api/tasks/{id}/frames/{k}/image``: the image of the task's k-th frame (0-based, sequence order);
- answers go to ``POST /api/tasks/{id}/response`` like every task;
- ``GET /admin/jobs/{id}/tracking/output.manifest`` and ``.../tracking/<file>`` (admin): the Ground Truth
  video-frame tracking output, as ``prelabel review export`` writes it under ``manifests/output/tracking/``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from prelabel.review import responses, review_jobs, sequence_results, sequence_tasks
from prelabel.review import tasks as jobs
from prelabel.review.errors import NotFoundError
from prelabel.review.results import frame_outcomes

if TYPE_CHECKING:
    from prelabel.review.web import Portal


def task_json(portal: Portal, task: jobs.Task, job: review_jobs.Job, base: str) -> dict[str, Any]:
    last = responses.last_response(portal.db, task.id)
    return {
        "task": task.id,
        "status": task.status,
        "job": {"name": job.name, "type": job.type, "categories": job.categories, "instructions": job.instructions},
        "previous": last.payload if last is not None else None,
        "next_task": jobs.next_task(portal.db, task.worker, after=task.id),
    } | sequence_tasks.task_payload(portal.db, job, task, base)


def queue_names(portal: Portal, items: list[jobs.QueueItem]) -> dict[int, str]:
    """What the queue shows for sequence tasks instead of a frame id: ``<sequence> part n/N · k frames``."""
    out: dict[int, str] = {}
    parts: dict[int, list[sequence_tasks.Chunk]] = {}
    for i in items:
        job = review_jobs.get_job(portal.db, i.task.job_id)
        if job.kind != sequence_tasks.KIND:
            continue
        every = parts.setdefault(job.id, sequence_tasks.chunks(portal.db, job))
        c = next((x for x in every if x.key == i.task.frame_id), None)
        if c is not None:
            total = sum(1 for x in every if x.sequence == c.sequence)
            out[i.task.id] = f"{c.sequence} part {c.number + 1}/{total} · {len(c.frame_ids)} frames"
    return out


def register(app: FastAPI, portal: Portal) -> None:
    @app.get("/api/tasks/{task_id}/frames/{k}/image")
    def sequence_frame_image(request: Request, task_id: int, k: int) -> Response:
        s = portal.session(request)
        task = jobs.get_task(portal.db, task_id, None if s.role == "admin" else s.user)
        job = review_jobs.get_job(portal.db, task.job_id)
        if job.kind != sequence_tasks.KIND:
            raise NotFoundError("sequence task", task_id)
        chunk = sequence_tasks.chunk_of(portal.db, job, task.frame_id)
        if not 0 <= k < len(chunk.frame_ids):
            raise NotFoundError("frame of the task", k)
        jf = review_jobs.job_frame(portal.db, job.id, chunk.frame_ids[k])
        return portal.image(job, jf.record.frame.uri, f"image of frame {jf.frame_id}")

    @app.get("/admin/jobs/{job_id}/tracking/{name}")
    def admin_tracking_file(request: Request, job_id: int, name: str) -> Response:
        """The job's video-frame tracking output, made from the answers now: ``tracking/output.manifest`` and the
        sequence and label files it names (relative, so they resolve to this same folder of routes). Admin only;
        a name the output does not hold is a 404 (only these generated texts are served, never a file)."""
        portal.session(request, role="admin")
        job = review_jobs.get_job(portal.db, job_id)
        if job.kind != sequence_tasks.KIND:
            raise NotFoundError("tracking output of a sequence job", job_id)
        files = sequence_results.tracking_files(job, frame_outcomes(portal.db, job))
        if name not in files:
            raise NotFoundError("file of the tracking output", name)
        media = "application/x-ndjson" if name == sequence_results.TRACKING_MANIFEST else "application/json"
        return Response(files[name], media_type=media, headers={"Cache-Control": "no-store"})
