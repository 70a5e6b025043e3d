"""A bound on every HTTP request body, counted as it streams in (a ``Content-Length`` is checked first, but a
chunked body, or one that lies about its length, is counted byte by byte): over the limit the answer is 413 with
the error document naming the limit and how to raise it, and the rest is never read."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from prelabel import limits
from prelabel.httpguard import deny

Scope = dict[str, Any]
Message = dict[str, Any]


def too_large(max_bytes: int, got: str) -> str:
    return (
        f"request body: {got} bytes is over the limit of {max_bytes:,}; raise it with "
        f"{limits.ENV_MAX_BODY_BYTES} or prelabel serve --max-body-bytes"
    )


class BodyLimit:
    """ASGI middleware: ``app.add_middleware(BodyLimit, max_bytes=N)``."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await deny(scope, send, 413, too_large(self.max_bytes, f"{int(declared):,}"))
            return
        seen = 0
        limit = self.max_bytes

        async def counted() -> Message:
            nonlocal seen
            message: Message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # FastAPI turns this into the {"error": ...} document
                    raise HTTPException(413, too_large(limit, f"more than {limit:,}"))
            return message

        await self.app(scope, counted, send)
