"""Results out: outputs written once (never overwritten), error documents, webhook notices."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from prelabel import storage

log = logging.getLogger("prelabel.service")


def write_once(uri: str, data: bytes) -> bool:
    """Write ``data`` at ``uri`` unless something is there already. True if this call created it.

    Local files are hard-linked into place from an fsynced temporary file, so two writers can never both create
    it and a reader never sees a half-written file; object stores (s3://) leave an existing object alone.
    """
    return storage.write_bytes(uri, data, exclusive=True)


def error_document(inference_id: str, endpoint: str, input_location: str, error: str, error_type: str) -> bytes:
    doc = {
        "inference_id": inference_id,
        "endpoint": endpoint,
        "input_location": input_location,
        "error_type": error_type,
        "error": error,
        "created_at": time.time(),
    }
    return json.dumps(doc, indent=1).encode()


def post_notice(url: str, payload: dict[str, Any], key: str, *, timeout_s: float = 5.0) -> str | None:
    """POST one webhook notice as JSON with its ``Idempotency-Key`` header. None on a 2xx answer, else why not.
    Never raises: the outbox (``prelabel.service.outbox``) records the attempt and retries."""
    import httpx

    try:
        r = httpx.post(url, json=payload, headers={"Idempotency-Key": key}, timeout=timeout_s)
    except httpx.HTTPError as e:
        return f"{type(e).__name__}: {e}"
    if 200 <= r.status_code < 300:
        return None
    return f"HTTP {r.status_code}"
