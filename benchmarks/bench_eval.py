"""Evaluation speed per frame: ``prelabel.quality.evaluate`` on Scalabel's golden BDD100K detection set.

    python -m benchmarks.bench_eval [--repeat 5]

Input: ``../shared/data/scalabel_eval``: 202 BDD100K frames, ground truth ``box_track/track_sample_anns.json``
(~3,900 boxes) and a real detector's ``det/bbox_predictions.json`` (5,372 boxes, ~27 per frame), read once. Timed:
``evaluate(predictions, ground_truth, EvalConfig(classes=8 Scalabel classes, inclusive_pixels=True))``, i.e.
matching at ten IoU thresholds and accumulation, best of ``--repeat`` runs, in process CPU time (which other load
on the machine inflates much less than wall time), divided by the number of frames; and, where it exists
(prelabel >= 0.2), ``evaluate_sets`` on the same frames as columnar label sets made once when read.
The AP it prints must stay Scalabel's reference (AP 34.03, AP50 55.32).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

DATA = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
ROOT = DATA / "scalabel_eval" / "eval"
CLASSES = ["pedestrian", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from prelabel.quality.evaluate import EvalConfig, evaluate
    from prelabel.quality.inputs import load_records

    gt = load_records(ROOT / "box_track" / "track_sample_anns.json")
    pred = load_records(ROOT / "det" / "bbox_predictions.json")
    cfg = EvalConfig(classes=CLASSES, inclusive_pixels=True)
    best = float("inf")
    res = None
    for _ in range(args.repeat):
        t0 = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = evaluate(pred, gt, cfg)
        best = min(best, time.process_time() - t0)
    assert res is not None
    s = res.summary()
    n_dt = sum(len(r.labels) for r in pred)
    n_gt = sum(len(r.labels) for r in gt)
    print(f"{len(gt)} frames, {n_gt} ground-truth and {n_dt} predicted labels")
    per_frame = best * 1000 / len(gt)
    print(f"evaluate: {best * 1000:.1f} ms in all, {per_frame:.3f} ms per frame (CPU time, best of {args.repeat})")
    print(f"AP {100 * (s['AP'] or 0):.2f}, AP50 {100 * (s['AP50'] or 0):.2f}, AP75 {100 * (s['AP75'] or 0):.2f}")
    try:
        from prelabel.quality.evaluate import FramePair, evaluate_sets, pair_records
    except ImportError:  # prelabel 0.1: records only
        return
    pairs, _ = pair_records(pred, gt)
    frames = [FramePair.of(p, g) for p, g in pairs]
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.process_time()
        res = evaluate_sets(frames, cfg)
        best = min(best, time.process_time() - t0)
    s = res.summary()
    print(f"evaluate_sets: {best * 1000:.1f} ms in all, {best * 1000 / len(gt):.3f} ms per frame (label sets)")
    print(f"AP {100 * (s['AP'] or 0):.2f}, AP50 {100 * (s['AP50'] or 0):.2f}, AP75 {100 * (s['AP75'] or 0):.2f}")


if __name__ == "__main__":
    main()
