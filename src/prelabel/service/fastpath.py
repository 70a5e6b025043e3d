"""The one route every invocation takes, answered without FastAPI's machinery when the request is plain.

``POST /endpoints/{name}/async-invocations`` runs once per invocation; FastAPI's routing, dependency solving,
parameter validation and response validation cost more CPU than the route's own work (a location check, two reads,
one short write transaction, a datagram). :class:`FastInvoke` sits inside the Host/token and body-limit middleware
(so every request is still checked by them) and answers a request it fully understands: no body, only the route's
own query parameters, each once and well-formed. It runs the same code as the route (:func:`accept`); anything it
does not take on (another route, an unknown or repeated parameter, a value the route would refuse, any error the
route raises, such as an unknown endpoint) goes to the FastAPI route, which answers as documented. Its answer is
the route's: 202 and the same JSON document.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException

from prelabel.service.context import ServiceContext
from prelabel.service.routes.invocations import accept

PATH = re.compile(r"/endpoints/([^/]+)/async-invocations")
INFERENCE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
SCORE = re.compile(r"0(\.[0-9]{1,17})?|1(\.0{1,17})?")  # in [0, 1], written plainly
PARAMS = {"input_location", "inference_id", "min_score"}


def plain_params(query: bytes) -> dict[str, str] | None:
    """The query parameters if the route would accept them as they are (else None: the route decides)."""
    try:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, strict_parsing=False, encoding="utf-8",
                          errors="strict")  # fmt: skip
    except (UnicodeDecodeError, ValueError):
        return None
    params = dict(pairs)
    if len(params) != len(pairs) or not params.keys() <= PARAMS or not params.get("input_location"):
        return None
    if "inference_id" in params and not INFERENCE_ID.fullmatch(params["inference_id"]):
        return None
    if "min_score" in params and not SCORE.fullmatch(params["min_score"]):
        return None
    return params


class FastInvoke:
    """ASGI middleware: ``app.add_middleware(FastInvoke, ctx=ctx)``, added before the body limit and the guard
    so that it runs inside them."""

    def __init__(self, app: Any, ctx: ServiceContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not _has_body(scope):
            match = PATH.fullmatch(scope["path"])
            params = plain_params(scope.get("query_string", b"")) if match else None
            if match and params is not None:
                try:
                    accepted = accept(
                        self.ctx,
                        match.group(1),
                        params["input_location"],
                        params.get("inference_id"),
                        float(params["min_score"]) if "min_score" in params else None,
                    )
                except HTTPException:
                    pass  # the route raises it again, and answers it as every error is answered
                else:
                    body = accepted.model_dump_json().encode()
                    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                    await send({"type": "http.response.start", "status": 202, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)


def _has_body(scope: dict[str, Any]) -> bool:
    for key, value in scope.get("headers", ()):
        if key == b"transfer-encoding" or (key == b"content-length" and value.strip() != b"0"):
            return True
    return False
