"""Results out: outputs written once (never overwritten) in a bounded number of attempts, outputs tied to the
invocation that wrote them, error documents, webhook notices."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from prelabel import storage
from prelabel.access import read_regular
from prelabel.errors import PrelabelError

log = logging.getLogger("prelabel.service")


def write_once(uri: str, data: bytes, *, durable: bool = True) -> bool:
    """Write ``data`` at ``uri`` unless something is there already. True if this call created it.

    Local files are hard-linked into place from an fsynced temporary file, so two writers can never both create
    it and a reader never sees a half-written file; object stores (s3://) leave an existing object alone.
    ``durable`` False skips the fsync: for a file that nobody reads after a restart (a synchronous call's answer).
    """
    return storage.write_bytes(uri, data, exclusive=True, fsync=durable)


class OutputWriteError(PrelabelError):
    """An output or error document that could not be written after the allowed attempts."""

    def __init__(self, uri: str, attempts: int, cause: BaseException) -> None:
        super().__init__(
            f"cannot write {uri} (tried {attempts} time{'s' if attempts != 1 else ''}): {type(cause).__name__}: {cause}"
        )
        self.uri = uri


def write_once_bounded(
    uri: str, data: bytes, *, attempts: int = 3, backoff_s: float = 0.2, durable: bool = True
) -> bool:
    """:func:`write_once`, tried up to ``attempts`` times (the wait doubles from ``backoff_s``) when storage
    fails; then :class:`OutputWriteError`. A location that can never be written (a path under a regular file, a
    bucket that refuses) fails the invocation instead of holding it for ever."""
    last: BaseException | None = None
    for attempt in range(1, max(1, attempts) + 1):
        try:
            return write_once(uri, data, durable=durable)
        except Exception as e:
            last = e
            log.warning("writing %s failed (attempt %d/%d): %s: %s", uri, attempt, attempts, type(e).__name__, e)
            if attempt < attempts:
                time.sleep(backoff_s * 2 ** (attempt - 1))
    assert last is not None
    raise OutputWriteError(uri, max(1, attempts), last)


def foreign_output(uri: str, inference_id: str, input_location: str, input_sha256: str) -> str | None:
    """Why the output already at ``uri`` is not this invocation's result (None: it is ours, from an earlier
    attempt). An output records its inference id, input location and the sha256 of the input bytes."""
    try:
        doc = json.loads(read_regular(uri, "output"))  # bounded: whatever is there may be large
        frame = doc["frame"]
        meta = frame.get("meta") or {}
    except Exception as e:
        return f"it is not a prelabel result ({type(e).__name__})"
    if meta.get("inference_id") != inference_id:
        return f"it is the result of inference id {meta.get('inference_id')!r}"
    if frame.get("uri") != input_location:
        return f"it is the result for input {frame.get('uri')!r}"
    if meta.get("input_sha256") != input_sha256:
        return "it was computed from other input bytes (sha256 differs)"
    return None


def foreign_error_document(uri: str, inference_id: str, input_location: str) -> str | None:
    """Why the error document already at ``uri`` is not this invocation's (None: it is ours)."""
    try:
        doc = json.loads(read_regular(uri, "error document"))  # bounded: whatever is there may be large
    except Exception as e:
        return f"it is not a prelabel error document ({type(e).__name__})"
    if not isinstance(doc, dict) or doc.get("inference_id") != inference_id:
        return f"it belongs to inference id {doc.get('inference_id') if isinstance(doc, dict) else None!r}"
    if doc.get("input_location") != input_location:
        return f"it is about input {doc.get('input_location')!r}"
    return None


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
