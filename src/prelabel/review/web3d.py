"""The portal's 3D routes: a 3D task's points and camera images, served only for tasks the user may see (a worker:
their own; an admin: any), only from the job's allowed roots (:mod:`prelabel.review.frames`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from prelabel.review import review_jobs, sequence3d, tasks
from prelabel.review.errors import NotFoundError
from prelabel.review.pointcloud import MAX_POINTS, frame_points, thin

if TYPE_CHECKING:
    from prelabel.review.web import Portal

_PRIVATE = {"Cache-Control": "private, max-age=3600"}


def _visible(
    portal: Portal, request: Request, task_id: int
) -> tuple[tasks.Task, review_jobs.Job, review_jobs.JobFrame]:
    s = portal.session(request)
    task = tasks.get_task(portal.db, task_id, None if s.role == "admin" else s.user)
    job = review_jobs.get_job(portal.db, task.job_id)
    if job.modality != "3d":
        raise NotFoundError("3D task", task_id)
    return task, job, review_jobs.job_frame(portal.db, job.id, task.frame_id)


def register(app: FastAPI, portal: Portal) -> None:
    @app.get("/api/tasks/{task_id}/sequence")
    def task_sequence(request: Request, task_id: int) -> dict[str, Any]:
        task, _, _ = _visible(portal, request, task_id)
        return sequence3d.sequence_payload(portal.db, task, str(request.scope.get("root_path", "")).rstrip("/"))

    @app.post("/api/tasks/{task_id}/sequence/response")
    async def task_sequence_submit(request: Request, task_id: int) -> dict[str, Any]:
        s, body = await portal.changing(request, role="worker")
        out = sequence3d.submit_sequence(portal.db, task_id, s.user, body)
        return {**out, "next_task": tasks.next_task(portal.db, s.user, after=task_id)}

    @app.get("/api/tasks/{task_id}/points")
    def task_points(request: Request, task_id: int) -> Response:
        task, job, jf = _visible(portal, request, task_id)
        policy = portal.policy.with_roots(job.roots)
        pts = frame_points(jf.record.frame, policy, f"point cloud of frame {task.frame_id}")
        total = len(pts)
        pts = thin(pts, MAX_POINTS)
        return Response(
            pts.astype("<f4").tobytes(),
            media_type="application/octet-stream",
            headers={**_PRIVATE, "X-Point-Count": str(len(pts)), "X-Point-Total": str(total)},
        )

    @app.get("/api/tasks/{task_id}/cameras/{index}/image")
    def task_camera(request: Request, task_id: int, index: int) -> Response:
        task, job, jf = _visible(portal, request, task_id)
        cams = jf.record.frame.cameras or []
        if not 0 <= index < len(cams):
            raise NotFoundError("camera", index)
        return portal.image(job, cams[index].uri, f"camera {cams[index].name} of frame {task.frame_id}", "cam")


def sequence_nav(portal: Portal, task: tasks.Task, jf: review_jobs.JobFrame) -> dict[str, object] | None:
    """Where the task's sample sits in its sequence, with the worker's tasks on the samples before and after."""
    seq = jf.record.frame.sequence
    if seq is None:
        return None
    ids = review_jobs.sequence_frame_ids(portal.db, task.job_id, seq)
    mine = {t.frame_id: t.id for t in tasks.job_tasks(portal.db, task.job_id) if t.worker == task.worker}
    i = ids.index(task.frame_id)
    return {
        "name": seq,
        "position": i,
        "length": len(ids),
        "prev_task": next((mine[f] for f in reversed(ids[:i]) if f in mine), None),
        "next_task": next((mine[f] for f in ids[i + 1 :] if f in mine), None),
    }
