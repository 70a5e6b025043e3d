"""Async endpoint service: throughput, per-invocation overhead, and time from zero instances to the first result.

    make bench-service          (python -m benchmarks.bench_service [--n 200] [--modes wake,poll --rounds 3])

A real ``prelabel serve`` on 127.0.0.1, real worker processes, KITTI frames from ../shared/data (1242x375 PNG).
Three models: a no-op detector (returns nothing) that the worker still hands decoded pixels, the same no-op
declaring ``detect_encoded`` (it gets the bytes: no decode, so what is left is the service's own cost), and the
default detector.
- cold start: endpoint at zero instances, one invocation, seconds until its result is written (the worker
  process starts and loads the model);
- throughput: N invocations queued at once, 1 instance x 4 concurrent, invocations per second;
- overhead: invocations one at a time on a warm instance; latency (accepted -> output written, from the
  service's own timestamps) minus the model's own time (timed by the worker around the model call); p50, p99;
- in one process: the same frames read, decoded and run by the same model with the same threads in this process,
  one after the other (no service): frames per second, and the service's throughput as a share of it;
- sync calls: ``POST /endpoints/{name}/invocations`` one at a time, round trip seen by the client; p50, p99.
The client waits with long polls (``GET /invocations/{id}?wait_s=``), so it adds no polling load of its own.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.detections import Detections

REPO = Path(__file__).resolve().parents[1]
FRAMES = sorted((REPO.parent / "shared" / "data" / "kitti" / "training" / "image_2").glob("*.png"))


class NoopDetector:
    """Finds nothing, instantly: isolates the service's own cost (queue, storage, decode, write, bookkeeping)."""

    model_id = "noop"
    version = "1"
    classes: Sequence[str] = ("object",)
    source = "model:noop@1"

    def __init__(self, **options: Any) -> None:
        pass

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        return Detections.empty()


class NoopBytesDetector(NoopDetector):
    """The same no-op, declaring that it reads the input's bytes itself (``detect_encoded``): the worker then
    reads only the image header and skips the decode a pixel model needs (on a KITTI PNG, most of its CPU)."""

    def detect_encoded(self, data: bytes) -> Detections:
        return Detections.empty()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def in_process_rate(ref: str, options: dict[str, Any], count: int) -> float:
    """Frames per second of ``ref`` in this process: read, decode, predict, one after the other (no service)."""
    from prelabel.core.labels import Frame
    from prelabel.inference.predictor import Predictor
    from prelabel.service.models import load_model
    from prelabel.sources.images import decode_image

    predictor = Predictor(load_model(ref, options), job="bench")
    frames = [FRAMES[i % len(FRAMES)] for i in range(count)]
    predictor.predict_image(Frame(id="warm", uri=str(frames[0])), decode_image(frames[0].read_bytes(), "warm"))
    t0 = time.perf_counter()
    for p in frames:
        predictor.predict_image(Frame(id=p.stem, uri=str(p)), decode_image(p.read_bytes(), str(p)))
    return count / (time.perf_counter() - t0)


