"""What the API answers about each resource, built from the repository's rows; an unknown name is a 404 that
lists the existing ones, a name taken or a resource still in use a 409."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

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

_Info = TypeVar("_Info", bound=BaseModel)


def _missing(what: str, name: str, names: list[str]) -> Exception:
    return api_error(404, f"{what} {name!r} not found; existing: {', '.join(sorted(names)) or '(none)'}")


def refuse_taken(what: str, name: str, existing: object | None) -> None:
    """409 when ``existing`` (the store's row for ``name``) is there: a create never replaces anything."""
    if existing is not None:
        raise api_error(409, f"{what} {name!r} exists already; delete it first or choose another name")


def refuse_in_use(what: str, name: str, users: list[str]) -> None:
    """409 when endpoints still use the resource a delete would remove."""
    if users:
        raise api_error(409, f"{what} {name!r} is used by endpoints {users}; delete them first")


def _from_row(schema: type[_Info], row: sqlite3.Row, columns: Mapping[str, str] | None = None, **values: Any) -> _Info:
    """``schema`` filled from ``values``, then from the row's column of the same name (``columns`` maps a field
    to a column named otherwise)."""
    renamed = columns or {}
    fields = {f: row[renamed.get(f, f)] for f in schema.model_fields if f not in values}
    return schema(**fields, **values)


def model_info(ctx: ServiceContext, name: str) -> ModelInfo:
    row = ctx.store.model(name)
    if row is None:
        raise _missing("model", name, ctx.store.model_names())
    return _from_row(ModelInfo, row, options=json.loads(row["options"]))


def config_info(ctx: ServiceContext, name: str) -> EndpointConfigInfo:
    row = ctx.store.config(name)
    if row is None:
        raise _missing("endpoint config", name, ctx.store.config_names())
    return _from_row(EndpointConfigInfo, row, columns={"max_concurrent_invocations_per_instance": "max_concurrency"})


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
    return _from_row(
        EndpointInfo,
        row,
        scaling=json.loads(row["policy"]),
        instances=instances,
        backlog=ctx.store.backlog(name),
    )


def _invocation(row: sqlite3.Row, notices: list[sqlite3.Row]) -> InvocationInfo:
    return _from_row(
        InvocationInfo,
        row,
        inference_id=row["id"],
        status=PUBLIC_STATE.get(row["state"], row["state"]),
        notices=[_from_row(NoticeInfo, n) for n in notices],
    )


def invocation_info(ctx: ServiceContext, inference_id: str) -> InvocationInfo:
    return invocation_infos(ctx, [inference_id])[0]


def invocation_infos(ctx: ServiceContext, inference_ids: list[str]) -> list[InvocationInfo]:
    """Several invocations in the order asked (an id asked twice answers twice), in two reads whatever their
    number: the rows, then their notices. The first unknown id is a 404."""
    rows = ctx.store.invocations(inference_ids)
    missing = next((i for i in inference_ids if i not in rows), None)
    if missing is not None:
        raise api_error(404, f"invocation {missing!r} not found")
    notices = ctx.store.notices_of(list(rows))
    return [_invocation(rows[i], notices.get(i, [])) for i in inference_ids]
