"""The API's routers, one per resource, in the order the OpenAPI document lists them."""

from __future__ import annotations

from fastapi import APIRouter

from prelabel.service.routes import configs, endpoints, invocations, models, service, sync

ROUTERS: list[APIRouter] = [
    service.health_router,
    models.router,
    configs.router,
    endpoints.router,
    invocations.router,
    sync.router,
    service.metrics_router,
]
