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
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from prelabel import access, storage
from prelabel import limits as limits_mod
from prelabel.httpguard import Guard, allowed_hosts
from prelabel.limits import Limits
from prelabel.service import metrics as metrics_mod
from prelabel.service.bodylimit import BodyLimit
from prelabel.service.errors import api_error as _error
from prelabel.service.errors import document_bearer_auth, error_responses, install_error_handlers
from prelabel.service.leftovers import remove_leftovers
from prelabel.service.locations import check_location as _check_location
from prelabel.service.locations import check_url as _check_url
from prelabel.service.models import check_model
from prelabel.service.outbox import Outbox
from prelabel.service.schemas import (
    LOCATION_DOC,
    EndpointConfigCreate,
    EndpointConfigInfo,
    EndpointCreate,
    EndpointInfo,
    InvocationAccepted,
    InvocationIds,
    InvocationInfo,
    InvocationStatus,
    ModelCreate,
    ModelInfo,
    NoticeInfo,
    ScalingEvent,
)
from prelabel.service.store import PUBLIC_STATE, Store
from prelabel.service.supervisor import Supervisor
from prelabel.service.wake import wake

log = logging.getLogger("prelabel.service")

SYNC_CONTENT_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/jpg": ".jpg"}
SYNC_ERROR_STATUS = {
    "InputNotFoundError": 400,
    "UnreadableInputError": 400,
    "LimitExceededError": 413,
    "EndpointFailed": 503,
}
ENV_ALLOW_PYTHON_MODELS = "PRELABEL_ALLOW_PYTHON_MODELS"
PYTHON_MODELS_HOW = (
    "python: model references run code in the service's worker processes and are refused unless the operator "
    "starts the service with --allow-python-models"
)
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
    ray_backend: Any = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal ray_backend
        if supervise:
            supervisor.start()  # stops what a previous run left, so its half-written files are leftovers now
            started = time.time()
            folders = [str(sync_dir), str(sync_dir / "failures")]
            for row in store.all("SELECT output_path, failure_path FROM endpoint_configs"):
                folders += [row["output_path"], row["failure_path"]]
            await asyncio.to_thread(remove_leftovers, folders, started)
        if ray:
            from prelabel.service.rayserve import RayServeBackend

            os.environ.update(worker_env)  # the local Ray's replicas inherit the roots and the python: models switch

            ray_backend = RayServeBackend(store, lease_s=lease_s, address=ray_address)
            ray_backend.restore()
        app.state.ray_backend = ray_backend
        try:
            yield
        finally:
            if ray_backend is not None:
                ray_backend.shutdown()
            if supervise:
                await asyncio.to_thread(supervisor.stop)

    app = FastAPI(
        title="prelabel async endpoints",
        version="1",
        description="Asynchronous inference endpoints that scale to zero: create a model, an endpoint config and "
        "an endpoint with an autoscaling policy, then invoke it with input locations in storage (local or s3://). "
        "Results land at the output location as JSON frame records; failures as error documents.",
        lifespan=lifespan,
        responses=error_responses(),
    )
    app.state.store = store
    app.state.supervisor = supervisor
    app.add_middleware(BodyLimit, max_bytes=lim.max_body_bytes)
    app.state.policy = policy
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

    # ---- health
    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        """Served without the token (for load balancers and supervisors)."""
        return {"status": "ok"}

    # ---- models
    def model_info(name: str) -> ModelInfo:
        row = store.one("SELECT * FROM models WHERE name=?", name)
        if row is None:
            names = [r["name"] for r in store.all("SELECT name FROM models")]
            raise _error(404, f"model {name!r} not found; existing: {', '.join(sorted(names)) or '(none)'}")
        return ModelInfo(
            name=row["name"],
            model=row["model"],
            kind=row["kind"],
            options=json.loads(row["options"]),
            created_at=row["created_at"],
        )

    @app.post("/models", status_code=201, response_model=ModelInfo, tags=["models"])
    def create_model(body: ModelCreate) -> ModelInfo:
        """Register a model: a zoo id, a private model reference, an existing endpoint URL, or python:mod:factory."""
        from prelabel.models.refs import parse_model_ref

        if parse_model_ref(body.model).kind == "onnx":  # a model file is read like an input: only under the roots
            _check_location("model", body.model, policy)
        registry = (body.options or {}).get("registry")
        if registry is not None:  # a private registry is a folder or bucket the service reads: under the roots too
            _check_location("options.registry", str(registry), policy)
        kind = check_model(body.model, body.options)
        if kind == "python" and not allow_python_models:
            raise _error(403, f"model {body.model!r}: {PYTHON_MODELS_HOW}")
        if kind == "endpoint":  # the workers will POST images there
            _check_url("model", body.model, policy)
        if store.one("SELECT 1 FROM models WHERE name=?", body.name):
            raise _error(409, f"model {body.name!r} exists already; delete it first or choose another name")
        store.add_model(body.name, body.model, kind, body.options)
        return model_info(body.name)

    @app.get("/models", response_model=list[ModelInfo], tags=["models"])
    def list_models() -> list[ModelInfo]:
        return [model_info(r["name"]) for r in store.all("SELECT name FROM models ORDER BY name")]

    @app.get("/models/{name}", response_model=ModelInfo, tags=["models"])
    def describe_model(name: str) -> ModelInfo:
        return model_info(name)

    @app.delete("/models/{name}", status_code=204, tags=["models"])
    def delete_model(name: str) -> None:
        model_info(name)
        users = store.all(
            "SELECT e.name FROM endpoints e JOIN endpoint_configs c ON c.name=e.config_name WHERE c.model_name=?", name
        )
        if users:
            raise _error(409, f"model {name!r} is used by endpoints {[r['name'] for r in users]}; delete them first")
        with store.tx() as db:
            db.execute("DELETE FROM models WHERE name=?", (name,))

    # ---- endpoint configs
    def config_info(name: str) -> EndpointConfigInfo:
        row = store.one("SELECT * FROM endpoint_configs WHERE name=?", name)
        if row is None:
            names = [r["name"] for r in store.all("SELECT name FROM endpoint_configs")]
            raise _error(404, f"endpoint config {name!r} not found; existing: {', '.join(sorted(names)) or '(none)'}")
        return EndpointConfigInfo(
            name=row["name"],
            model_name=row["model_name"],
            max_concurrent_invocations_per_instance=row["max_concurrency"],
            output_path=row["output_path"],
            failure_path=row["failure_path"],
            success_webhook=row["success_webhook"],
            error_webhook=row["error_webhook"],
            created_at=row["created_at"],
        )

    @app.post("/endpoint-configs", status_code=201, response_model=EndpointConfigInfo, tags=["endpoint configs"])
    def create_endpoint_config(body: EndpointConfigCreate) -> EndpointConfigInfo:
        model_info(body.model_name)
        if store.one("SELECT 1 FROM endpoint_configs WHERE name=?", body.name):
            raise _error(409, f"endpoint config {body.name!r} exists already")
        output_path = _check_location("output_path", body.output_path, policy)
        for hook in ("success_webhook", "error_webhook"):  # the server will POST notices there
            if getattr(body, hook) is not None:
                _check_url(hook, getattr(body, hook), policy)
        failure_path = _check_location(
            "failure_path", body.failure_path or storage.join(output_path, "failures"), policy
        )
        store.add_config(
            {
                "name": body.name,
                "model_name": body.model_name,
                "max_concurrency": body.max_concurrent_invocations_per_instance,
                "output_path": output_path,
                "failure_path": failure_path,
                "success_webhook": body.success_webhook,
                "error_webhook": body.error_webhook,
            }
        )
        return config_info(body.name)

    @app.get("/endpoint-configs/{name}", response_model=EndpointConfigInfo, tags=["endpoint configs"])
    def describe_endpoint_config(name: str) -> EndpointConfigInfo:
        return config_info(name)

    @app.delete("/endpoint-configs/{name}", status_code=204, tags=["endpoint configs"])
    def delete_endpoint_config(name: str) -> None:
        config_info(name)
        users = store.all("SELECT name FROM endpoints WHERE config_name=?", name)
        if users:
            raise _error(409, f"endpoint config {name!r} is used by endpoints {[r['name'] for r in users]}")
        with store.tx() as db:
            db.execute("DELETE FROM endpoint_configs WHERE name=?", (name,))

    # ---- endpoints
    def endpoint_info(name: str) -> EndpointInfo:
        row = store.one(
            "SELECT e.*, c.model_name FROM endpoints e JOIN endpoint_configs c ON c.name=e.config_name WHERE e.name=?",
            name,
        )
        if row is None:
            names = [r["name"] for r in store.all("SELECT name FROM endpoints")]
            raise _error(404, f"endpoint {name!r} not found; existing: {', '.join(sorted(names)) or '(none)'}")
        if row["backend"] == "ray" and ray_backend is not None:
            instances = ray_backend.replicas(name)
        else:
            instances = len(store.live_instances(name))
        return EndpointInfo(
            name=row["name"],
            config_name=row["config_name"],
            model_name=row["model_name"],
            scaling=json.loads(row["policy"]),
            backend=row["backend"],
            status=row["status"],
            failure_reason=row["failure_reason"],
            instances=instances,
            backlog=store.backlog(name),
            created_at=row["created_at"],
        )

    @app.post("/endpoints", status_code=201, response_model=EndpointInfo, tags=["endpoints"])
    def create_endpoint(body: EndpointCreate) -> EndpointInfo:
        """Create an endpoint; with min_instances 0 it starts with no instance and scales on its backlog."""
        config_info(body.config_name)
        if store.one("SELECT 1 FROM endpoints WHERE name=?", body.name):
            raise _error(409, f"endpoint {body.name!r} exists already")
        if body.backend == "ray" and ray_backend is None:
            raise _error(400, "backend 'ray' needs the service started with --ray (prelabel serve --ray)")
        model = store.one(
            "SELECT m.model FROM models m JOIN endpoint_configs c ON c.model_name=m.name WHERE c.name=?",
            body.config_name,
        )
        if model is not None and model["model"].startswith("python:") and not allow_python_models:
            raise _error(403, f"model {model['model']!r}: {PYTHON_MODELS_HOW}")
        store.add_endpoint(body.name, body.config_name, body.scaling.model_dump(), body.backend)
        if body.backend == "ray":
            ray_backend.deploy(body.name)
        return endpoint_info(body.name)

    @app.get("/endpoints", response_model=list[EndpointInfo], tags=["endpoints"])
    def list_endpoints() -> list[EndpointInfo]:
        return [endpoint_info(r["name"]) for r in store.all("SELECT name FROM endpoints ORDER BY name")]

    @app.get("/endpoints/{name}", response_model=EndpointInfo, tags=["endpoints"])
    def describe_endpoint(name: str) -> EndpointInfo:
        return endpoint_info(name)

    @app.delete("/endpoints/{name}", status_code=204, tags=["endpoints"])
    def delete_endpoint(name: str, force: bool = Query(False, description="cancel queued invocations")) -> None:
        """Delete an endpoint. Refused while invocations are queued or running unless ``force`` (which cancels
        the queued ones; running ones finish)."""
        info = endpoint_info(name)
        if info.backlog and not force:
            raise _error(409, f"endpoint {name!r} has {info.backlog} invocations queued or running; wait, or force")
        with store.tx() as db:
            db.execute(
                "UPDATE invocations SET state='cancelled', completed_at=?, error_type='EndpointDeleted', "
                "error='cancelled: the endpoint was deleted (force) before it ran' WHERE endpoint=? AND state='queued'",
                (time.time(), name),
            )
            db.execute("DELETE FROM endpoints WHERE name=?", (name,))
        if info.backend == "ray" and ray_backend is not None:
            ray_backend.delete(name)

    @app.get("/endpoints/{name}/scaling-events", response_model=list[ScalingEvent], tags=["endpoints"])
    def scaling_events(name: str, limit: int = Query(200, ge=1, le=10000)) -> list[ScalingEvent]:
        """Every scaling decision taken (and every one a cooldown held back), newest last."""
        rows = store.all(
            "SELECT * FROM (SELECT * FROM scaling_events WHERE endpoint=? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            name,
            limit,
        )
        return [ScalingEvent(**{k: r[k] for k in ScalingEvent.model_fields}) for r in rows]

    # ---- invocations
    def invocation_info(inference_id: str) -> InvocationInfo:
        row = store.invocation(inference_id)
        if row is None:
            raise _error(404, f"invocation {inference_id!r} not found")
        return InvocationInfo(
            inference_id=row["id"],
            endpoint=row["endpoint"],
            status=PUBLIC_STATE.get(row["state"], row["state"]),
            input_location=row["input_location"],
            output_location=row["output_location"],
            failure_location=row["failure_location"],
            attempts=row["attempts"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            completed_at=row["completed_at"],
            error=row["error"],
            error_type=row["error_type"],
            notices=[NoticeInfo(**{k: n[k] for k in NoticeInfo.model_fields}) for n in store.notices(inference_id)],
        )

    def enqueue(
        name: str,
        input_location: str,
        inference_id: str | None,
        params: dict[str, Any],
        out_dir: str | None = None,
        priority: int = 0,
    ) -> InvocationInfo:
        info = endpoint_info(name)
        if info.status != "in_service":
            raise _error(503, f"endpoint {name!r} is {info.status}: {info.failure_reason or ''}".rstrip(": "))
        config = config_info(info.config_name)
        iid = inference_id or uuid.uuid4().hex
        output = storage.join(out_dir or config.output_path, f"{iid}.json")
        failure = storage.join(
            storage.join(out_dir, "failures") if out_dir else config.failure_path, f"{iid}.error.json"
        )
        if out_dir is None:  # a config made under broader roots (an earlier run) is checked against today's
            _check_location("output_path", config.output_path, policy)
            _check_location("failure_path", config.failure_path, policy)
        created = store.enqueue(iid, name, input_location, output, failure, params, priority=priority)
        existing = invocation_info(iid)
        if not created and (existing.endpoint != name or existing.input_location != input_location):
            raise _error(409, f"inference id {iid!r} exists already for another invocation")
        if info.backend == "ray" and ray_backend is not None and created:
            ray_backend.submit(name, iid)
        elif created:  # its workers take it now rather than at their next poll
            wake(state, [r["id"] for r in store.live_instances(name)])
        return existing

    @app.post(
        "/endpoints/{name}/async-invocations", status_code=202, response_model=InvocationAccepted, tags=["invocations"]
    )
    def invoke_async(
        name: str,
        input_location: str = Query(
            ...,
            min_length=1,
            json_schema_extra=LOCATION_DOC,
            description="absolute path or s3:// URI of the image, under the service's storage roots",
        ),
        inference_id: str | None = Query(
            None, pattern=r"^[A-Za-z0-9._-]{1,64}$", description="your id; repeating it returns the same invocation"
        ),
        min_score: float | None = Query(None, ge=0, le=1),
    ) -> InvocationAccepted:
        """Queue one invocation and answer at once (202) with its id and where its result will land. The input
        is read from storage by a worker, so its size is bounded by storage, not by HTTP."""
        input_location = _check_location("input_location", input_location, policy)
        params = {} if min_score is None else {"min_score": min_score}
        info = enqueue(name, input_location, inference_id, params)
        return InvocationAccepted(**info.model_dump(include=set(InvocationAccepted.model_fields)))

    @app.get("/invocations/{inference_id}", response_model=InvocationInfo, tags=["invocations"])
    def describe_invocation(inference_id: str) -> InvocationInfo:
        return invocation_info(inference_id)

    @app.post("/invocations/describe", response_model=list[InvocationInfo], tags=["invocations"])
    def describe_invocations(body: InvocationIds) -> list[InvocationInfo]:
        """Several invocations in one call (for polling many at once), in the order asked."""
        return [invocation_info(i) for i in body.ids]

    @app.get("/endpoints/{name}/invocations", response_model=list[InvocationInfo], tags=["invocations"])
    def list_invocations(
        name: str,
        status: InvocationStatus | None = Query(None, description="queued, running, completed, failed or cancelled"),
        limit: int = Query(1000, ge=1, le=100000),
    ) -> list[InvocationInfo]:
        states = {v: k for k, v in PUBLIC_STATE.items()} | {"cancelled": "cancelled"}
        if status is not None and status not in states:
            raise _error(422, f"status must be one of {sorted(states)}; got {status!r}")
        sql = "SELECT id FROM invocations WHERE endpoint=?" + (" AND state=?" if status else "")
        args: list[Any] = [name] + ([states[status]] if status else [])
        rows = store.all(sql + " ORDER BY created_at LIMIT ?", *args, limit)
        return [invocation_info(r["id"]) for r in rows]

    @app.post(
        "/endpoints/{name}/invocations",
        tags=["invocations"],
        responses={200: {"description": '{"model": "id@version", "width": W, "height": H, "labels": [Label]}'}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    ct: {"schema": {"type": "string", "format": "binary"}} for ct in ("image/png", "image/jpeg")
                },
            }
        },
    )
    async def invoke_sync(
        name: str,
        request: Request,
        min_score: float | None = Query(None, ge=0, le=1),
        frame_id: str | None = Query(None, min_length=1, description="frame id for label ids; default: image hash"),
        timeout_s: float = Query(300.0, gt=0, le=3600),
    ) -> JSONResponse:
        """Synchronous invocation: the image bytes are the body. The call goes through the same queue, workers
        and autoscaler as the async route (an endpoint at zero instances starts one), ahead of queued async
        invocations (the next free worker slot takes it), and answers with the labels."""
        ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if ctype not in SYNC_CONTENT_TYPES:
            raise _error(415, f"Content-Type must be image/png or image/jpeg; got {ctype or '(none)'!r}")
        body = await request.body()
        if not body:
            raise _error(400, "empty request body; expected the image bytes")
        endpoint_info(name)
        iid = uuid.uuid4().hex
        sync_dir.mkdir(exist_ok=True)
        payload = sync_dir / f"{iid}{SYNC_CONTENT_TYPES[ctype]}"
        await asyncio.to_thread(storage.write_bytes, str(payload), body)
        params: dict[str, Any] = {"sync": True, "frame_id": frame_id or hashlib.sha1(body).hexdigest()[:16]}
        if min_score is not None:
            params["min_score"] = min_score
        try:
            info = enqueue(name, str(payload), iid, params, out_dir=str(sync_dir), priority=1)
            deadline = time.monotonic() + timeout_s
            while True:
                row = store.invocation(iid)
                if row is not None and row["state"] in ("completed", "failed", "cancelled"):
                    break
                if time.monotonic() > deadline:
                    raise _error(504, f"invocation {iid} did not finish within {timeout_s:g} s; it stays queued")
                await asyncio.sleep(0.02)
            if row["state"] == "completed":
                record = json.loads(storage.read_text(info.output_location))
                frame = record["frame"]
                return JSONResponse(
                    {
                        "model": frame.get("meta", {}).get("model"),
                        "width": frame["width"],
                        "height": frame["height"],
                        "labels": record.get("labels", []),
                    }
                )
            status = SYNC_ERROR_STATUS.get(row["error_type"] or "ModelError", 500)
            return JSONResponse({"error": row["error"] or "invocation failed"}, status_code=status)
        finally:
            for p in (payload, sync_dir / f"{iid}.json", sync_dir / "failures" / f"{iid}.error.json"):
                p.unlink(missing_ok=True)

    # ---- metrics
    @app.get(
        "/metrics",
        response_class=Response,  # the error answers stay JSON in the OpenAPI document
        tags=["service"],
        responses={200: {"description": "Prometheus text", "content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def metrics() -> PlainTextResponse:
        """Prometheus text: backlog, backlog per instance, instances, invocations, errors, latency histogram."""
        return PlainTextResponse(metrics_mod.render(store, ray_backend), media_type=metrics_mod.CONTENT_TYPE)

    # ---- the review portal, when that part of prelabel is installed
    try:
        from prelabel.review.web import create_portal_app
    except ImportError:
        pass
    else:
        app.mount("/portal", create_portal_app(state))

    return app
