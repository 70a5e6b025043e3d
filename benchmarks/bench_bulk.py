"""Bulk labelling throughput and memory on KITTI frames: SSD-MobileNetV2 and the fast and best presets, 2 threads.

    make bench-bulk          # or: .venv/bin/python -m benchmarks.bench_bulk [--models ssd,fast,best] [--frames N]
                             #     [--memory 100,2000] [--profile fast]

Frames: the 30 KITTI object frames (PNG, ~1242x375) in ../shared/data/kitti/training/image_2, repeated to make
longer lists. Models (``--models``): ``ssd`` (SSD-MobileNetV2, the model the memory runs use), ``fast`` and ``best``
(``Predictor(preset=...)``; best tiles and fuses two models, so it gets fewer frames by default). Three ways to label
the frames, each after one warm-up frame, inference on 2 threads:

- naive: one loop that reads and decodes a PNG, runs the detector, appends the record to a labels file;
- inference alone: the detector over frames decoded beforehand (the ceiling for this model and thread count);
- pipeline: the real bulk path: a persisted job (SQLite), reading/decoding on threads, inference, and commits
  overlapping through bounded queues (``prelabel.inference.pipeline``), then the labels file written.

``--profile NAME`` instead samples every thread of one pipeline run of that model with py-spy (when installed) and
prints where the pipeline's CPU time goes (inference, decoding, commits, ...).

Memory: peak resident set size of a fresh process running a whole job (listing, pipeline, labels file) of 100
and of 2,000 frames; flat memory means the two peaks are about equal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

KITTI = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
KITTI = KITTI / "kitti" / "training"
MODEL = "ssd-mobilenet-v2-coco"
THREADS = 2
#: name -> (the job's model reference, Predictor options, default frames per mode)
MODELS: dict[str, tuple[str, dict[str, Any], int]] = {
    "ssd": (MODEL, {}, 60),
    "fast": ("nanodet-m-coco", {"preset": "fast"}, 60),
    "best": ("yolo11n-seg-coco", {"preset": "best"}, 8),
}


def frame_list(n: int, folder: Path) -> Path:
    """A .txt list of ``n`` KITTI frame paths (the 30 frames repeated)."""
    pngs = sorted((KITTI / "image_2").glob("*.png"))
    if not pngs:
        raise SystemExit(f"no KITTI frames under {KITTI / 'image_2'}; set PRELABEL_SHARED_DATA")
    path = folder / f"frames_{n}.txt"
    path.write_text("".join(f"{pngs[i % len(pngs)]}\n" for i in range(n)))
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_job(
    listing: Path,
    work: Path,
    name: str,
    predictor: Any = None,
    which: str = "ssd",
    executor_options: dict[str, Any] | None = None,
) -> tuple[int, float]:
    """A whole local job, as `prelabel label` runs it (model loading excluded when ``predictor`` is given).
    Returns (frames, seconds)."""
    from prelabel.inference.executors.local import run_local
    from prelabel.inference.job_store import Job, JobConfig
    from prelabel.sources.frames import iter_frames

    model, options, _ = MODELS[which]
    cfg = JobConfig(
        input=str(listing),
        output=str(work / f"{name}.jsonl"),
        model=model,
        predictor={"threads": THREADS, **(options or {"min_score": 0.25})},
        executor_options=executor_options or {},
    )
    start = time.perf_counter()
    job = Job.create(cfg, work / "state")
    job.add_frames(iter_frames(str(listing)))
    summary = run_local(job, predictor=predictor)
    job.finalize()
    job.close()
    return summary.frames, time.perf_counter() - start


def make_predictor(which: str) -> Any:
    from prelabel.inference.predictor import Predictor

    model, options, _ = MODELS[which]
    return Predictor(model, threads=THREADS, **options)


PIPELINE = "pipeline (job, threads, queues)"
ALONE = "inference alone (pre-decoded)"
BEFORE = "pipeline as before #18 (OpenCV decode, no prepare step)"


@contextlib.contextmanager
def opencv_decoding() -> Iterator[None]:
    """Every image decoded by OpenCV, as before ``prelabel.sources.png`` (the fast PNG path returns None)."""
    import prelabel.sources.png as png

    fast = png.decode_simple_png
    png.decode_simple_png = lambda data: None
    try:
        yield
    finally:
        png.decode_simple_png = fast


def throughput(
    which: str, n: int, work: Path, repeats: int, before: bool = False
) -> tuple[dict[str, float], dict[str, float], dict[str, list[float]]]:
    """Best frames/s of ``repeats`` interleaved rounds of each mode (the machine is shared: the best round is the
    least disturbed one), the least CPU milliseconds per frame (all threads of the process) of each mode, and every
    round's frames/s. ``before``: also the pipeline as it was before issue #18, in the same rounds."""
    import cv2
    import numpy as np

    from prelabel.core.labels import Frame
    from prelabel.labelfile import LabelWriter
    from prelabel.sources.images import image_frames, load_image

    listing = frame_list(n, work)
    frames = image_frames(str(listing))
    predictor = make_predictor(which)
    predictor.predict_frame(frames[0])  # warm-up
    decoded: dict[str, np.ndarray] = {}
    for f in frames[:30]:
        decoded[f.uri] = cv2.imread(f.uri, cv2.IMREAD_COLOR_RGB)

    def naive() -> None:
        with LabelWriter(work / "naive.jsonl") as writer:
            for f in frames:
                writer.write(predictor.predict_image(f, load_image(f)))

    def alone() -> None:
        for f in frames:
            predictor.predict_image(Frame(id=f.id, uri=f.uri), decoded[f.uri])

    runs = {"naive read-infer-write loop": naive, "inference alone (pre-decoded)": alone}
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def pipeline() -> None:
        done, _ = run_job(listing, work, f"pipeline{time.monotonic_ns()}", predictor, which)
        assert done == n

    def pipeline_before() -> None:
        with opencv_decoding():
            done, _ = run_job(listing, work, f"before{time.monotonic_ns()}", predictor, which, {"prepare": False})
        assert done == n

    runs[PIPELINE] = pipeline
    if before:
        runs[BEFORE] = pipeline_before
    rounds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            rounds[name].append(n / (time.perf_counter() - t))
            best[name] = max(best.get(name, 0.0), rounds[name][-1])
            cpu[name] = min(cpu.get(name, float("inf")), 1000 * (time.process_time() - c) / n)
    return best, cpu, rounds


