"""A small HTTP client for inference endpoints: one connection pool, timeouts, retries with backoff."""

from __future__ import annotations

import time
from typing import Any

from prelabel.errors import PrelabelError

RETRY_STATUS = frozenset({429, 502, 503, 504})


class EndpointError(PrelabelError):
    """An endpoint answered with an error, or could not be reached within the retries."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"endpoint {url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


def _error_text(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:300]


class EndpointClient:
    def __init__(self, timeout: float = 30.0, retries: int = 3, backoff: float = 0.2) -> None:
        import httpx

        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self._httpx = httpx
        self._client = httpx.Client(timeout=self.timeout, trust_env=False)

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        """The response for a 2xx answer; :class:`EndpointError` naming the URL and the reason otherwise."""
        httpx = self._httpx
        last = ""
        status: int | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.TimeoutException:
                last, status = f"no answer within {self.timeout:g} s", None
                continue
            except httpx.TransportError as e:
                last, status = f"cannot reach it ({type(e).__name__}: {e})", None
                continue
            if response.status_code < 300:
                return response
            status = response.status_code
            last = f"HTTP {status}: {_error_text(response)}"
            if status not in RETRY_STATUS:
                break
        tries = f" after {self.retries + 1} attempts" if status is None or status in RETRY_STATUS else ""
        raise EndpointError(url, last + tries, status)

    def close(self) -> None:
        self._client.close()
