"""The portal web app: ``create_portal_app(state_dir)`` returns a FastAPI app.

It runs alone (``prelabel review serve``) or mounted under a prefix (``prelabel serve`` mounts it at ``/portal``);
every URL it writes is built from ``request.scope["root_path"]``, so both work.

Security: passwords are scrypt hashes; a session is a random token in an HttpOnly, SameSite=Strict cookie (only its
SHA-256 is stored); every state-changing request must carry the session's CSRF token (``X-CSRF-Token`` header or a
``csrf_token`` form field), and the login form a double-submit token; workers reach only their own tasks (others
answer 404); images are read from the frame URI stored with the job, never from a path in the request, and only
from the job's allowed roots, only as images (:mod:`prelabel.review.frames`); sign-in attempts are rate-limited per
account and per client address (:mod:`prelabel.review.throttle`).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from prelabel.errors import LimitExceededError, PrelabelError
from prelabel.review import (
    audit,
    auth,
    export,
    responses,
    review_jobs,
    sequence_tasks,
    stats,
    tasks,
    tasks3d,
    web3d,
    web_sequence,
    workforce,
)
from prelabel.review import frames as frame_files
from prelabel.review.audit import entries
from prelabel.review.db import Database
from prelabel.review.errors import (
    AuthError,
    NotAnImageError,
    NotFoundError,
    PermissionDeniedError,
    ReviewInputError,
    TooManyAttemptsError,
)
from prelabel.review.throttle import LoginThrottle

HERE = Path(__file__).parent
SESSION_COOKIE = "prelabel_portal"
LOGIN_COOKIE = "prelabel_portal_login"

_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; "
    "style-src 'self'; frame-ancestors 'none'; form-action 'self'",
}


# the HTTP status of each portal error (first match); any other PrelabelError is a 422
_STATUS: tuple[tuple[type[PrelabelError], int], ...] = (
    (AuthError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (LimitExceededError, 413),
    (NotAnImageError, 415),
    (TooManyAttemptsError, 429),
)


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(_base(request) + "/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


class Portal:
    """Request handling around one state folder."""

    def __init__(self, state_dir: Path, policy: frame_files.FramePolicy | None = None) -> None:
        self.db = Database(state_dir)
        self.policy = policy or frame_files.FramePolicy()
        self.throttle = LoginThrottle()
        self.env = Environment(
            loader=FileSystemLoader(str(HERE / "templates")),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )

    # --- helpers -------------------------------------------------------------------------------------------------
    def render(self, request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(base=_base(request), **ctx)
        return HTMLResponse(html, status_code=status)

    def session(self, request: Request, *, role: str | None = None) -> auth.Session:
        s = auth.session_for(self.db, request.cookies.get(SESSION_COOKIE))
        if role is not None and s.role != role:
            raise PermissionDeniedError(f"this needs the {role} role; {s.user} is a {s.role}")
        return s

    def image(self, job: review_jobs.Job, uri: str, item: str, filename: str = "frame") -> Response:
        """An image of a job's frame (or of one of its cameras): read only from the portal's and the job's roots,
        only as an image (:func:`prelabel.review.frames.image_bytes`); the browser may keep it, privately, an hour."""
        data, media = frame_files.image_bytes(uri, self.policy.with_roots(job.roots), item)
        headers = {"Cache-Control": "private, max-age=3600", "Content-Disposition": f"inline; filename={filename}"}
        return Response(data, media_type=media, headers=headers)

    async def changing(self, request: Request, *, role: str | None = None) -> tuple[auth.Session, dict[str, Any]]:
        """Session + CSRF check for a state-changing request; returns the session and the parsed body."""
        s = self.session(request, role=role)
        body: dict[str, Any] = {}
        sent = request.headers.get("x-csrf-token")
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            try:
                raw = await request.json()
            except ValueError as e:
                raise ReviewInputError(f"request body is not valid JSON: {e}") from e
            body = raw if isinstance(raw, dict) else {"_": raw}
        elif ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            body = {k: (form.getlist(k) if len(form.getlist(k)) > 1 else form.get(k)) for k in form}
            sent = sent or (str(body.get("csrf_token")) if body.get("csrf_token") else None)
        auth.check_csrf(s, sent)
        return s, body

    def cookie(self, response: Response, request: Request, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=_base(request) or "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def redirect(self, request: Request, path: str) -> RedirectResponse:
        return RedirectResponse(_base(request) + path, status_code=303)


def _task_json(portal: Portal, task: tasks.Task, request: Request) -> dict[str, Any]:
    job = review_jobs.get_job(portal.db, task.job_id)
    jf = review_jobs.job_frame(portal.db, job.id, task.frame_id)
    frame = jf.record.frame
    last = responses.last_response(portal.db, task.id)
    previous = last.payload if last is not None else None
    return {
        "task": task.id,
        "status": task.status,
        "job": {
            "name": job.name,
            "type": job.type,
            "categories": job.categories,
            "instructions": job.instructions,
        },
        "frame": {"id": frame.id, "width": frame.width, "height": frame.height, "certainty": jf.certainty},
        "image": f"{_base(request)}/api/tasks/{task.id}/image",
        "labels": responses.review_labels(jf.record),
        "previous": previous,
        "next_task": tasks.next_task(portal.db, task.worker, after=task.id),
    } | (
        {**tasks3d.task_extra(jf.record, _base(request), task.id), "sequence": web3d.sequence_nav(portal, task, jf)}
        if job.modality == "3d"
        else {}
    )


def create_portal_app(state_dir: Path | str, *, roots: Iterable[str] = (), allow_http_frames: bool = False) -> FastAPI:
    """The review portal as an ASGI app over the state folder ``state_dir`` (SQLite inside).

    ``roots``: local folders and ``s3://`` prefixes frames may be served from, and (over HTTP) job sources read
    from, besides each job's own roots; ``allow_http_frames``: fetch ``http(s)://`` frames server-side.
    """
    policy = frame_files.FramePolicy(
        roots=tuple(frame_files.normalise_root(r) for r in roots), allow_http=allow_http_frames
    )
    portal = Portal(Path(state_dir), policy)
    app = FastAPI(title="prelabel review portal", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.portal = portal
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for k, v in _HEADERS.items():
            response.headers.setdefault(k, v)
        if not request.url.path.startswith(_base(request) + "/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(PrelabelError)
    async def _errors(request: Request, exc: PrelabelError) -> Response:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 422)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttemptsError) else None
        form_post = request.method != "GET" and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        )
        if _wants_json(request) or (request.method != "GET" and not form_post):
            return JSONResponse({"error": str(exc)}, status_code=status, headers=headers)
        if status == 401:
            return portal.redirect(request, "/login")
        page = portal.render(request, "error.html", status=status, message=str(exc), status_code=status)
        page.headers.update(headers or {})
        return page

    # --- sign in / out -----------------------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, error: str = "") -> Response:
        token = secrets.token_urlsafe(32)
        resp = portal.render(request, "login.html", csrf_token=token, error=error, status=401 if error else 200)
        portal.cookie(resp, request, LOGIN_COOKIE, token, 600)
        return resp

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        sent = str(form.get("csrf_token") or "")
        cookie = request.cookies.get(LOGIN_COOKIE, "")
        if not sent or not cookie or not secrets.compare_digest(sent.encode(), cookie.encode()):
            raise PermissionDeniedError("login form token missing or stale; reload the sign-in page")
        user = str(form.get("username") or "")[:256]
        portal.throttle.check(user, _client(request))  # 429 with Retry-After, before the password is checked
        try:
            token, _ = auth.login(portal.db, user, str(form.get("password") or ""))
        except AuthError as e:
            portal.throttle.failed(user, _client(request))
            with portal.db.transaction() as conn:
                audit.record(conn, user[:64] or "-", "session.login_failed", detail={"client": _client(request)})
            return portal.redirect(request, f"/login?error={quote(str(e))}")
        portal.throttle.succeeded(user, _client(request))
        with portal.db.transaction() as conn:
            audit.record(conn, user, "session.login", detail={"client": _client(request)})
        resp = portal.redirect(request, "/")
        portal.cookie(resp, request, SESSION_COOKIE, token, auth.SESSION_HOURS * 3600)
        resp.delete_cookie(LOGIN_COOKIE, path=_base(request) or "/")
        return resp

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        s, _ = await portal.changing(request)
        auth.logout(portal.db, request.cookies.get(SESSION_COOKIE, ""))
        with portal.db.transaction() as conn:
            audit.record(conn, s.user, "session.logout")
        resp = portal.redirect(request, "/login")
        resp.delete_cookie(SESSION_COOKIE, path=_base(request) or "/")
        return resp

    @app.get("/")
    def home(request: Request) -> Response:
        try:
            s = portal.session(request)
        except AuthError:
            return portal.redirect(request, "/login")
        return portal.redirect(request, "/admin" if s.role == "admin" else "/tasks")

    # --- workers -----------------------------------------------------------------------------------------------
    @app.get("/tasks", response_class=HTMLResponse)
    def queue_page(request: Request) -> Response:
        s = portal.session(request, role="worker")
        items = tasks.worker_queue(portal.db, s.user)
        names = web_sequence.queue_names(portal, items)
        return portal.render(request, "queue.html", session=s, items=items, names=names)

    @app.get("/tasks/{task_id}", response_class=HTMLResponse)
    def task_page(request: Request, task_id: int) -> Response:
        s = portal.session(request, role="worker")
        task = tasks.get_task(portal.db, task_id, s.user)
        job = review_jobs.get_job(portal.db, task.job_id)
        page = "task3d.html" if job.modality == "3d" else "sequence.html" if job.kind == "sequence" else "task.html"
        return portal.render(request, page, session=s, task=task, job=job)

    @app.get("/api/me")
    def me(request: Request) -> dict[str, Any]:
        s = portal.session(request)
        return {"user": s.user, "role": s.role, "csrf_token": s.csrf_token}

    @app.get("/api/tasks")
    def queue_api(request: Request) -> dict[str, Any]:
        s = portal.session(request, role="worker")
        return {
            "tasks": [
                {
                    "task": i.task.id,
                    "job": i.job_name,
                    "type": i.job_type,
                    "frame": i.task.frame_id,
                    "status": i.task.status,
                    "certainty": i.certainty,
                    "labels": i.labels,
                }
                for i in tasks.worker_queue(portal.db, s.user)
            ]
        }

    @app.get("/api/tasks/{task_id}")
    def task_api(request: Request, task_id: int) -> dict[str, Any]:
        s = portal.session(request, role="worker")
        task = tasks.get_task(portal.db, task_id, s.user)
        tasks.mark_opened(portal.db, task)
        job = review_jobs.get_job(portal.db, task.job_id)
        if job.kind == "sequence":
            return web_sequence.task_json(portal, task, job, _base(request))
        return _task_json(portal, task, request)

    @app.get("/api/tasks/{task_id}/image")
    def task_image(request: Request, task_id: int) -> Response:
        s = portal.session(request)
        task = tasks.get_task(portal.db, task_id, None if s.role == "admin" else s.user)
        uri = review_jobs.job_frame(portal.db, task.job_id, task.frame_id).record.frame.uri
        return portal.image(review_jobs.get_job(portal.db, task.job_id), uri, f"image of frame {task.frame_id}")

    @app.post("/api/tasks/{task_id}/response")
    async def task_submit(request: Request, task_id: int) -> dict[str, Any]:
        s, body = await portal.changing(request, role="worker")
        r = responses.submit(portal.db, task_id, s.user, body)
        return {"response": r.id, "task": task_id, "next_task": tasks.next_task(portal.db, s.user, after=task_id)}

    # --- admins ------------------------------------------------------------------------------------------------
    @app.get("/admin", response_class=HTMLResponse)
    def admin_page(request: Request, error: str = "", notice: str = "") -> Response:
        s = portal.session(request, role="admin")
        all_jobs = review_jobs.list_jobs(portal.db)
        counts = review_jobs.frame_counts(portal.db)
        return portal.render(
            request,
            "admin.html",
            session=s,
            users=workforce.list_users(portal.db),
            jobs=all_jobs,
            counts=counts,
            error=error,
            notice=notice,
        )

    def _done(request: Request, payload: dict[str, Any], path: str) -> Response:
        if request.headers.get("content-type", "").startswith("application/json"):
            return JSONResponse(payload)
        return portal.redirect(request, path)

    def _list(v: Any) -> list[str]:
        if v is None:
            return []
        if isinstance(v, list):
            return [str(x) for x in v]
        return [p for p in (x.strip() for x in str(v).replace("\n", ",").split(",")) if p]

    @app.post("/admin/users")
    async def admin_create_user(request: Request) -> Response:
        s, body = await portal.changing(request, role="admin")
        u = workforce.create_user(
            portal.db,
            str(body.get("username") or ""),
            str(body.get("password") or ""),
            str(body.get("role") or "worker"),
            actor=s.user,
        )
        return _done(request, {"user": u.name, "role": u.role}, f"/admin?notice={quote('created ' + u.name)}")

    @app.post("/admin/jobs")
    async def admin_create_job(request: Request) -> Response:
        from prelabel.review.sources import load_job_source

        s, body = await portal.changing(request, role="admin")
        source = str(body.get("source") or "").strip()
        if not source:
            raise ReviewInputError("give the path or URI of a labels file or a Ground Truth manifest as 'source'")
        if not portal.policy.roots:
            raise PermissionDeniedError(
                "this portal reads no files for web requests: create jobs with 'prelabel review create-job', or "
                "restart the portal with --root DIR to allow job sources and frames under DIR"
            )
        source = frame_files.check_allowed(source, portal.policy.roots, "job source")
        loaded = load_job_source(source, attribute=str(body.get("source_attribute") or "") or None)
        frames = _list(body.get("frames")) or None
        job_type = str(body.get("type") or "adjust")
        kind = sequence_tasks.choose_kind(str(body.get("kind") or "auto"), loaded.records, loaded.format, job_type)
        make: Any = (
            functools.partial(
                sequence_tasks.create_sequence_job,
                chunk=sequence_tasks.parse_chunk(body.get("chunk")),
                overlap=sequence_tasks.parse_overlap(body.get("chunk_overlap")),
            )
            if kind == "sequence"
            else functools.partial(review_jobs.create_job, job_type=job_type)
        )
        job, summary = make(
            portal.db,
            str(body.get("name") or ""),
            records=loaded.records,
            source=source,
            source_format=loaded.format,
            source_attribute=loaded.attribute,
            manifest_lines=loaded.lines,
            categories=_list(body.get("categories")) or None,
            instructions=str(body.get("instructions") or ""),
            frames=frames,
            attribute=str(body.get("attribute") or "") or None,
            actor=s.user,
            roots=[frame_files.source_root(source)],
        )
        return _done(request, {"job": job.id, "name": job.name, **summary}, f"/admin/jobs/{job.id}")

    @app.post("/admin/jobs/{job_id}/assign")
    async def admin_assign(request: Request, job_id: int) -> Response:
        s, body = await portal.changing(request, role="admin")
        n = tasks.assign(
            portal.db, job_id, _list(body.get("workers")), frames=_list(body.get("frames")) or None, actor=s.user
        )
        return _done(request, {"job": job_id, "new_tasks": n}, f"/admin/jobs/{job_id}")

    @app.get("/admin/jobs/{job_id}", response_class=HTMLResponse)
    def admin_job(request: Request, job_id: int) -> Response:
        s = portal.session(request, role="admin")
        job = review_jobs.get_job(portal.db, job_id)
        return portal.render(
            request,
            "job.html",
            session=s,
            job=job,
            stats=stats.job_stats(portal.db, job),
            tasks=tasks.job_tasks(portal.db, job.id),
            workers=[u for u in workforce.list_users(portal.db) if u.role == "worker"],
            audit=entries(portal.db, job_id=job.id)[-50:],
        )

    @app.get("/api/admin/jobs/{job_id}/stats")
    def admin_stats(request: Request, job_id: int) -> dict[str, Any]:
        portal.session(request, role="admin")
        return stats.job_stats(portal.db, job_id)

    @app.get("/api/admin/jobs/{job_id}/audit")
    def admin_audit(request: Request, job_id: int) -> dict[str, Any]:
        portal.session(request, role="admin")
        review_jobs.get_job(portal.db, job_id)
        return {"entries": entries(portal.db, job_id=job_id)}

    @app.get("/admin/jobs/{job_id}/output.manifest")
    def admin_manifest(request: Request, job_id: int) -> Response:
        portal.session(request, role="admin")
        text = "".join(line + "\n" for line in export.manifest_lines(portal.db, job_id))
        return PlainTextResponse(text, media_type="application/x-ndjson")

    @app.get("/admin/jobs/{job_id}/labels.jsonl")
    def admin_labels(request: Request, job_id: int) -> Response:
        portal.session(request, role="admin")
        text = "".join(r.to_json() + "\n" for r in export.reviewed_records(portal.db, job_id))
        return PlainTextResponse(text, media_type="application/x-ndjson")

    web3d.register(app, portal)
    web_sequence.register(app, portal)

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
