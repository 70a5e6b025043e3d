"""``/models``: register, list, describe and delete models."""

from __future__ import annotations

from fastapi import APIRouter

from prelabel.service.context import PYTHON_MODELS_HOW, Ctx
from prelabel.service.errors import api_error
from prelabel.service.locations import check_location, check_url
from prelabel.service.models import check_model
from prelabel.service.schemas import ModelCreate, ModelInfo
from prelabel.service.views import model_info, refuse_in_use, refuse_taken

router = APIRouter(tags=["models"])


@router.post("/models", status_code=201, response_model=ModelInfo)
def create_model(body: ModelCreate, ctx: Ctx) -> ModelInfo:
    """Register a model: a zoo id, a private model reference, an existing endpoint URL, or python:mod:factory."""
    from prelabel.models.refs import parse_model_ref

    if parse_model_ref(body.model).kind == "onnx":  # a model file is read like an input: only under the roots
        check_location("model", body.model, ctx.policy)
    registry = (body.options or {}).get("registry")
    if registry is not None:  # a private registry is a folder or bucket the service reads: under the roots too
        check_location("options.registry", str(registry), ctx.policy)
    kind = check_model(body.model, body.options)
    if kind == "python" and not ctx.allow_python_models:
        raise api_error(403, f"model {body.model!r}: {PYTHON_MODELS_HOW}")
    if kind == "endpoint":  # the workers will POST images there
        check_url("model", body.model, ctx.policy)
    refuse_taken("model", body.name, ctx.store.model(body.name))
    ctx.store.add_model(body.name, body.model, kind, body.options)
    return model_info(ctx, body.name)


@router.get("/models", response_model=list[ModelInfo])
def list_models(ctx: Ctx) -> list[ModelInfo]:
    return [model_info(ctx, name) for name in ctx.store.model_names()]


@router.get("/models/{name}", response_model=ModelInfo)
def describe_model(name: str, ctx: Ctx) -> ModelInfo:
    return model_info(ctx, name)


@router.delete("/models/{name}", status_code=204)
def delete_model(name: str, ctx: Ctx) -> None:
    model_info(ctx, name)
    refuse_in_use("model", name, ctx.store.endpoints_using_model(name))
    ctx.store.delete_model(name)
