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


def notify(url: str | None, payload: dict[str, Any], *, attempts: int = 3, timeout_s: float = 5.0) -> bool:
    """POST ``payload`` as JSON to ``url``; retried with back-off. A failed notice is logged, never raised."""
    if not url:
        return False
    import httpx

    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            r = httpx.post(url, json=payload, timeout=timeout_s)
            if r.status_code < 300:
                return True
            reason = f"HTTP {r.status_code}"
        except httpx.HTTPError as e:
            reason = f"{type(e).__name__}: {e}"
        log.warning("webhook %s attempt %d/%d failed: %s", url, attempt, attempts, reason)
        if attempt < attempts:
            time.sleep(delay)
            delay *= 4
    return False
