"""Error answers of the service API: one JSON shape, ``{"error": "..."}``, for every status, declared in the OpenAPI
document on every route; and the bearer scheme in that document when the service has a token."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from prelabel import access
from prelabel.errors import PrelabelError
from prelabel.service.schemas import ErrorDocument

log = logging.getLogger("prelabel.service")

ERROR_STATUSES = {
    400: "Bad request: a malformed body, an unreadable input, a disallowed Host header",
    401: "Authentication required: send 'Authorization: Bearer <token>'",
    403: "Refused: a location outside the storage roots, or a python: model the service does not allow",
    404: "Not found: the named model, endpoint config, endpoint, invocation or route",
    405: "Method not allowed on this route",
    409: "Conflict: the name exists already, or the item is still in use",
    413: "Request body over the service's limit",
    415: "Unsupported Content-Type",
    422: "Validation error: what was expected and what was got",
    500: "Unexpected server error (details in the server log, never in the answer)",
    503: "The endpoint is not in service (failed or deleting)",
}


class ApiError(HTTPException):
    """An error a route raises on purpose: its status and one line that says what was wrong."""


def api_error(status: int, message: str) -> ApiError:
    return ApiError(status_code=status, detail=message)


def error_responses() -> dict[int | str, dict[str, Any]]:
    """The ``responses`` every route declares: the error document for each status above."""
    return {status: {"model": ErrorDocument, "description": d} for status, d in ERROR_STATUSES.items()}


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def install_error_handlers(app: FastAPI) -> None:
    """Unknown routes, wrong methods, unreadable bodies, validation errors, prelabel's own errors and anything
    unexpected all answer with an error document (the last one without details: those go to the log)."""

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.url.path!r}; the API is described at /docs and /openapi.json"
        elif exc.status_code == 405:
            allowed = methods_for(app, request.url.path)
            message = f"method {request.method} is not allowed on {request.url.path!r}; allowed: {', '.join(allowed)}"
            return JSONResponse({"error": message}, status_code=405, headers={"Allow": ", ".join(allowed)})
        elif exc.status_code == 400 and "parsing the body" in message:
            message = "the request body is not valid JSON (UTF-8); see /docs for the expected body"
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()]
        return JSONResponse({"error": "; ".join(parts), "detail": jsonable(exc.errors())}, status_code=422)

    @app.exception_handler(PrelabelError)
    async def _prelabel_error(request: Request, exc: PrelabelError) -> JSONResponse:
        status = 403 if isinstance(exc, access.LocationRefusedError) else 400
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s: unexpected %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
        message = f"unexpected server error ({type(exc).__name__}) on {request.method} {request.url.path}; see the log"
        return JSONResponse({"error": message}, status_code=500)


def _flat(routes: Iterable[Any]) -> Iterator[Any]:
    """The routes themselves: recent FastAPI keeps each included router (no prefix here) as one route entry."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from _flat(inner.routes)
        else:
            yield r


def methods_for(app: FastAPI, path: str) -> list[str]:
    """Every method the route at ``path`` serves (Starlette's own Allow header names only the first route's);
    a literal route wins over a parametrised one (/invocations/describe, not /invocations/{inference_id})."""
    from starlette.routing import Route

    routes = [r for r in _flat(app.routes) if isinstance(r, Route) and r.methods and r.path_regex.match(path)]
    literal = [r for r in routes if r.path == path]
    return sorted({m for r in literal or routes for m in r.methods or ()})


def document_bearer_auth(app: FastAPI, open_paths: Iterable[str]) -> None:
    """Add the bearer scheme to the OpenAPI document (so /docs can send the token and fuzzers know it)."""
    from fastapi.openapi.utils import get_openapi

    open_paths = tuple(open_paths)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
            for path in open_paths:
                for op in schema["paths"].get(path, {}).values():
                    op["security"] = []
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
