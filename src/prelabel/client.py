"""Python client of the async endpoint service, following the SageMaker flow.

```python
from prelabel.client import Client, ScalingPolicy

c = Client("http://127.0.0.1:8080")
c.create_model("ssd", "ssd-mobilenet-v2-coco")
c.create_endpoint_config("ssd-async", "ssd", output_path="/data/out", max_concurrent_invocations_per_instance=4)
c.create_endpoint("ssd-ep", "ssd-async", ScalingPolicy(min_instances=0, max_instances=2, target_backlog_per_instance=5))
inv = c.invoke_async("ssd-ep", "/data/frames/000001.png")     # answered at once: id + output location
done = c.wait(inv.inference_id)                                 # poll until completed or failed
record = c.result(inv.inference_id)                             # the FrameRecord written at the output location
c.delete_endpoint("ssd-ep"); c.delete_endpoint_config("ssd-async"); c.delete_model("ssd")
```
Local paths are made absolute here (the service needs absolute paths); ``s3://`` URIs pass through.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from typing import Any

from prelabel import storage
from prelabel.core.labels import FrameRecord
from prelabel.errors import PrelabelError
from prelabel.httpclient import KeepAliveClient, TransportError
from prelabel.httpguard import ENV_TOKEN
from prelabel.service.schemas import (
    EndpointConfigInfo,
    EndpointInfo,
    InvocationAccepted,
    InvocationInfo,
    ModelInfo,
    ScalingEvent,
    ScalingPolicy,
)

__all__ = ["Client", "InvocationFailedError", "ScalingPolicy", "ServiceError", "TransportError"]

FINAL = ("completed", "failed", "cancelled")


class ServiceError(PrelabelError):
    """The service answered with an error status; the message is the service's own."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path} -> HTTP {status}: {message}")
        self.status = status
        self.message = message


class InvocationFailedError(PrelabelError):
    def __init__(self, info: InvocationInfo) -> None:
        super().__init__(f"invocation {info.inference_id} {info.status}: {info.error}")
        self.info = info


def _abs(location: str) -> str:
    return os.path.abspath(storage.local_path(location)) if storage.is_local(location) else location


