"""Asynchronous invocations: queue one (202 at once), describe one or several, list an endpoint's."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query

from prelabel import storage
from prelabel.service.context import Ctx, ServiceContext
from prelabel.service.errors import api_error
from prelabel.service.locations import check_location
from prelabel.service.schemas import (
    LOCATION_DOC,
    InvocationAccepted,
    InvocationIds,
    InvocationInfo,
    InvocationStatus,
)
from prelabel.service.store import PUBLIC_STATE
from prelabel.service.views import invocation_info, invocation_infos, missing_endpoint
from prelabel.service.wake import FALLBACK_POLL_S, wake

router = APIRouter(tags=["invocations"])

FINAL_STATES = ("completed", "failed", "cancelled")


def enqueue(
    ctx: ServiceContext,
    name: str,
    input_location: str,
    inference_id: str | None,
    params: dict[str, Any],
    out_dir: str | None = None,
    priority: int = 0,
) -> InvocationAccepted:
    """Queue one invocation of endpoint ``name`` (idempotent on ``inference_id``) and wake its workers.
    ``out_dir``: where its output and error document go instead of the config's folders (synchronous calls).
    Two reads and one write transaction: this runs for every invocation."""
    target = ctx.store.endpoint_target(name)
    if target is None:
        raise missing_endpoint(ctx, name)
    if target["status"] != "in_service":
        reason = target["failure_reason"] or ""
        raise api_error(503, f"endpoint {name!r} is {target['status']}: {reason}".rstrip(": "))
    iid = inference_id or uuid.uuid4().hex
    output = storage.join(out_dir or target["output_path"], f"{iid}.json")
    failure_dir = storage.join(out_dir, "failures") if out_dir else target["failure_path"]
    failure = storage.join(failure_dir, f"{iid}.error.json")
    if out_dir is None:  # a config made under broader roots (an earlier run) is checked against today's
        check_location("output_path", target["output_path"], ctx.policy)
        check_location("failure_path", target["failure_path"], ctx.policy)
    if not ctx.store.enqueue(iid, name, input_location, output, failure, params, priority=priority):
        existing = invocation_info(ctx, iid)  # the same call repeated: its invocation as it is now
        if existing.endpoint != name or existing.input_location != input_location:
            raise api_error(409, f"inference id {iid!r} exists already for another invocation")
        return InvocationAccepted(**existing.model_dump(include=set(InvocationAccepted.model_fields)))
    if target["backend"] == "ray" and ctx.ray_backend is not None:
        ctx.ray_backend.submit(name, iid)
    elif live := [r["id"] for r in ctx.store.live_instances(name)]:  # its workers take it now
        wake(ctx.state, live)
    else:  # no instance: the autoscaler starts one now rather than at its next tick
        ctx.kick_supervisor()
    return InvocationAccepted(inference_id=iid, output_location=output, failure_location=failure, status="queued")


@router.post("/endpoints/{name}/async-invocations", status_code=202, response_model=InvocationAccepted)
async def invoke_async(
    name: str,
    ctx: Ctx,
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
    # in the event loop, not a thread: the route's work (a location check, two reads, one short write
    # transaction, a datagram) costs less than the hand-off to a thread and back
    return accept(ctx, name, input_location, inference_id, min_score)


def accept(
    ctx: ServiceContext, name: str, input_location: str, inference_id: str | None, min_score: float | None
) -> InvocationAccepted:
    """The async-invocations route's work, on validated parameters (also run by
    :class:`prelabel.service.fastpath.FastInvoke`)."""
    input_location = check_location("input_location", input_location, ctx.policy)
    params = {} if min_score is None else {"min_score": min_score}
    return enqueue(ctx, name, input_location, inference_id, params)


@router.get("/invocations/{inference_id}", response_model=InvocationInfo)
async def describe_invocation(
    inference_id: str,
    ctx: Ctx,
    wait_s: float = Query(
        0,
        ge=0,
        le=20,  # under the usual proxy idle timeouts; Client.wait asks again
        description="long poll: answer when the invocation completes, fails or is cancelled, or after this many "
        "seconds, whichever comes first (0: at once)",
    ),
) -> InvocationInfo:
    """One invocation. With ``wait_s`` the answer waits for its final state: the worker announces it to the
    server when it commits it, so the call returns at once then, with no polling on either side."""
    info = invocation_info(ctx, inference_id)
    if wait_s > 0 and info.status not in FINAL_STATES:

        def is_done() -> bool:
            row = ctx.store.invocation(inference_id)
            return row is not None and row["state"] in FINAL_STATES

        if await ctx.completions.wait(inference_id, is_done, wait_s, FALLBACK_POLL_S):
            info = invocation_info(ctx, inference_id)
    return info


@router.post("/invocations/describe", response_model=list[InvocationInfo])
def describe_invocations(body: InvocationIds, ctx: Ctx) -> list[InvocationInfo]:
    """Several invocations in one call (for polling many at once), in the order asked; two reads in all."""
    return invocation_infos(ctx, body.ids)


@router.get("/endpoints/{name}/invocations", response_model=list[InvocationInfo])
def list_invocations(
    name: str,
    ctx: Ctx,
    status: InvocationStatus | None = Query(None, description="queued, running, completed, failed or cancelled"),
    limit: int = Query(1000, ge=1, le=100000),
) -> list[InvocationInfo]:
    states = {v: k for k, v in PUBLIC_STATE.items()} | {"cancelled": "cancelled"}
    if status is not None and status not in states:
        raise api_error(422, f"status must be one of {sorted(states)}; got {status!r}")
    ids = ctx.store.invocation_ids(name, states[status] if status else None, limit)
    return invocation_infos(ctx, ids)
