"""Evaluation at scale: ``prelabel eval`` on 10,000 and 100,000 frames of 20 boxes each, with time and peak memory.

    make bench-eval-scale      # or: python -m benchmarks.bench_eval_scale [--sizes 10000,100000] [--keep DIR]

Input, generated deterministically (seed 0) from real box statistics: the 202 BDD100K frames of
``../shared/data/scalabel_eval`` (ground truth ``box_track/track_sample_anns.json``). Synthetic frame ``i`` takes
20 ground-truth boxes drawn from real frame ``i % 202`` (class and box as labelled, each box moved by up to 5 % of its
size); its ~20 predictions are most of those boxes jittered by up to 10 % (score from a Beta(4, 2)) plus a few
false positives drawn from another real frame (score from a Beta(1, 3)), several of them relabelled to a
neighbouring class. Both sets are written as prelabel labels files (JSONL) into a temporary folder.

Timed: ``prelabel.quality.flows.evaluate_files(predictions.jsonl, ground_truth.jsonl)``, the call ``prelabel eval``
makes (reading both files, pairing, matching at ten IoU thresholds, accumulating), each size in its own child
process so that its peak resident memory (``ru_maxrss``) is its own. Reported per size: wall time, process CPU time,
frames/s and peak RSS. The memory of reading the files is part of what is measured: that is what a user pays.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
GT = DATA / "scalabel_eval" / "eval" / "box_track" / "track_sample_anns.json"
BOXES = 20
CONFUSE = {"car": "truck", "truck": "car", "bus": "truck", "pedestrian": "rider", "rider": "pedestrian"}


def real_frames() -> list[tuple[list[str], np.ndarray]]:
    """(categories, xyxy) of each real ground-truth frame with at least one box."""
    from prelabel.quality.inputs import load_records

    out = []
    for r in load_records(GT):
        labs = [lab for lab in r.labels if lab.box is not None]
        if labs:
            out.append(([lab.category for lab in labs], np.asarray([lab.box.xyxy for lab in labs])))  # type: ignore[union-attr]
    return out


def _jitter(rng: np.random.Generator, xyxy: np.ndarray, frac: float) -> np.ndarray:
    wh = np.maximum(xyxy[:, 2:] - xyxy[:, :2], 1.0)
    d = rng.uniform(-frac, frac, (len(xyxy), 4)) * np.concatenate([wh, wh], axis=1)
    out = xyxy + d
    out[:, 2:] = np.maximum(out[:, 2:], out[:, :2] + 1.0)
    return np.clip(out, 0.0, 4096.0)


def _label(i: int, k: int, cat: str, b: np.ndarray, score: float | None) -> dict[str, Any]:
    lab: dict[str, Any] = {"id": f"{i}-{k}", "category": cat, "source": "model:synthetic@1" if score is not None else
                           "import:scalabel", "box": {"x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3]}}  # fmt: skip
    if score is not None:
        lab["score"] = score
    return lab


def generate(n: int, folder: Path, seed: int = 0) -> tuple[Path, Path, int, int]:
    """Write ``n`` frames of ground truth and predictions; returns both paths and the two box counts."""
    rng = np.random.default_rng(seed)
    real = real_frames()
    gt_path, pred_path = folder / f"gt_{n}.jsonl", folder / f"pred_{n}.jsonl"
    n_gt = n_dt = 0
    with gt_path.open("w") as gf, pred_path.open("w") as pf:
        for i in range(n):
            cats, boxes = real[i % len(real)]
            pick = rng.integers(0, len(cats), BOXES)
            g_cats = [cats[j] for j in pick]
            g_box = np.round(_jitter(rng, boxes[pick], 0.05), 2)
            frame = {"id": f"f{i:07d}", "uri": f"frames/f{i:07d}.jpg", "width": 1280, "height": 720}
            gt_labels = [_label(i, k, c, b, None) for k, (c, b) in enumerate(zip(g_cats, g_box.tolist(), strict=True))]
            hit = np.flatnonzero(rng.random(BOXES) < 0.85)
            d_box = np.round(_jitter(rng, g_box[hit], 0.10), 2).tolist()
            d_score = rng.beta(4, 2, len(hit)).round(4).tolist()
            d_cats = [CONFUSE.get(g_cats[j], g_cats[j]) if rng.random() < 0.05 else g_cats[j] for j in hit]
            o_cats, o_boxes = real[(i * 7 + 3) % len(real)]
            fp = rng.integers(0, len(o_cats), BOXES - len(hit))
            d_cats += [o_cats[j] for j in fp]
            d_box += np.round(_jitter(rng, o_boxes[fp], 0.10), 2).tolist()
            d_score += rng.beta(1, 3, len(fp)).round(4).tolist()
            dt_labels = [_label(i, k, c, b, s) for k, (c, b, s) in enumerate(zip(d_cats, d_box, d_score, strict=True))]
            rec = {"schema_version": 1, "frame": frame, "created_at": "2026-01-01T00:00:00+00:00"}
            gf.write(json.dumps({**rec, "labels": gt_labels}, separators=(",", ":")) + "\n")
            pf.write(json.dumps({**rec, "labels": dt_labels}, separators=(",", ":")) + "\n")
            n_gt += len(gt_labels)
            n_dt += len(dt_labels)
    return gt_path, pred_path, n_gt, n_dt


def child(pred: str, gt: str) -> None:
    """Run the evaluation once in this process and print its figures as one JSON line."""
    import warnings

    from prelabel.quality.flows import evaluate_files

    w0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = evaluate_files(pred, gt)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    s = run.result.summary()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"frames": run.result.frames, "wall_s": wall, "cpu_s": cpu, "peak_rss_mib": rss_mib, **s}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000", help="Comma-separated frame counts.")
    ap.add_argument("--keep", default=None, help="Write the generated files here (default: a temporary folder).")
    ap.add_argument("--child", nargs=2, metavar=("PRED", "GT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="bench_eval_scale_") as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"load average {os.getloadavg()[0]:.2f}, {os.getloadavg()[1]:.2f}, {os.getloadavg()[2]:.2f}")
        print("| frames | GT boxes | predicted boxes | wall s | CPU s | frames/s (CPU) | peak RSS MiB | AP | AP50 |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in sizes:
            gt, pred, n_gt, n_dt = generate(n, folder)
            cmd = [sys.executable, "-m", "benchmarks.bench_eval_scale", "--child", str(pred), str(gt)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            r = json.loads(out)
            print(
                f"| {n:,} | {n_gt:,} | {n_dt:,} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {n / r['cpu_s']:,.0f} | "
                f"{r['peak_rss_mib']:,.0f} | {100 * (r['AP'] or 0):.2f} | {100 * (r['AP50'] or 0):.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
