"""``/endpoints``: create (with a scaling policy), list, describe and delete endpoints; their scaling events."""

from __future__ import annotations

from fastapi import APIRouter, Query

from prelabel.service.context import PYTHON_MODELS_HOW, Ctx
from prelabel.service.errors import api_error
from prelabel.service.schemas import EndpointCreate, EndpointInfo, ScalingEvent
from prelabel.service.views import config_info, endpoint_info, refuse_taken
from prelabel.service.wake import announce

router = APIRouter(tags=["endpoints"])


@router.post("/endpoints", status_code=201, response_model=EndpointInfo)
def create_endpoint(body: EndpointCreate, ctx: Ctx) -> EndpointInfo:
    """Create an endpoint; with min_instances 0 it starts with no instance and scales on its backlog."""
    config_info(ctx, body.config_name)
    refuse_taken("endpoint", body.name, ctx.store.endpoint(body.name))
    if body.backend == "ray" and ctx.ray_backend is None:
        raise api_error(400, "backend 'ray' needs the service started with --ray (prelabel serve --ray)")
    model = ctx.store.config_model_ref(body.config_name)
    if model is not None and model.startswith("python:") and not ctx.allow_python_models:
        raise api_error(403, f"model {model!r}: {PYTHON_MODELS_HOW}")
    ctx.store.add_endpoint(body.name, body.config_name, body.scaling.model_dump(), body.backend)
    if body.backend == "ray":
        ctx.ray_backend.deploy(body.name)
    return endpoint_info(ctx, body.name)


@router.get("/endpoints", response_model=list[EndpointInfo])
def list_endpoints(ctx: Ctx) -> list[EndpointInfo]:
    return [endpoint_info(ctx, name) for name in ctx.store.endpoint_names()]


@router.get("/endpoints/{name}", response_model=EndpointInfo)
def describe_endpoint(name: str, ctx: Ctx) -> EndpointInfo:
    return endpoint_info(ctx, name)


@router.delete("/endpoints/{name}", status_code=204)
def delete_endpoint(name: str, ctx: Ctx, force: bool = Query(False, description="cancel queued invocations")) -> None:
    """Delete an endpoint. Refused while invocations are queued or running unless ``force`` (which cancels
    the queued ones; running ones finish)."""
    info = endpoint_info(ctx, name)
    if info.backlog and not force:
        raise api_error(409, f"endpoint {name!r} has {info.backlog} invocations queued or running; wait, or force")
    announce(ctx.state, ctx.store.delete_endpoint(name))  # synchronous calls waiting for them answer now
    if info.backend == "ray" and ctx.ray_backend is not None:
        ctx.ray_backend.delete(name)


@router.get("/endpoints/{name}/scaling-events", response_model=list[ScalingEvent])
def scaling_events(ctx: Ctx, name: str, limit: int = Query(200, ge=1, le=10000)) -> list[ScalingEvent]:
    """Every scaling decision taken (and every one a cooldown held back), newest last."""
    rows = ctx.store.scaling_events(name, limit)
    return [ScalingEvent(**{k: r[k] for k in ScalingEvent.model_fields}) for r in rows]
