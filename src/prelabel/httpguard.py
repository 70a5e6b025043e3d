"""What stands in front of prelabel's HTTP servers: bind checks, a ``Host`` allow-list and bearer-token auth.

- :func:`check_bind`: a server that would listen beyond loopback is refused unless the operator set up what it needs
  (a token for the service API; an explicit ``--public`` for the portal, which has its own users).
- :class:`Guard` (ASGI middleware): refuses a request whose ``Host`` header is not an allowed name (DNS rebinding:
  a web page on ``evil.example`` that resolves to 127.0.0.1 sends ``Host: evil.example``), and, when a token is
  configured, one without ``Authorization: Bearer <token>`` (compared in constant time). Errors are the servers'
  JSON ``{"error": "..."}``.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any

from prelabel.errors import PrelabelError

ENV_TOKEN = "PRELABEL_SERVICE_TOKEN"
ENV_ALLOWED_HOSTS = "PRELABEL_ALLOWED_HOSTS"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
MIN_TOKEN_CHARS = 16
TOKEN_HOWTO = (
    "create a token (python -c 'import secrets; print(secrets.token_urlsafe(32))' > token && chmod 600 token) "
    f"and start the server with --token-file token (or set {ENV_TOKEN}); clients send 'Authorization: Bearer <token>' "
    f"(prelabel.client.Client(url, token=...) or {ENV_TOKEN} in the client's environment)"
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); False for 0.0.0.0, :: and the rest."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def load_token(token_file: str | Path | None) -> str | None:
    """The token from ``token_file`` (its first line) or else from ``PRELABEL_SERVICE_TOKEN``; None if neither."""
    if token_file is not None:
        p = Path(token_file)
        try:
            lines = p.read_text(encoding="utf-8").strip().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise PrelabelError(f"token file {str(p)!r}: cannot read it ({e}); {TOKEN_HOWTO}") from None
        token = lines[0].strip() if lines else ""
        source = f"token file {str(p)!r}"
    else:
        token = os.environ.get(ENV_TOKEN, "").strip()
        if not token:
            return None
        source = ENV_TOKEN
    if len(token) < MIN_TOKEN_CHARS:
        raise PrelabelError(
            f"{source}: expected a token of at least {MIN_TOKEN_CHARS} characters; got {len(token)}; {TOKEN_HOWTO}"
        )
    return token


def check_bind(host: str, *, token: str | None) -> None:
    """Refuse to serve the API beyond loopback without a token, saying how to set one up."""
    if not is_loopback(host) and token is None:
        raise PrelabelError(
            f"refusing to listen on {host} (reachable from other machines) without authentication; {TOKEN_HOWTO}. "
            "Also list the names clients use with --allowed-host, and put TLS in front (a reverse proxy)"
        )


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> list[str]:
    """Loopback names, the bound address when it is a specific one, the names given and ``PRELABEL_ALLOWED_HOSTS``."""
    names = list(LOOPBACK_NAMES)
    if bind_host not in ("0.0.0.0", "::", ""):
        names.append(bind_host.strip("[]").lower())
    env = os.environ.get(ENV_ALLOWED_HOSTS, "")
    names += [n.strip().lower() for n in [*extra, *env.split(",")] if n.strip()]
    return list(dict.fromkeys(names))


def host_name(header: str) -> str:
    """The name part of a ``Host`` header: ``example.org:8080`` -> ``example.org``, ``[::1]:80`` -> ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    if header.count(":") == 1:
        return header.partition(":")[0]
    return header


class Guard:
    """ASGI middleware: ``Host`` allow-list (``"*"`` in it disables the check) and optional bearer token.
    ``open_paths``: exact paths served without the token (health, API docs); ``open_prefixes``: path prefixes
    served without it (the portal, which has its own users)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: Iterable[str],
        token: str | None = None,
        open_paths: Iterable[str] = (),
        open_prefixes: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.hosts = {h.lower() for h in hosts}
        self.token = token.encode() if token else None
        self.open_paths = set(open_paths)
        self.open_prefixes = tuple(open_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = host_name(headers.get("host", ""))
        if "*" not in self.hosts and host not in self.hosts:
            shown = headers.get("host", "(none)")[:100]
            await deny(
                scope,
                send,
                400,
                f"Host header {shown!r} is not an allowed name of this server; allowed: {', '.join(sorted(self.hosts))}"
                "; the operator adds names with --allowed-host",
            )
            return
        path = scope.get("path", "")
        if self.token is not None and path not in self.open_paths and not path.startswith(self.open_prefixes):
            scheme, _, given = headers.get("authorization", "").partition(" ")
            given_bytes = given.strip().encode("utf-8", "replace")
            ok = scheme.lower() == "bearer" and hmac.compare_digest(given_bytes, self.token)
            if not ok:
                why = "no bearer token" if not given else "a wrong or malformed bearer token"
                await deny(
                    scope,
                    send,
                    401,
                    f"authentication required: this server needs 'Authorization: Bearer <token>'; got {why}",
                    {"www-authenticate": 'Bearer realm="prelabel"'},
                )
                return
        await self.app(scope, receive, send)


async def deny(scope: Scope, send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = json.dumps({"error": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
