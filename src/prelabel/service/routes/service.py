"""Health (served without the token) and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from prelabel.service import metrics as metrics_mod
from prelabel.service.context import Ctx

health_router = APIRouter(tags=["service"])
metrics_router = APIRouter(tags=["service"])


@health_router.get("/health")
def health() -> dict[str, Any]:
    """Served without the token (for load balancers and supervisors)."""
    return {"status": "ok"}


@metrics_router.get(
    "/metrics",
    response_class=Response,  # the error answers stay JSON in the OpenAPI document
    responses={200: {"description": "Prometheus text", "content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(ctx: Ctx) -> PlainTextResponse:
    """Prometheus text: backlog, backlog per instance, instances, invocations, errors, latency histogram."""
    return PlainTextResponse(metrics_mod.render(ctx.store, ctx.ray_backend), media_type=metrics_mod.CONTENT_TYPE)
