"""Prometheus text exposition of the service's state, computed from the store on each scrape (so the figures
survive restarts and count work done by every worker process)."""

from __future__ import annotations

import json
from typing import Any

from prelabel.service.store import LATENCY_BUCKETS, Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _labels(**kv: str) -> str:
    inner = ",".join(
        f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in kv.items()
    )
    return "{" + inner + "}"


def render(store: Store, ray_backend: Any = None) -> str:
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    endpoints = store.endpoints()
    rows = store.metrics_rows()
    counts: dict[tuple[str, str], int] = {(r["endpoint"], r["state"]): int(r["n"]) for r in rows["states"]}
    instances: dict[str, int] = {}
    for e in endpoints:
        if e["backend"] == "ray" and ray_backend is not None:
            instances[e["name"]] = int(ray_backend.replicas(e["name"]))
        else:
            instances[e["name"]] = len(store.live_instances(e["name"]))

    metric("prelabel_endpoint_backlog", "gauge", "Invocations queued or running (ApproximateBacklogSize).")
    for e in endpoints:
        n = counts.get((e["name"], "queued"), 0) + counts.get((e["name"], "leased"), 0)
        lines.append(f"prelabel_endpoint_backlog{_labels(endpoint=e['name'])} {n}")
    metric("prelabel_endpoint_backlog_per_instance", "gauge", "Backlog divided by instances (backlog when none).")
    for e in endpoints:
        n = counts.get((e["name"], "queued"), 0) + counts.get((e["name"], "leased"), 0)
        per = n / instances[e["name"]] if instances[e["name"]] else float(n)
        lines.append(f"prelabel_endpoint_backlog_per_instance{_labels(endpoint=e['name'])} {per:g}")
    metric("prelabel_endpoint_instances", "gauge", "Worker instances starting or serving.")
    for e in endpoints:
        lines.append(f"prelabel_endpoint_instances{_labels(endpoint=e['name'])} {instances[e['name']]}")
    metric("prelabel_endpoint_max_instances", "gauge", "The scaling policy's maximum.")
    for e in endpoints:
        mx = json.loads(e["policy"])["max_instances"]
        lines.append(f"prelabel_endpoint_max_instances{_labels(endpoint=e['name'])} {mx}")

    metric("prelabel_invocations_total", "counter", "Invocations accepted, by current status.")
    status_name = {"queued": "queued", "leased": "running", "completed": "completed", "failed": "failed"}
    for (ep, st), n in sorted(counts.items()):
        lines.append(f"prelabel_invocations_total{_labels(endpoint=ep, status=status_name.get(st, st))} {n}")
    metric("prelabel_invocation_errors_total", "counter", "Invocations that ended with an error document.")
    for ep in sorted({ep for ep, _ in counts}):
        lines.append(f"prelabel_invocation_errors_total{_labels(endpoint=ep)} {counts.get((ep, 'failed'), 0)}")

    metric("prelabel_invocation_latency_seconds", "histogram", "Seconds from accepted to result written.")
    for r in rows["latency"]:
        ep = r["endpoint"]
        for i, b in enumerate(LATENCY_BUCKETS):
            lines.append(f"prelabel_invocation_latency_seconds_bucket{_labels(endpoint=ep, le=f'{b:g}')} {r[f'b{i}']}")
        lines.append(f"prelabel_invocation_latency_seconds_bucket{_labels(endpoint=ep, le='+Inf')} {r['n']}")
        lines.append(f"prelabel_invocation_latency_seconds_sum{_labels(endpoint=ep)} {r['total']:.6f}")
        lines.append(f"prelabel_invocation_latency_seconds_count{_labels(endpoint=ep)} {r['n']}")
    metric("prelabel_model_latency_seconds_total", "counter", "Seconds the model itself ran (SageMaker ModelLatency).")
    for r in rows["latency"]:
        lines.append(f"prelabel_model_latency_seconds_total{_labels(endpoint=r['endpoint'])} {r['model_total']:.6f}")
    notices: dict[tuple[str, str], int] = {(r["endpoint"], r["state"]): int(r["n"]) for r in rows["notices"]}
    hooked = sorted({ep for ep, _ in notices})
    metric("prelabel_webhook_notices_total", "counter", "Webhook notices in the outbox, by state.")
    for (ep, st), n in sorted(notices.items()):
        lines.append(f"prelabel_webhook_notices_total{_labels(endpoint=ep, state=st)} {n}")
    metric("prelabel_webhook_failures_total", "counter", "Webhook notices given up after their last attempt.")
    for ep in hooked:
        lines.append(f"prelabel_webhook_failures_total{_labels(endpoint=ep)} {notices.get((ep, 'failed'), 0)}")
    return "\n".join(lines) + "\n"