class Client:
    def __init__(
        self, base_url: str = "http://127.0.0.1:8080", *, token: str | None = None, timeout_s: float = 60.0
    ) -> None:
        """``token``: the service's bearer token (default: ``PRELABEL_SERVICE_TOKEN`` if set). Requests go over
        kept-alive connections (:mod:`prelabel.httpclient`, one per thread); a service that cannot be reached
        raises :class:`prelabel.httpclient.TransportError`."""
        self.base_url = base_url.rstrip("/")
        token = token if token is not None else (os.environ.get(ENV_TOKEN, "").strip() or None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = KeepAliveClient(self.base_url, timeout_s=timeout_s, headers=headers)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self._http.request(method, path, **kwargs)
        if r.status_code >= 400:
            try:
                message = r.json().get("error", r.text)
            except ValueError:
                message = r.text
            raise ServiceError(method, path, r.status_code, message)
        if r.status_code == 204 or not r.content:
            return None
        if r.content_type.startswith("application/json"):
            return r.json()
        return r.text

    # ---- models
    def create_model(self, name: str, model: str, **options: Any) -> ModelInfo:
        """``model``: zoo id, private model reference, existing endpoint URL, or ``python:module:factory``."""
        return ModelInfo(**self._call("POST", "/models", json={"name": name, "model": model, "options": options}))

    def describe_model(self, name: str) -> ModelInfo:
        return ModelInfo(**self._call("GET", f"/models/{name}"))

    def delete_model(self, name: str) -> None:
        self._call("DELETE", f"/models/{name}")

    # ---- endpoint configs
    def create_endpoint_config(
        self,
        name: str,
        model_name: str,
        *,
        output_path: str,
        failure_path: str | None = None,
        max_concurrent_invocations_per_instance: int = 4,
        success_webhook: str | None = None,
        error_webhook: str | None = None,
    ) -> EndpointConfigInfo:
        body = {
            "name": name,
            "model_name": model_name,
            "output_path": _abs(output_path),
            "failure_path": _abs(failure_path) if failure_path else None,
            "max_concurrent_invocations_per_instance": max_concurrent_invocations_per_instance,
            "success_webhook": success_webhook,
            "error_webhook": error_webhook,
        }
        return EndpointConfigInfo(**self._call("POST", "/endpoint-configs", json=body))

    def delete_endpoint_config(self, name: str) -> None:
        self._call("DELETE", f"/endpoint-configs/{name}")

    # ---- endpoints
    def create_endpoint(
        self, name: str, config_name: str, scaling: ScalingPolicy | None = None, *, backend: str = "local"
    ) -> EndpointInfo:
        body = {
            "name": name,
            "config_name": config_name,
            "scaling": (scaling or ScalingPolicy()).model_dump(),
            "backend": backend,
        }
        return EndpointInfo(**self._call("POST", "/endpoints", json=body))

    def describe_endpoint(self, name: str) -> EndpointInfo:
        return EndpointInfo(**self._call("GET", f"/endpoints/{name}"))

    def scaling_events(self, name: str) -> list[ScalingEvent]:
        return [ScalingEvent(**e) for e in self._call("GET", f"/endpoints/{name}/scaling-events")]

    def delete_endpoint(self, name: str, *, force: bool = False) -> None:
        self._call("DELETE", f"/endpoints/{name}", params={"force": force})

    # ---- invocations
    def invoke_async(
        self, endpoint: str, input_location: str, *, inference_id: str | None = None, min_score: float | None = None
    ) -> InvocationAccepted:
        """Queue one invocation; answered at once with the inference id and the output location."""
        params: dict[str, Any] = {"input_location": _abs(input_location)}
        if inference_id:
            params["inference_id"] = inference_id
        if min_score is not None:
            params["min_score"] = min_score
        return InvocationAccepted(**self._call("POST", f"/endpoints/{endpoint}/async-invocations", params=params))

    def invoke(self, endpoint: str, image: bytes, *, content_type: str = "image/png") -> dict[str, Any]:
        """Synchronous invocation with the image bytes in the request: ``{"model", "width", "height", "labels"}``."""
        result: dict[str, Any] = self._call(
            "POST", f"/endpoints/{endpoint}/invocations", content=image, headers={"content-type": content_type}
        )
        return result

    def describe_invocation(self, inference_id: str, *, wait_s: float = 0.0) -> InvocationInfo:
        """``wait_s``: long poll, answered when the invocation reaches its final state or after ``wait_s``."""
        if wait_s <= 0:
            return InvocationInfo(**self._call("GET", f"/invocations/{inference_id}"))
        timeout = self._http.timeout_s
        params = {"wait_s": f"{wait_s:g}"}
        raw = self._call("GET", f"/invocations/{inference_id}", params=params, timeout=max(timeout, wait_s + 30))
        return InvocationInfo(**raw)

    def list_invocations(self, endpoint: str, status: str | None = None) -> list[InvocationInfo]:
        params = {"status": status} if status else {}
        return [InvocationInfo(**i) for i in self._call("GET", f"/endpoints/{endpoint}/invocations", params=params)]

    def wait(self, inference_id: str, *, timeout_s: float = 600.0, poll_s: float = 0.2) -> InvocationInfo:
        """Until the invocation is completed, failed or cancelled; TimeoutError after ``timeout_s``. The server
        answers when it happens (long poll), so nothing is polled; ``poll_s`` is kept for compatibility."""
        return self.wait_all([inference_id], timeout_s=timeout_s, poll_s=poll_s)[0]

    def wait_all(
        self, inference_ids: Iterable[str], *, timeout_s: float = 600.0, poll_s: float = 0.2
    ) -> list[InvocationInfo]:
        """:meth:`wait` for several: their states in batches of 1,000, then a long poll on the last unfinished
        one (up to 20 s per call), until all are final. An endpoint runs its queue first-in first-out, so the last
        one is usually the last to finish: a backlog costs a few rounds, not one per invocation."""
        ids = list(inference_ids)
        done: dict[str, InvocationInfo] = {}
        deadline = time.monotonic() + timeout_s
        while True:
            open_ids = [i for i in ids if i not in done]
            for start in range(0, len(open_ids), 1000):
                chunk = open_ids[start : start + 1000]
                for raw in self._call("POST", "/invocations/describe", json={"ids": chunk}):
                    info = InvocationInfo(**raw)
                    if info.status in FINAL:
                        done[info.inference_id] = info
            if len(done) == len(ids):
                return [done[i] for i in ids]
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(ids) - len(done)} of {len(ids)} invocations unfinished after {timeout_s} s")
            last = next(i for i in reversed(ids) if i not in done)
            info = self.describe_invocation(last, wait_s=min(20.0, max(0.01, left)))
            if info.status in FINAL:
                done[last] = info

    def result(self, inference_id: str) -> FrameRecord:
        """The frame record at the output location; :class:`InvocationFailedError` if the invocation failed."""
        info = self.describe_invocation(inference_id)
        if info.status != "completed":
            raise InvocationFailedError(info)
        return FrameRecord.from_json(storage.read_text(info.output_location))

    def error_document(self, inference_id: str) -> dict[str, Any]:
        info = self.describe_invocation(inference_id)
        doc: dict[str, Any] = json.loads(storage.read_text(info.failure_location))
        return doc

    def metrics(self) -> str:
        text: str = self._call("GET", "/metrics")
        return text
