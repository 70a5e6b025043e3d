"""Detectors that call an inference endpoint someone already runs, given as an ``http(s)://`` model reference.

- prelabel's own endpoint protocol (the default): ``POST <url>/invocations`` with the image bytes
  (:mod:`prelabel.models.endpoints.prelabel_api`);
- the KServe v2 inference protocol, when the URL holds ``/v2/models/<name>`` or ``protocol="kserve"`` is given
  (:mod:`prelabel.models.endpoints.kserve`): the endpoint runs the raw network, prelabel preprocesses and decodes.

Both use :class:`~prelabel.models.endpoints.http.EndpointClient`: timeouts, and retries with exponential backoff on
connection errors, timeouts, 429 and 502/503/504.
"""

from __future__ import annotations

from typing import Any

from prelabel.errors import UnknownNameError
from prelabel.models.base import Detector

PROTOCOLS = ("kserve", "prelabel")


def endpoint_protocol(url: str, protocol: str | None = None) -> str:
    if protocol:
        if protocol not in PROTOCOLS:
            raise UnknownNameError("endpoint protocol", protocol, PROTOCOLS)
        return protocol
    return "kserve" if "/v2/models/" in url else "prelabel"


def load_endpoint(url: str, protocol: str | None = None, **options: Any) -> Detector:
    if endpoint_protocol(url, protocol) == "kserve":
        from prelabel.models.endpoints.kserve import KServeDetector

        return KServeDetector(url, **options)
    from prelabel.models.endpoints.prelabel_api import PrelabelEndpointDetector

    return PrelabelEndpointDetector(url, **options)
