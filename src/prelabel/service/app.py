"""The HTTP API (FastAPI): models, endpoint configs, endpoints, async and sync invocations, metrics.

``create_app(state_dir)`` is the one factory; ``prelabel serve`` runs it with uvicorn. The OpenAPI document is at
``/openapi.json`` and browsable at ``/docs``. Errors are JSON ``{"error": "..."}`` with a 4xx/5xx status, for every
status (validation errors, unknown routes and methods, unreadable bodies, unexpected failures) and documented as
such in the OpenAPI document.

In front of the routes: the ``Host`` allow-list and, when configured, the bearer token (:mod:`prelabel.httpguard`).
Every storage location a request names is checked against the operator's roots (:mod:`prelabel.access`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from prelabel import access
from prelabel import limits as limits_mod
from prelabel.httpguard import Guard, allowed_hosts
from prelabel.limits import Limits
from prelabel.service.bodylimit import BodyLimit
from prelabel.service.completions import Completions
from prelabel.service.context import ServiceContext
from prelabel.service.errors import document_bearer_auth, error_responses, install_error_handlers
from prelabel.service.fastpath import FastInvoke
from prelabel.service.leftovers import remove_leftovers
from prelabel.service.outbox import Outbox
from prelabel.service.routes import ROUTERS
from prelabel.service.store import Store
from prelabel.service.supervisor import Supervisor

log = logging.getLogger("prelabel.service")

ENV_ALLOW_PYTHON_MODELS = "PRELABEL_ALLOW_PYTHON_MODELS"
# the routes served without the bearer token: health and the API's own documentation; the portal has its own users
OPEN_PATHS = ("/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
OPEN_PREFIXES = ("/portal",)


def create_app(
    state_dir: str | Path,
    *,
    supervise: bool = True,
    tick_s: float = 0.25,
    lease_s: float = 30.0,
    worker_poll_s: float = 0.05,
    ray: bool = False,
    ray_address: str | None = None,
    webhook_attempts: int = 10,
    webhook_backoff_s: float = 1.0,
    webhook_backoff_max_s: float = 300.0,
    limits: Limits | None = None,
    write_attempts: int = 3,
    max_failed_loads: int = 3,
    worker_wake: bool = True,
    policy: access.AccessPolicy | None = None,
    token: str | None = None,
    hosts: Iterable[str] | None = None,
    allow_python_models: bool = False,
) -> FastAPI:
    """The service app over ``state_dir`` (SQLite state, worker logs, sync payloads).

    ``supervise``: run the supervisor (workers + autoscaler) in this process; ``ray``: allow endpoints whose
    backend is Ray Serve (a local Ray is started on the first such endpoint; ``ray_address``: join that cluster).
    ``webhook_*``: the outbox's retry policy (attempts per notice, first back-off, back-off cap; doubling per attempt).
    ``limits``: decoded pixels and bytes per input (passed to the workers) and bytes per request body (default:
    :func:`prelabel.limits.current`); ``write_attempts``: tries per output or error document before an invocation
    fails; ``max_failed_loads``: failed model loads in a row before an endpoint is marked failed; ``worker_wake``:
    workers are woken when work arrives (False: they poll SQLite every ``worker_poll_s``).
    ``policy``: the storage roots and allowed URLs every location must be under (none by default: every location
    is refused); ``token``: the bearer token every request but health and docs must carry (None: no token);
    ``hosts``: the allowed ``Host`` names (default: loopback names); ``allow_python_models``: accept
    ``python:module:factory`` model references (code the workers import and run).
    """
    state = Path(state_dir).absolute()
    store = Store(state)
    sync_dir = state / "sync"
    sync_dir.mkdir(parents=True, exist_ok=True)
    policy = policy or access.AccessPolicy()
    worker_env = policy.with_root(sync_dir).to_env()  # workers read sync payloads too, and only under the roots
    policy = policy.excluding(state)  # requests never name the state (database, token, logs), even inside a root
    if allow_python_models:
        worker_env[ENV_ALLOW_PYTHON_MODELS] = "1"
    outbox = Outbox(store, attempts=webhook_attempts, backoff_s=webhook_backoff_s, backoff_max_s=webhook_backoff_max_s)
    lim = limits or limits_mod.current()
    worker_env.update(
        {
            limits_mod.ENV_MAX_PIXELS: str(lim.max_pixels),
            limits_mod.ENV_MAX_INPUT_BYTES: str(lim.max_input_bytes),
            limits_mod.ENV_MAX_BODY_BYTES: str(lim.max_body_bytes),
        }
    )
    supervisor = Supervisor(
        store,
        tick_s=tick_s,
        lease_s=lease_s,
        worker_poll_s=worker_poll_s,
        outbox=outbox,
        worker_env=worker_env,
        write_attempts=write_attempts,
        max_failed_loads=max_failed_loads,
        worker_wake=worker_wake,
    )
    ctx = ServiceContext(
        state=state,
        store=store,
        sync_dir=sync_dir,
        policy=policy,
        allow_python_models=allow_python_models,
        completions=Completions(state),
        kick_supervisor=supervisor.kick if supervise else lambda: None,
    )
    ctx.completions.add_listener(outbox.kick)  # a finished invocation may have a notice to deliver

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.completions.start()  # before any worker runs: what they finish from now on is announced
        if supervise:
            supervisor.start()  # stops what a previous run left, so its half-written files are leftovers now
            started = time.time()
            folders = [str(sync_dir), str(sync_dir / "failures"), *store.output_folders()]
            await asyncio.to_thread(remove_leftovers, folders, started)
        if ray:
            from prelabel.service.rayserve import RayServeBackend

            os.environ.update(worker_env)  # the local Ray's replicas inherit the roots and the python: models switch

            ctx.ray_backend = RayServeBackend(store, lease_s=lease_s, address=ray_address)
            ctx.ray_backend.restore()
        try:
            yield
        finally:
            if ctx.ray_backend is not None:
                ctx.ray_backend.shutdown()
            if supervise:
                await asyncio.to_thread(supervisor.stop)
            ctx.completions.stop()

    app = FastAPI(
        title="prelabel async endpoints",
        version="1",
        description="Asynchronous inference endpoints that scale to zero: create a model, an endpoint config and "
        "an endpoint with an autoscaling policy, then invoke it with input locations in storage (local or s3://). "
        "Results land at the output location as JSON frame records; failures as error documents.",
        lifespan=lifespan,
        responses=error_responses(),
    )
    app.state.ctx = ctx
    app.add_middleware(FastInvoke, ctx=ctx)  # innermost of the three: the guard and the body limit apply first
    app.add_middleware(BodyLimit, max_bytes=lim.max_body_bytes)
    app.add_middleware(
        Guard,
        hosts=list(hosts) if hosts is not None else allowed_hosts("127.0.0.1"),
        token=token,
        open_paths=OPEN_PATHS,
        open_prefixes=OPEN_PREFIXES,
    )
    install_error_handlers(app)
    if token is not None:
        document_bearer_auth(app, OPEN_PATHS)

    for router in ROUTERS:
        app.include_router(router)

    # ---- the review portal, when that part of prelabel is installed
    try:
        from prelabel.review.web import create_portal_app
    except ImportError:
        pass
    else:
        app.mount("/portal", create_portal_app(state))

    return app
