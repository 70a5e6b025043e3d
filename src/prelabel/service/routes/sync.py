"""Synchronous invocations: the image is the request body, the answer is the labels.

The call goes through the same queue and workers as an asynchronous one (ahead of queued async invocations). The
route does not poll: it waits for the worker's completion announcement (:mod:`prelabel.service.completions`) and
re-reads the row only then, or every :data:`~prelabel.service.wake.FALLBACK_POLL_S` seconds when none comes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from prelabel import storage
from prelabel.service.context import Ctx
from prelabel.service.errors import api_error
from prelabel.service.routes.invocations import FINAL_STATES, enqueue
from prelabel.service.views import endpoint_info
from prelabel.service.wake import FALLBACK_POLL_S

router = APIRouter(tags=["invocations"])

SYNC_CONTENT_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/jpg": ".jpg"}
SYNC_ERROR_STATUS = {
    "InputNotFoundError": 400,
    "UnreadableInputError": 400,
    "LimitExceededError": 413,
    "EndpointFailed": 503,
}


@router.post(
    "/endpoints/{name}/invocations",
    responses={200: {"description": '{"model": "id@version", "width": W, "height": H, "labels": [Label]}'}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {ct: {"schema": {"type": "string", "format": "binary"}} for ct in ("image/png", "image/jpeg")},
        }
    },
)
async def invoke_sync(
    name: str,
    request: Request,
    ctx: Ctx,
    min_score: float | None = Query(None, ge=0, le=1),
    frame_id: str | None = Query(None, min_length=1, description="frame id for label ids; default: image hash"),
    timeout_s: float = Query(300.0, gt=0, le=3600),
) -> JSONResponse:
    """Synchronous invocation: the image bytes are the body. The call goes through the same queue, workers
    and autoscaler as the async route (an endpoint at zero instances starts one), ahead of queued async
    invocations (the next free worker slot takes it), and answers with the labels."""
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype not in SYNC_CONTENT_TYPES:
        raise api_error(415, f"Content-Type must be image/png or image/jpeg; got {ctype or '(none)'!r}")
    body = await request.body()
    if not body:
        raise api_error(400, "empty request body; expected the image bytes")
    endpoint_info(ctx, name)
    iid = uuid.uuid4().hex
    sync_dir = ctx.sync_dir
    sync_dir.mkdir(exist_ok=True)
    payload = sync_dir / f"{iid}{SYNC_CONTENT_TYPES[ctype]}"
    # not fsynced: the call is abandoned if the service restarts, and its payload removed
    await asyncio.to_thread(storage.write_bytes, str(payload), body, fsync=False)
    params: dict[str, Any] = {"sync": True, "frame_id": frame_id or hashlib.sha1(body).hexdigest()[:16]}
    if min_score is not None:
        params["min_score"] = min_score
    try:
        info = enqueue(ctx, name, str(payload), iid, params, out_dir=str(sync_dir), priority=1)
        final: dict[str, Any] = {}

        def is_done() -> bool:
            row = ctx.store.invocation(iid)
            if row is not None and row["state"] in FINAL_STATES:
                final.update(row)
                return True
            return False

        if not await ctx.completions.wait(iid, is_done, timeout_s, FALLBACK_POLL_S):
            raise api_error(504, f"invocation {iid} did not finish within {timeout_s:g} s; it stays queued")
        if final["state"] == "completed":
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
        status = SYNC_ERROR_STATUS.get(final["error_type"] or "ModelError", 500)
        return JSONResponse({"error": final["error"] or "invocation failed"}, status_code=status)
    finally:
        for p in (payload, sync_dir / f"{iid}.json", sync_dir / "failures" / f"{iid}.error.json"):
            p.unlink(missing_ok=True)
