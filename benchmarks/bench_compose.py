"""Composing rider + bike into one Cyclist box on KITTI: Cyclist and Pedestrian AP50 before and after.

    make bench-compose      # or: .venv/bin/python -m benchmarks.bench_compose [--cache /tmp/benchcache]

The runs are those of ``benchmarks.bench_fusion`` (30 KITTI object frames, detections from score 0.05, 2 threads),
made the same way and shared through ``--cache``: tiled NanoDet and tiled CenterNet (the two strongest zoo models),
and their WBF fusion with the setting the fusion benchmark chose on held-out frames (IoU 0.5, skip 0.2). Each is
scored with the KITTI preset of ``prelabel eval`` as it is, and after ``prelabel.refine.compose`` with the shipped
``cyclists`` rules (parts discounted) and with the same rules removing the parts instead. For the fusion, composing
runs on the fused labels (``prelabel fuse --compose``). The KITTI sample holds 5 Cyclist and 12 Pedestrian
objects: one found cyclist moves Cyclist AP50 by about 20 points.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from benchmarks.bench_fusion import KITTI, MIN_SCORE, THREADS, score

MODELS = ("nanodet-m-coco", "centernet-mobilenetv3-coco")
RUNS = tuple(f"{m} (tiled)" for m in MODELS)


def run_tiled(cache: Path | None) -> dict[str, list[Any]]:
    """The two runs, tiled, made as ``bench_fusion`` makes them and cached under the same names."""
    from prelabel.inference.predictor import Predictor
    from prelabel.labelfile import read_records, write_records
    from prelabel.models.zoo import get_entry
    from prelabel.sources.images import image_frames

    frames = image_frames(str(KITTI / "image_2"))[:30]
    runs: dict[str, list[Any]] = {}
    for model, name in zip(MODELS, RUNS, strict=True):
        entry = get_entry(model)
        cached = None if cache is None else cache / f"{entry.id}@{entry.version}_tiled_30.jsonl"
        if cached is not None and cached.exists():
            runs[name] = read_records(cached)
            print(f"reused {name} from {cached}")
            continue
        runs[name] = Predictor(model, tiled=True, min_score=MIN_SCORE, threads=THREADS)(frames)
        print(f"ran {name}")
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_records(cached, runs[name])
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=str, default=None, help="Keep/reuse each run's labels in this folder.")
    args = ap.parse_args()

    from prelabel.quality.inputs import load_records
    from prelabel.refine.compose import RULE_SETS, compose_records, load_rules
    from prelabel.refine.fusion import fuse_records

    gt = [g for g in load_records(KITTI) if g.frame.id in {f"{i:06d}" for i in range(30)}]
    runs = run_tiled(Path(args.cache) if args.cache else None)
    sets: dict[str, list[Any]] = {n: runs[n] for n in RUNS}
    sets["fused wbf (NanoDet + CenterNet tiled, IoU 0.5, skip 0.2)"] = fuse_records(
        [runs[n] for n in RUNS], names=list(RUNS), iou_threshold=0.5, skip_score=0.2
    )
    discount = load_rules("cyclists")
    remove = load_rules([{**r, "keep_parts": "remove"} for r in RULE_SETS["cyclists"]])
    print("| run | Cyclist AP50 | Pedestrian AP50 | Car AP50 | mean AP50 |")
    print("|---|---:|---:|---:|---:|")
    for name, recs in sets.items():
        for how, out in (
            ("as is", recs),
            ("composed", compose_records(recs, discount)),
            ("composed, parts removed", compose_records(recs, remove)),
        ):
            s = score(out, gt)
            cells = " | ".join(f"{100 * (s[c] or 0):.1f}" for c in ("Cyclist", "Pedestrian", "Car", "mean"))
            print(f"| {name}, {how} | {cells} |")


if __name__ == "__main__":
    main()
