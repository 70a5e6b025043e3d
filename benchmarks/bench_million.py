"""A million-frame bulk job: the machinery (job creation, progress, kill -9, resume, labels file), not a model.

Every frame is a reference to one tiny PNG (the decode is real but costs microseconds) and the detector finds
nothing, so what is measured is prelabel's own cost per frame. For each size N the stages run in their own
child process, so each stage's peak memory (ru_maxrss) is its own:

    create   Job.create + add_frames(N generated frame references)
    run      the local pipeline from the start; killed with SIGKILL once about --kill-at of the frames are done
    resume   the same job resumed in a new process until no frame is pending
    finish   the labels file written (streamed), then read back: N lines, each frame exactly once

Run: ``python -m benchmarks.bench_million`` (default sizes 10k, 100k, 1M; ``--sizes 10000,100000`` for less).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the parent's peak across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _frames(n: int, image: str) -> Iterator[Any]:
    from prelabel.core.labels import Frame

    for i in range(n):
        yield Frame(id=f"f{i:07d}", uri=image, width=8, height=8)


def _stage(stage: str, work: Path, n: int) -> dict[str, Any]:
    from benchmarks.bench_service import NoopDetector
    from prelabel.inference.executors.local import run_local
    from prelabel.inference.job_store import Job, JobConfig
    from prelabel.inference.predictor import Predictor

    state = work / "state"
    t0 = time.perf_counter()
    out: dict[str, Any] = {"stage": stage, "n": n}
    if stage == "create":
        cfg = JobConfig(input=str(work / "img.png"), output=str(work / "labels.jsonl"), model="noop")
        job = Job.create(cfg, root=state, job_id="million")
        out["items"] = job.add_frames(_frames(n, str(work / "img.png")), batch=4096)
    elif stage in ("run", "resume"):
        job = Job.open("million", root=state)
        job.acquire()
        before = job.counts()["pending"]
        predictor = Predictor(NoopDetector(), job=job.id)
        summary = run_local(job, predictor=predictor)
        out["items"] = summary.frames
        out["pending_before"] = before
    elif stage == "finish":
        job = Job.open("million", root=state)
        summary = job.finalize()
        out["items"] = summary.frames
    else:
        raise SystemExit(f"unknown stage {stage!r}; expected create, run, resume or finish")
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = _rss_mb()
    return out


def _child(stage: str, work: Path, n: int) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "benchmarks.bench_million", "--child", stage, "--work", str(work), "--n", str(n)]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {stderr[-2000:]}")
    return dict(json.loads(stdout.strip().splitlines()[-1]))


def _done(work: Path) -> int:
    db = work / "state" / "million" / "job.sqlite"
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM items WHERE state != 'pending'").fetchone()[0])
    except sqlite3.Error:
        return 0


def run_size(n: int, kill_at: float) -> list[dict[str, Any]]:
    import cv2
    import numpy as np

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-million-") as tmp:
        work = Path(tmp)
        cv2.imwrite(str(work / "img.png"), np.full((8, 8, 3), 127, np.uint8))
        rows.append(_result(_child("create", work, n)))

        proc = _child("run", work, n)
        t0 = time.perf_counter()
        target = int(n * kill_at)
        peak = 0.0
        while proc.poll() is None and _done(work) < target:
            time.sleep(0.05)
            try:
                statm = Path(f"/proc/{proc.pid}/status").read_text()
                rss = next(int(line.split()[1]) for line in statm.splitlines() if line.startswith("VmHWM:"))
                peak = max(peak, rss / 1024.0)
            except (OSError, StopIteration):
                pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_at = _done(work)
        rows.append(
            {
                "stage": "run (killed)",
                "n": n,
                "items": killed_at,
                "seconds": time.perf_counter() - t0,
                "peak_rss_mb": peak,
            }
        )

        res = _result(_child("resume", work, n))
        res["stage"] = "resume"
        rows.append(res)
        fin = _result(_child("finish", work, n))
        ids: set[str] = set()
        lines = 0
        with open(work / "labels.jsonl", encoding="utf-8") as fh:
            for line in fh:
                lines += 1
                ids.add(json.loads(line)["frame"]["id"])
        fin["check"] = "ok" if lines == n and len(ids) == n else f"BAD: {lines} lines, {len(ids)} ids for {n}"
        rows.append(fin)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--kill-at", type=float, default=0.4, help="kill the first run once this share is done")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_stage(args.child, Path(args.work), int(args.n))))
        return
    print(f"{'frames':>9} {'stage':<13} {'items':>9} {'seconds':>9} {'us/item':>8} {'peak RSS MB':>11}  check")
    for n in (int(s) for s in args.sizes.split(",")):
        for r in run_size(n, args.kill_at):
            per = 1e6 * r["seconds"] / max(1, r["items"])
            print(
                f"{n:>9,} {r['stage']:<13} {r['items']:>9,} {r['seconds']:>9.1f} {per:>8.0f} "
                f"{r['peak_rss_mb']:>11.0f}  {r.get('check', '')}",
                flush=True,
            )


if __name__ == "__main__":
    main()
