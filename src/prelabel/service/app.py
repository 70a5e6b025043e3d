"""The HTTP API (FastAPI): models, endpoint configs, endpoints, async and sync invocations, metrics.

``create_app(state_dir)`` is the one factory; ``prelabel serve`` runs it with uvicorn. The OpenAPI document is at
``/openapi.json`` and browsable at ``/docs``. Errors are JSON ``{"error": "..."}`` with a 4xx/5xx status.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse

from prelabel import storage
from prelabel.errors import PrelabelError
from prelabel.service import metrics as metrics_mod
from prelabel.service.models import check_model
from prelabel.service.outbox import Outbox
from prelabel.service.schemas import (
    EndpointConfigCreate,
    EndpointConfigInfo,
    EndpointCreate,
    EndpointInfo,
    InvocationAccepted,
    InvocationIds,
    InvocationInfo,
    ModelCreate,
    ModelInfo,
    NoticeInfo,
    ScalingEvent,
)
from prelabel.service.store import PUBLIC_STATE, Store
from prelabel.service.supervisor import Supervisor

log = logging.getLogger("prelabel.service")

SYNC_CONTENT_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/jpg": ".jpg"}
SYNC_ERROR_STATUS = {"InputNotFoundError": 400, "UnreadableInputError": 400, "EndpointFailed": 503}


class ApiError(HTTPException):
    pass


def _error(status: int, message: str) -> ApiError:
    return ApiError(status_code=status, detail=message)


def _check_location(name: str, uri: str) -> str:
    if storage.is_local(uri) and not Path(storage.local_path(uri)).is_absolute():
        raise _error(422, f"{name} must be an absolute path or a URI such as s3://bucket/key; got {uri!r}")
    return uri


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
) -> FastAPI:
    """The service app over ``state_dir`` (SQLite state, worker logs, sync payloads).

    ``supervise``: run the supervisor (workers + autoscaler) in this process; ``ray``: allow endpoints whose
    backend is Ray Serve (a local Ray is started on the first such endpoint; ``ray_address``: join that cluster).
    ``webhook_*``: the outbox's retry policy (attempts per notice, first back-off, back-off cap; doubling per attempt).
    """
    state = Path(state_dir).absolute()
    store = Store(state)
    outbox = Outbox(store, attempts=webhook_attempts, backoff_s=webhook_backoff_s, backoff_max_s=webhook_backoff_max_s)
    supervisor = Supervisor(store, tick_s=tick_s, lease_s=lease_s, worker_poll_s=worker_poll_s, outbox=outbox)
    ray_backend: Any = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal ray_backend
        if supervise:
            supervisor.start()
        if ray:
            from prelabel.service.rayserve import RayServeBackend

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
    )
    app.state.store = store
    app.state.supervisor = supervisor

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()]
        return JSONResponse({"error": "; ".join(parts), "detail": jsonable(exc.errors())}, status_code=422)

    @app.exception_handler(PrelabelError)
    async def _prelabel_error(request: Request, exc: PrelabelError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    # ---- health
    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "state_dir": str(state)}

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
        kind = check_model(body.model, body.options)
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
        output_path = _check_location("output_path", body.output_path)
        failure_path = _check_location("failure_path", body.failure_path or storage.join(output_path, "failures"))
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
                "UPDATE invocations SET state='cancelled', completed_at=?, error='endpoint deleted' "
                "WHERE endpoint=? AND state='queued'",
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
        created = store.enqueue(iid, name, input_location, output, failure, params, priority=priority)
        existing = invocation_info(iid)
        if not created and (existing.endpoint != name or existing.input_location != input_location):
            raise _error(409, f"inference id {iid!r} exists already for another invocation")
        if info.backend == "ray" and ray_backend is not None and created:
            ray_backend.submit(name, iid)
        return existing

    @app.post(
        "/endpoints/{name}/async-invocations", status_code=202, response_model=InvocationAccepted, tags=["invocations"]
    )
    def invoke_async(
        name: str,
        input_location: str = Query(..., min_length=1, description="absolute path or s3:// URI of the image"),
        inference_id: str | None = Query(
            None, pattern=r"^[A-Za-z0-9._-]{1,64}$", description="your id; repeating it returns the same invocation"
        ),
        min_score: float | None = Query(None, ge=0, le=1),
    ) -> InvocationAccepted:
        """Queue one invocation and answer at once (202) with its id and where its result will land. The input
        is read from storage by a worker, so its size is bounded by storage, not by HTTP."""
        _check_location("input_location", input_location)
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
        status: str | None = Query(None, description="queued, running, completed, failed or cancelled"),
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
        sync_dir = state / "sync"
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
            error_type = "ModelError"
            with suppress(Exception):
                error_type = json.loads(storage.read_text(info.failure_location)).get("error_type", error_type)
            status = SYNC_ERROR_STATUS.get(error_type, 500)
            return JSONResponse({"error": row["error"] or "invocation failed"}, status_code=status)
        finally:
            for p in (payload, sync_dir / f"{iid}.json", sync_dir / "failures" / f"{iid}.error.json"):
                p.unlink(missing_ok=True)

    # ---- metrics
    @app.get("/metrics", response_class=PlainTextResponse, tags=["service"])
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


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
