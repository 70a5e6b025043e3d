"""``/endpoint-configs``: create, describe and delete endpoint configs (model, concurrency, output, webhooks)."""

from __future__ import annotations

from fastapi import APIRouter

from prelabel import storage
from prelabel.service.context import Ctx
from prelabel.service.locations import check_location, check_url
from prelabel.service.schemas import EndpointConfigCreate, EndpointConfigInfo
from prelabel.service.views import config_info, model_info, refuse_in_use, refuse_taken

router = APIRouter(tags=["endpoint configs"])


@router.post("/endpoint-configs", status_code=201, response_model=EndpointConfigInfo)
def create_endpoint_config(body: EndpointConfigCreate, ctx: Ctx) -> EndpointConfigInfo:
    model_info(ctx, body.model_name)
    refuse_taken("endpoint config", body.name, ctx.store.config(body.name))
    output_path = check_location("output_path", body.output_path, ctx.policy)
    for hook in ("success_webhook", "error_webhook"):  # the server will POST notices there
        if getattr(body, hook) is not None:
            check_url(hook, getattr(body, hook), ctx.policy)
    failure_path = check_location(
        "failure_path", body.failure_path or storage.join(output_path, "failures"), ctx.policy
    )
    ctx.store.add_config(
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
    return config_info(ctx, body.name)


@router.get("/endpoint-configs/{name}", response_model=EndpointConfigInfo)
def describe_endpoint_config(name: str, ctx: Ctx) -> EndpointConfigInfo:
    return config_info(ctx, name)


@router.delete("/endpoint-configs/{name}", status_code=204)
def delete_endpoint_config(name: str, ctx: Ctx) -> None:
    config_info(ctx, name)
    refuse_in_use("endpoint config", name, ctx.store.endpoints_using_config(name))
    ctx.store.delete_config(name)
