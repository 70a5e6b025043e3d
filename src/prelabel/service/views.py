"""What the API answers about each resource, built from the repository's rows; an unknown name is a 404 that
lists the existing ones."""

from __future__ import annotations

import json

from prelabel.service.context import ServiceContext
from prelabel.service.errors import api_error
from prelabel.service.schemas import (
    EndpointConfigInfo,
    EndpointInfo,
    InvocationInfo,
    ModelInfo,
    NoticeInfo,
)
from prelabel.service.store import PUBLIC_STATE


def _missing(what: str, name: str, names: list[str]) -> Exception:
    return api_error(404, f"{what} {name!r} not found; existing: {', '.join(sorted(names)) or '(none)'}")


def model_info(ctx: ServiceContext, name: str) -> ModelInfo:
    row = ctx.store.model(name)
    if row is None:
        raise _missing("model", name, ctx.store.model_names())
    return ModelInfo(
        name=row["name"],
        model=row["model"],
        kind=row["kind"],
        options=json.loads(row["options"]),
        created_at=row["created_at"],
    )


def config_info(ctx: ServiceContext, name: str) -> EndpointConfigInfo:
    row = ctx.store.config(name)
    if row is None:
        raise _missing("endpoint config", name, ctx.store.config_names())
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


def missing_endpoint(ctx: ServiceContext, name: str) -> Exception:
    return _missing("endpoint", name, ctx.store.endpoint_names())


def endpoint_info(ctx: ServiceContext, name: str) -> EndpointInfo:
    row = ctx.store.endpoint(name)
    if row is None:
        raise missing_endpoint(ctx, name)
    if row["backend"] == "ray" and ctx.ray_backend is not None:
        instances = ctx.ray_backend.replicas(name)
    else:
        instances = len(ctx.store.live_instances(name))
    return EndpointInfo(
        name=row["name"],
        config_name=row["config_name"],
        model_name=row["model_name"],
        scaling=json.loads(row["policy"]),
        backend=row["backend"],
        status=row["status"],
        failure_reason=row["failure_reason"],
        instances=instances,
        backlog=ctx.store.backlog(name),
        created_at=row["created_at"],
    )


def invocation_info(ctx: ServiceContext, inference_id: str) -> InvocationInfo:
    row = ctx.store.invocation(inference_id)
    if row is None:
        raise api_error(404, f"invocation {inference_id!r} not found")
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
        notices=[NoticeInfo(**{k: n[k] for k in NoticeInfo.model_fields}) for n in ctx.store.notices(inference_id)],
    )