def memory(n: int) -> dict[str, float]:
    """Run one job of ``n`` frames in a fresh process; its peak RSS."""
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_bulk", "--memory-run", str(n)],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        raise SystemExit(f"memory run of {n} frames failed:\n{r.stderr[-2000:]}")
    return dict(json.loads(r.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="ssd,fast,best", help=f"comma-separated, of {', '.join(MODELS)}")
    ap.add_argument("--frames", type=int, help="frames per throughput mode (default: 60; best: 8)")
    ap.add_argument("--repeats", type=int, default=2, help="rounds per throughput mode; the best is kept")
    ap.add_argument("--memory", default="100,2000", help="frame counts for the peak-memory runs ('' to skip)")
    ap.add_argument("--profile", choices=list(MODELS), help="profile one pipeline run of this model (py-spy)")
    ap.add_argument("--before", action="store_true", help="also run the pipeline as before issue #18, same rounds")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--memory-run", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--profile-run", help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))

    if args.memory_run:
        with tempfile.TemporaryDirectory() as tmp:
            listing = frame_list(args.memory_run, Path(tmp))
            n, secs = run_job(listing, Path(tmp), "memory")
        print(json.dumps({"frames": n, "seconds": secs, "fps": n / secs, "peak_rss_mb": peak_rss_mb()}))
        return
    if args.profile_run or args.profile:
        from benchmarks.pipeline_profile import profile, profile_run

        if args.profile_run:
            profile_run(args.profile_run, args.frames or MODELS[args.profile_run][2])
        else:
            profile(args.profile, args.frames or MODELS[args.profile][2])
        return

    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise SystemExit(f"unknown --models {unknown[0]!r}; expected some of {', '.join(MODELS)}")
    results: dict[str, Any] = {"threads": THREADS, "repeats": args.repeats, "models": {}}
    for which in names:
        n = args.frames or MODELS[which][2]
        with tempfile.TemporaryDirectory() as tmp:
            fps, cpu, rounds = throughput(which, n, Path(tmp), args.repeats, args.before)
        load = os.getloadavg()[0]
        ratio = fps[PIPELINE] / fps[ALONE]
        medians = {k: statistics.median(v) for k, v in rounds.items()}
        results["models"][which] = {
            "frames": n,
            "frames_per_s": fps,
            "cpu_ms_per_frame": cpu,
            "pipeline_vs_alone": ratio,
            "median_frames_per_s": medians,
            "load": load,
        }
        label = f"{which} ({MODELS[which][0]})" if which == "ssd" else f"preset {which}"
        print(f"\nthroughput, {n} KITTI frames, {label}, {THREADS} inference threads, best of {args.repeats}")
        print(f"(machine: {os.cpu_count()} CPUs, 1-minute load average {load:.1f} at the end)")
        print("| mode | frames/s (best) | median | CPU ms/frame (all threads) |\n|---|---:|---:|---:|")
        for k, v in fps.items():
            print(f"| {k} | {v:.2f} | {medians[k]:.2f} | {cpu[k]:.1f} |")
        for what, mode in (("pipeline", PIPELINE), ("as before #18", BEFORE)):
            if mode in fps:
                best_ratio, median_ratio = fps[mode] / fps[ALONE], medians[mode] / medians[ALONE]
                print(f"{what} / inference alone: {100 * best_ratio:.1f} % (medians: {100 * median_ratio:.1f} %)")
        sys.stdout.flush()
    sizes = [int(s) for s in args.memory.split(",") if s.strip()]
    if sizes:
        mem = {n: memory(n) for n in sizes}
        results["memory"] = mem
        print("\npeak memory of a whole job (fresh process)")
        print("| frames | peak RSS (MB) | frames/s |\n|---:|---:|---:|")
        for n, m in mem.items():
            print(f"| {n} | {m['peak_rss_mb']:.0f} | {m['fps']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
