"""What every route needs, in one object on ``app.state`` (built once by :func:`prelabel.service.app.create_app`)
and handed to the routes as a FastAPI dependency (``ctx: Ctx``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request

from prelabel import access
from prelabel.service.completions import Completions
from prelabel.service.store import Store

PYTHON_MODELS_HOW = (
    "python: model references run code in the service's worker processes and are refused unless the operator "
    "starts the service with --allow-python-models"
)


@dataclass
class ServiceContext:
    """``state``: the state folder; ``sync_dir``: where synchronous payloads and answers are kept while a call
    runs; ``policy``: the roots and URLs every location a request names must be under; ``ray_backend``: the Ray
    Serve backend once the app has started with ``ray`` (None otherwise); ``completions``: completion events;
    ``kick_supervisor``: makes the supervisor tick now."""

    state: Path
    store: Store
    sync_dir: Path
    policy: access.AccessPolicy
    allow_python_models: bool
    completions: Completions
    ray_backend: Any = None
    kick_supervisor: Callable[[], None] = lambda: None  # work for an endpoint with no instance: scale now


def get_context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ServiceContext, Depends(get_context)]
