"""Routing and composing per frame: CPU time on real detections, records path vs label-set path, before vs now.

    make bench-route-compose   # or: python -m benchmarks.bench_route_compose [--before DIR] [--rounds 3] [--repeat 5]

Input: ``../shared/data/scalabel_eval``: a real detector's boxes on 202 BDD100K frames (``det/bbox_predictions.json``,
5,372 boxes, ~27 a frame, 8 classes), read once. Thresholds: :func:`calibrate` at 90 % precision (min support 10)
on the same frames' ground truth (``box_track/track_sample_anns.json``). Compose rules: rider + bicycle -> cyclist
and rider + motorcycle -> motorcyclist (parts discounted), the BDD names of the shipped ``cyclists`` rules.

Timed, each the best of ``--repeat`` runs in process CPU time, divided by the frames:
- route, records: ``route(records, thresholds)`` (decisions and the routed records, as ``prelabel route`` does);
- route, label sets: ``route_sets(sets, thresholds)`` on label sets made once when read (decisions and counts);
- compose, records: ``compose_records(records, rules)``;
- compose, label sets: ``compose_set`` on each label set made once when read.

``--before DIR``: a source tree of an older prelabel (e.g. ``git archive c606d55 src | tar -x -C DIR``); each round
runs the benchmark there and here in child processes, alternately, and the best of ``--rounds`` is reported. A path
the older tree lacks is left out. The last columns count routed and composed labels: they must agree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
ROOT = DATA / "scalabel_eval" / "eval"
CLASSES = ["pedestrian", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"]
RULES = [
    {"parts": ["rider", ["bicycle"]], "into": "cyclist", "keep_parts": "discount"},
    {"parts": ["rider", ["motorcycle"]], "into": "motorcyclist", "keep_parts": "discount"},
]


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def measure(repeat: int) -> dict[str, Any]:
    """This interpreter's prelabel: ms per frame of each path, and what each produced (to compare)."""
    from prelabel.quality.calibration import calibrate, samples_from_ground_truth
    from prelabel.quality.evaluate import EvalConfig
    from prelabel.quality.inputs import load_records
    from prelabel.quality.routing import route

    try:
        from prelabel.refine import compose as comp
    except ImportError:  # prelabel 0.1
        from prelabel.labels import compose as comp  # type: ignore[no-redef]

    preds = load_records(ROOT / "det" / "bbox_predictions.json")
    gts = load_records(ROOT / "box_track" / "track_sample_anns.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        samples = samples_from_ground_truth(preds, gts, EvalConfig(classes=CLASSES, inclusive_pixels=True))
    thresholds = calibrate(samples, target_precision=0.9, min_support=10)
    rules = comp.load_rules(RULES)
    n = len(preds)
    out: dict[str, Any] = {"frames": n, "labels": sum(len(r.labels) for r in preds)}
    t, res = _best(lambda: route(preds, thresholds), repeat)
    out["route records ms"] = 1000 * t / n
    out["routed auto/review"] = f"{res.labels_auto}/{res.labels_to_people}"
    t, composed = _best(lambda: comp.compose_records(preds, rules), repeat)
    out["compose records ms"] = 1000 * t / n
    out["composed labels"] = sum(len(r.labels) for r in composed)
    try:
        from prelabel.core.labelset import LabelSet
        from prelabel.quality.routing import route_sets
        from prelabel.refine.compose import compose_set
    except ImportError:
        return out
    sets = [LabelSet.from_labels(r.labels) for r in preds]
    t, counts = _best(lambda: route_sets(sets, thresholds), repeat)
    out["route sets ms"] = 1000 * t / n
    auto, review = sum(c.auto for c in counts.values()), sum(c.review for c in counts.values())
    out["routed auto/review (sets)"] = f"{auto}/{review}"
    ids = [r.frame.id for r in preds]
    t, made = _best(lambda: [compose_set(s, rules, f) for s, f in zip(sets, ids, strict=True)], repeat)
    out["compose sets ms"] = 1000 * t / n
    out["composed labels (sets)"] = sum(len(s) for s in made)
    return out


KEYS = ("route records ms", "route sets ms", "compose records ms", "compose sets ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=None, help="Source tree of an older prelabel (with src/prelabel).")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.repeat)))
        return
    here = Path(__file__).resolve().parents[1]
    trees = {"now": here} | ({"before": Path(args.before).resolve()} if args.before else {})
    best: dict[str, dict[str, Any]] = {}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{here}"}
            cmd = [sys.executable, "-m", "benchmarks.bench_route_compose", "--child", "--repeat", str(args.repeat)]
            got = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, cwd=here).stdout)
            prev = best.setdefault(name, got)
            for k in KEYS:
                if k in got:
                    prev[k] = min(prev[k], got[k])
    la = os.getloadavg()
    print(f"load average {la[0]:.2f}, {la[1]:.2f}, {la[2]:.2f}; best of {args.rounds} rounds x {args.repeat} runs")
    print("| tree | " + " | ".join(f"{k} (CPU/frame)" for k in KEYS) + " | routed auto/review | composed labels |")
    print("|---|" + "---:|" * (len(KEYS) + 2))
    for name, r in best.items():
        cells = " | ".join(f"{r[k]:.3f}" if k in r else "-" for k in KEYS)
        print(f"| {name} | {cells} | {r['routed auto/review']} | {r['composed labels']} |")
    for name, r in best.items():
        extra = {k: v for k, v in r.items() if "(sets)" in k}
        if extra:
            print(f"{name}, label-set path: {extra}")


if __name__ == "__main__":
    main()
