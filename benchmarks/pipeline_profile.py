"""Where the bulk pipeline's time goes: ``python -m benchmarks.bench_bulk --profile fast``.

Two views of one pipeline run (job creation, listing, the threaded pipeline, commits, the labels file; the model is
loaded and warmed up first and not counted):

- CPU seconds per thread, read from ``/proc/self/task/*/stat`` while the job runs (exact; ONNX Runtime's own
  intra-op threads, which Python cannot name, are grouped as ``native``);
- when py-spy is installed (``pip install py-spy``, in the ``dev`` extra), a sampling profile of every Python thread,
  its samples sorted into what the pipeline does (inference, preprocessing, decoding PNGs, per-box objects,
  commits, ...).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

#: (what, a regular expression matched against the whole sampled stack); the first match wins
CATEGORIES = [
    ("listing frames (job.add_frames)", r"add_frames \("),
    ("labels file (job.finalize)", r"finalize \("),
    ("commits (job.complete)", r"complete \(prelabel/inference/job_store"),
    ("reading pending items (job.pending)", r"pending \(prelabel"),
    ("PNG decoding", r"decode_image \(|imdecode|_safe_load \("),
    ("preprocessing (resize, normalise)", r"Preprocess\.__call__"),
    ("ONNX Runtime / OpenCV DNN forward", r"_infer \(|backends/opencv_"),
    ("NMS and box decoding", r"nms \(|decoders/"),
    ("tiling / fusion merge", r"merge_raw|suppress_cut|weighted_merge|EnsembleDetector|fusion"),
    ("class map / thresholds (ontology)", r"OntologyDetector\.detect"),
    ("per-box Label objects (to_labels)", r"to_labels \("),
    ("record objects (FrameRecord, model_copy)", r"predict_image \(prelabel/inference/predictor"),
    ("waiting on queues", r"\.get \(queue|\.put \(queue|_put \(|wait \(threading|result \(concurrent"),
]


def _thread_cpu() -> dict[int, float]:
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def profile_run(which: str, n: int) -> None:
    """Run one job of ``n`` frames (model loaded first); print CPU seconds per thread kind."""
    from benchmarks.bench_bulk import frame_list, make_predictor, run_job
    from prelabel.sources.images import image_frames

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        listing = frame_list(n, work)
        predictor = make_predictor(which)
        predictor.predict_frame(image_frames(str(listing))[0])
        names: dict[int, str] = {}
        last: dict[int, float] = {}
        start_cpu = _thread_cpu()
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                names.update({t.native_id: t.name for t in threading.enumerate() if t.native_id})
                last.update(_thread_cpu())
                done.wait(0.05)

        watcher = threading.Thread(target=watch, name="profile-watch", daemon=True)
        watcher.start()
        print("PROFILE-START", flush=True)
        frames, secs = run_job(listing, work, "profile", predictor, which)
        done.set()
        watcher.join()
        last.update(_thread_cpu())
    me = threading.get_native_id()
    kinds: Counter[str] = Counter()
    for tid, cpu in last.items():
        name = names.get(tid, "native (ONNX Runtime / OpenCV pool)")
        if tid == me:
            name = "MainThread"
        kinds[re.sub(r"_\d+$", "", name)] += cpu - start_cpu.get(tid, 0.0)
    kinds.pop("profile-watch", None)
    total = sum(kinds.values())
    print(f"\n{which}: {frames} frames in {secs:.2f} s ({frames / secs:.2f} frames/s); CPU seconds per thread:")
    print("| thread | CPU s | share | CPU ms/frame |\n|---|---:|---:|---:|")
    for name, cpu in kinds.most_common():
        print(f"| {name} | {cpu:.2f} | {100 * cpu / total:.1f} % | {1000 * cpu / frames:.1f} |")


def summarize(raw: Path) -> list[tuple[str, str, int]]:
    """py-spy raw (collapsed) stacks -> (thread, category, samples), most first; model loading excluded."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, num = line.rpartition(" ")
        if not num.isdigit():
            continue
        thread = stack.split(";", 1)[0]
        main = "MainThread" in thread or "<module>" in stack  # py-spy does not always name the main thread
        if "profile-watch" in thread or (main and "run_job (benchmarks/bench_bulk" not in stack):
            continue  # model loading and warm-up, the profiler's own watcher
        kind = (
            "main"
            if main
            else next(
                (t for t in ("prelabel-infer", "prelabel-read", "prelabel-decode") if t in stack or t in thread),
                "other",
            )
        )
        if kind == "other" and "_safe_load" in stack:
            kind = "prelabel-decode"
        what = next((c for c, rx in CATEGORIES if re.search(rx, stack)), "other Python")
        counts[(kind, what)] += int(num)
    return [(k, w, c) for (k, w), c in counts.most_common()]


def profile(which: str, n: int) -> None:
    """Run :func:`profile_run` in a child process, under py-spy when it is installed."""
    cmd = [sys.executable, "-m", "benchmarks.bench_bulk", "--profile-run", which, "--frames", str(n)]
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).is_file():
        print("py-spy is not installed (pip install py-spy): CPU per thread only", flush=True)
        subprocess.run(cmd, check=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "stacks.txt"
        args = [spy, "record", "--format", "raw", "--threads", "--rate", "200", "--nonblocking", "-o", str(raw), "--"]
        subprocess.run([*args, *cmd], check=True)
        rows = summarize(raw)
    total = sum(c for _, _, c in rows) or 1
    print(f"\npy-spy samples of the Python threads while the job ran ({total} samples at 200 Hz, idle excluded):")
    print("| thread | what | share of samples |\n|---|---|---:|")
    for kind, what, c in rows:
        if c / total >= 0.003:
            print(f"| {kind} | {what} | {100 * c / total:.1f} % |")
