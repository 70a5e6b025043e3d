"""The storage locations and URLs a request names, checked against the operator's policy (:mod:`prelabel.access`):
422 when malformed (a relative path, a webhook that is not http(s)), 403 when outside the roots / allowed URLs."""

from __future__ import annotations

import os

from prelabel import access, storage
from prelabel.service.errors import api_error


def check_location(name: str, uri: str, policy: access.AccessPolicy) -> str:
    """The location, normalised, if it is absolute (else 422) and under the storage roots (else 403)."""
    if storage.is_local(uri) and not os.path.isabs(storage.local_str(uri)):
        raise api_error(422, f"{name} must be an absolute path or a URI such as s3://bucket/key; got {uri!r}")
    try:
        return policy.check(uri, name)
    except access.LocationRefusedError as e:
        raise api_error(403, str(e)) from None


def check_url(name: str, url: str, policy: access.AccessPolicy) -> str:
    """A URL the service will call (webhook, endpoint model): http(s) (else 422) under an allowed prefix (else 403)."""
    if not url.startswith(("http://", "https://")):
        raise api_error(422, f"{name} must be an http(s):// URL; got {url!r}")
    return check_location(name, url, policy)