def run(n: int, n_model: int, mode: str = "wake", noops: Sequence[str] = ("noop", "noopbytes")) -> list[dict[str, Any]]:
    """``mode``: ``wake`` (workers woken when work arrives) or ``poll`` (``prelabel serve --no-wake``: they poll
    SQLite every 50 ms, as before); ``n_model`` 0 leaves the default detector out; ``noops``: which no-op models
    run (``noop``: handed decoded pixels, ``noopbytes``: reads the bytes itself, no decode)."""
    from prelabel.client import Client, ScalingPolicy
    from prelabel.service.launch import ServiceProcess

    rows = []
    extra = ["--no-wake"] if mode == "poll" else []
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        work = Path(tmp)
        svc_args: dict[str, Any] = {
            "tick_s": 0.1,
            "cwd": REPO,
            "roots": [work, FRAMES[0].parent],
            "allow_python_models": True,
        }
        with ServiceProcess(work / "state", extra_args=extra, **svc_args) as svc, Client(svc.url) as client:
            db = sqlite3.connect(svc.state_dir / "service.sqlite3")
            models = {  # label: (endpoint name, model, backlog)
                "no-op (decodes PNG)": ("noop", "python:benchmarks.bench_service:NoopDetector", n),
                "no-op (bytes)": ("noopbytes", "python:benchmarks.bench_service:NoopBytesDetector", n),
                "ssd-mobilenet-v2-coco": ("ssd", "ssd-mobilenet-v2-coco", n_model),
            }
            for label, (name, ref, count) in models.items():
                if count <= 0 or (ref.startswith("python:") and name not in noops):
                    continue
                options: dict[str, Any] = {"threads": 1} if "ssd" in ref else {}
                client.create_model(name, ref, **options)
                client.create_endpoint_config(
                    name, name, output_path=str(work / name), max_concurrent_invocations_per_instance=4
                )
                policy = ScalingPolicy(max_instances=1, target_backlog_per_instance=5, scale_in_cooldown_s=600)
                client.create_endpoint(name, name, policy)

                # time from zero instances to the first result
                t0 = time.monotonic()
                first = client.invoke_async(name, str(FRAMES[0]))
                assert client.wait(first.inference_id, timeout_s=300).status == "completed"
                cold = time.monotonic() - t0

                # throughput: a backlog of `count` invocations on 1 warm instance; CPU time of each process
                assert svc.proc is not None
                (worker_pid,) = db.execute(
                    "SELECT pid FROM instances WHERE endpoint=? AND state='ready'", (name,)
                ).fetchone()
                pids = {"client": os.getpid(), "server": svc.proc.pid, "worker": int(worker_pid)}
                cpu0 = {k: _cpu_s(p) for k, p in pids.items()}
                t_submit = time.monotonic()
                ids = [client.invoke_async(name, str(FRAMES[i % len(FRAMES)])).inference_id for i in range(count)]
                accept_rate = count / (time.monotonic() - t_submit)
                client.wait_all(ids, timeout_s=900, poll_s=0.1)
                cpu_ms = {k: (_cpu_s(p) - cpu0[k]) / count * 1000 for k, p in pids.items()}
                marks = ",".join("?" * len(ids))
                lo, hi = db.execute(
                    f"SELECT MIN(created_at), MAX(completed_at) FROM invocations WHERE id IN ({marks})", ids
                ).fetchone()
                rate = len(ids) / (hi - lo)

                # overhead: one at a time on the warm instance; latency minus the model's own time (measured by
                # the worker around the model call)
                seq = []
                for i in range(min(30, count)):
                    inv = client.invoke_async(name, str(FRAMES[i % len(FRAMES)]))
                    assert client.wait(inv.inference_id, timeout_s=60).status == "completed"  # long poll
                    seq.append(inv.inference_id)
                # synchronous calls one at a time: round trip seen by the client (body upload, queue, worker,
                # completion notice, answer)
                sync_ms = []
                for i in range(min(30, count)):
                    body = FRAMES[i % len(FRAMES)].read_bytes()
                    t_sync = time.perf_counter()
                    client.invoke(name, body)
                    sync_ms.append((time.perf_counter() - t_sync) * 1000)
                got = db.execute(
                    "SELECT completed_at - created_at, model_seconds, started_at - created_at FROM invocations "
                    f"WHERE id IN ({','.join('?' * len(seq))})",
                    seq,
                ).fetchall()
                lat = [r[0] for r in got]
                over = [r[0] - r[1] for r in got]
                queued = [r[2] for r in got]  # accepted -> leased by the worker: what wake-ups shorten
                model_med = statistics.median(r[1] for r in got)
                alone = in_process_rate(ref, options, count) if "ssd" in ref else None
                rows.append(
                    {
                        "accept_rate": accept_rate,
                        "sync_p50": _pct(sync_ms, 50),
                        "sync_p99": _pct(sync_ms, 99),
                        "cpu_ms": cpu_ms,
                        "alone": alone,
                        "mode": mode,
                        "model": label,
                        "cold_s": cold,
                        "n": count,
                        "rate": rate,
                        "lat_p50": _pct(lat, 50) * 1000,
                        "model_ms": model_med * 1000,
                        "over_p50": _pct(over, 50) * 1000,
                        "over_p99": _pct(over, 99) * 1000,
                        "queued_p50": _pct(queued, 50) * 1000,
                    }
                )
                client.delete_endpoint(name)
            db.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200, help="backlog size for the no-op model")
    ap.add_argument("--n-model", type=int, default=60, help="backlog size for the default detector")
    ap.add_argument(
        "--modes",
        default="wake",
        help="comma-separated: wake (workers woken when work arrives), poll (serve --no-wake); with several, "
        "the runs alternate --rounds times",
    )
    ap.add_argument(
        "--noops",
        default="noop,noopbytes",
        help="no-op models to run: noop (the worker decodes the PNG for it), noopbytes (detect_encoded: no decode)",
    )
    ap.add_argument("--rounds", type=int, default=1, help="alternations of the modes (a busy machine drifts)")
    args = ap.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    noops = args.noops.split(",")
    rows = [r for _ in range(args.rounds) for mode in modes for r in run(args.n, args.n_model, mode, noops)]
    print("| workers | model | zero -> first result (s) | backlog | invocations/s (1 instance x 4) "
          "| latency p50 (ms) | model alone (ms) | overhead p50 (ms) | overhead p99 (ms) "
          "| accepted -> leased p50 (ms) | in one process (/s) | service / one process |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['model']} | {r['cold_s']:.2f} | {r['n']} | {r['rate']:.1f} | {r['lat_p50']:.0f} | "
            f"{r['model_ms']:.0f} | {r['over_p50']:.0f} | {r['over_p99']:.0f} | {r['queued_p50']:.1f} | "
            + (f"{r['alone']:.1f} | {r['rate'] / r['alone']:.0%} |" if r["alone"] else "- | - |")
        )

    print("\nCPU per invocation during the throughput run (ms; the machine has 2 cores), and how fast one client "
          "got its invocations accepted:")  # fmt: skip
    print("| workers | model | client | server (API, supervisor, outbox) | worker | accepted/s (one client) "
          "| sync call p50 (ms) | sync call p99 (ms) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        c = r["cpu_ms"]
        print(
            f"| {r['mode']} | {r['model']} | {c['client']:.1f} | {c['server']:.1f} | {c['worker']:.1f} | "
            f"{r['accept_rate']:.0f} | {r['sync_p50']:.0f} | {r['sync_p99']:.0f} |"
        )


if __name__ == "__main__":
    main()
