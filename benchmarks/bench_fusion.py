"""Fusion on KITTI: AP50 per class for every zoo detector, full frame and tiled, and for their fusion.

    make bench-fusion       # or: .venv/bin/python -m benchmarks.bench_fusion [--frames 30] [--json out.json]

Frames: the 30 KITTI object frames in ../shared/data/kitti/training (1242x375), ground truth from label_2, scored
with ``prelabel.quality.evaluate.kitti_config()``: COCO-style AP50 (101-point) for Car, Pedestrian, Cyclist;
detector classes through the shipped ``coco80-to-kitti`` map; DontCare boxes are ignore regions; ground truth and
unmatched detections under 25 px high are ignored; Van (for Car) and Person_sitting (for Pedestrian) count neither
way. Every detector in the zoo (``list_entries()``, task ``detect``) runs on 2 threads with detections kept from
score 0.05, full frame and tiled (``Predictor(..., tiled=True)``) when tiling exists. A detector that fails to load
is reported and skipped.

Fusion (``prelabel.refine.fusion``, equal weights) is measured two ways:

- fixed settings (WBF/NMS/vote, IoU 0.55): the tiled runs of all detectors, and all runs (full + tiled);
- configured on held-out frames (2-fold): for each half of the frames, the runs are ranked by AP50 on the *other*
  half, and the fusion setting (top-2 / top-3 / all runs, IoU 0.5 or 0.55, skip boxes under 0.0 or 0.2) that scores
  best on the other half is applied to this half; both halves' fused labels are then scored together. No frame's
  fused labels were tuned on that frame's ground truth.

``--cache DIR`` keeps each run's labels (``DIR/<run>.jsonl``) and reuses them on the next call.

``--speed`` measures only the time fusion takes per frame, without running detectors: four label sets made from a
real detector's output on the 202 BDD100K frames of ``../shared/data/scalabel_eval`` (``det/bbox_predictions.json``,
~27 boxes per frame), each a copy with its boxes moved by N(0, 2 px) per coordinate, scores scaled by U(0.8, 1) and
one box in ten dropped (seeded), so ~100 boxes per frame go into WBF. Timed: ``fuse_records`` (records in and out)
and ``fuse_sets`` (columnar label sets, read once), best of ``--repeat``, in process CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

DATA = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
KITTI = DATA / "kitti" / "training"
THREADS = 2
MIN_SCORE = 0.05
CLASSES = ("Car", "Pedestrian", "Cyclist")


def run_detectors(n_frames: int, cache: Path | None = None) -> dict[str, list[Any]]:
    """name -> records, for every zoo detector, full and tiled."""
    from prelabel.inference.predictor import Predictor
    from prelabel.labelfile import read_records, write_records
    from prelabel.models.zoo import list_entries
    from prelabel.sources.images import image_frames

    frames = image_frames(str(KITTI / "image_2"))[:n_frames]
    try:
        import prelabel.refine.tiling  # noqa: F401

        settings = [("full", False), ("tiled", True)]
    except ImportError:
        settings = [("full", False)]
    runs: dict[str, list[Any]] = {}
    for entry in list_entries(task="detect"):
        if entry.task != "detect":
            continue
        for setting, tiled in settings:
            name = f"{entry.id} ({setting})"
            cached = None if cache is None else cache / f"{entry.id}@{entry.version}_{setting}_{n_frames}.jsonl"
            if cached is not None and cached.exists():
                runs[name] = read_records(cached)
                print(f"reused {name} from {cached}")
                continue
            try:
                predictor = Predictor(entry.id, tiled=tiled, min_score=MIN_SCORE, threads=THREADS)
            except Exception as e:  # report a detector that cannot load here and go on with the rest
                print(f"skipped {name}: {type(e).__name__}: {e}")
                break
            t0 = time.perf_counter()
            records = predictor(frames)
            dt = time.perf_counter() - t0
            failed = sum(r.status != "ok" for r in records)
            print(f"ran {name}: {len(records)} frames in {dt:.1f} s ({failed} failed)")
            runs[name] = records
            if cached is not None:
                cache.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
                write_records(cached, records)
    return runs


def score(records: list[Any], gt: list[Any], ids: set[str] | None = None) -> dict[str, float | None]:
    import warnings

    from prelabel.quality.evaluate import evaluate, kitti_config

    if ids is not None:
        records = [r for r in records if r.frame.id in ids]
        gt = [g for g in gt if g.frame.id in ids]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = evaluate(records, gt, kitti_config())
    out: dict[str, float | None] = {c: res.ap(c, 0.5) for c in CLASSES}
    out["mean"] = res.ap(iou=0.5)
    out["AP"] = res.ap()
    out.update({f"n_{c}": float(res.curves[c].n_gt) for c in CLASSES})
    return out


def cross_fitted(runs: dict[str, list[Any]], gt: list[Any]) -> tuple[str, dict[str, float | None]]:
    """Fusion configured on the other half of the frames (see the module docstring)."""
    fuse_records = _fusion_module().fuse_records

    ids = sorted(g.frame.id for g in gt)
    halves = [set(ids[: len(ids) // 2]), set(ids[len(ids) // 2 :])]
    fused: list[Any] = []
    chosen: list[str] = []
    for k in (0, 1):
        train, test = halves[1 - k], halves[k]
        ranked = sorted(runs, key=lambda n: -(score(runs[n], gt, train)["mean"] or 0.0))
        best: tuple[float, tuple[int, float, float]] | None = None
        for top in sorted({2, 3, len(ranked)}):
            if top > len(ranked):
                continue
            for iou in (0.5, 0.55):
                for skip in (0.0, 0.2):
                    sets = [[r for r in runs[n] if r.frame.id in train] for n in ranked[:top]]
                    got = score(fuse_records(sets, iou_threshold=iou, skip_score=skip), gt, train)["mean"] or 0.0
                    if best is None or got > best[0]:
                        best = (got, (top, iou, skip))
        assert best is not None
        top, iou, skip = best[1]
        sets = [[r for r in runs[n] if r.frame.id in test] for n in ranked[:top]]
        fused += fuse_records(sets, iou_threshold=iou, skip_score=skip, names=ranked[:top])
        chosen.append(f"{' + '.join(ranked[:top])}, IoU {iou}, skip {skip}")
        print(f"half {k + 1}: chose {chosen[-1]} on the other half")
    same = chosen[0] == chosen[1]
    label = "fused wbf, configured on held-out half: " + (chosen[0] if same else " | ".join(chosen))
    return label, score(fused, gt)


def _fusion_module() -> Any:
    import importlib

    try:
        return importlib.import_module("prelabel.refine.fusion")
    except ImportError:  # prelabel 0.1 (labels/, before the rename to refine/): the same command times the old code
        return importlib.import_module("prelabel.labels.fusion")


def jittered_sets(n_sets: int = 4, seed: int = 0) -> list[list[Any]]:
    """``n_sets`` label sets from the BDD100K detector output (see the module docstring)."""
    import numpy as np

    from prelabel.core.labels import Box2D
    from prelabel.quality.inputs import load_records

    base = load_records(DATA / "scalabel_eval" / "eval" / "det" / "bbox_predictions.json")
    rng = np.random.default_rng(seed)
    sets: list[list[Any]] = []
    for k in range(n_sets):
        records = []
        for r in base:
            labels = []
            for lab in r.labels:
                if lab.box is None or rng.random() < 0.1:
                    continue
                x1, y1, x2, y2 = (np.asarray(lab.box.xyxy) + rng.normal(0, 2, 4)).tolist()
                box = Box2D(x1=min(x1, x2), y1=min(y1, y2), x2=max(x1, x2), y2=max(y1, y2))
                score = float(np.clip((lab.score or 1.0) * rng.uniform(0.8, 1.0), 0, 1))
                labels.append(lab.model_copy(update={"box": box, "score": score, "source": f"model:m{k}@1"}))
            records.append(r.model_copy(update={"labels": labels}))
        sets.append(records)
    return sets


def speed(repeat: int) -> None:
    fusion = _fusion_module()
    sets = jittered_sets()
    n_frames = len(sets[0])
    n_boxes = sum(len(r.labels) for s in sets for r in s)
    print(f"{len(sets)} label sets x {n_frames} frames, {n_boxes / n_frames:.0f} boxes per frame into fusion")
    for method in ("wbf", "nms", "vote"):
        best = float("inf")
        for _ in range(repeat):
            t0 = time.process_time()
            out = fusion.fuse_records(sets, method=method, iou_threshold=0.55)
            best = min(best, time.process_time() - t0)
        n_out = sum(len(r.labels) for r in out)
        print(f"fuse_records {method}: {best * 1000 / n_frames:.3f} ms per frame ({n_out} fused labels)")
    if not hasattr(fusion, "fuse_sets"):
        return
    from prelabel.core.labelset import LabelSet

    columns = [[LabelSet.from_labels(r.labels) for r in s] for s in sets]
    for method in ("wbf", "nms", "vote"):
        best = float("inf")
        for _ in range(repeat):
            t0 = time.process_time()
            for f in range(n_frames):
                fusion.fuse_sets(str(f), [c[f] for c in columns], method=method, iou_threshold=0.55)
            best = min(best, time.process_time() - t0)
        print(f"fuse_sets {method}: {best * 1000 / n_frames:.3f} ms per frame")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--speed", action="store_true", help="Only time fusion per frame (no detectors, see above).")
    ap.add_argument("--repeat", type=int, default=3, help="With --speed: best of this many runs.")
    ap.add_argument("--json", type=str, default=None, help="Also write the table as JSON here.")
    ap.add_argument("--cache", type=str, default=None, help="Keep/reuse each run's labels in this folder.")
    args = ap.parse_args()
    if args.speed:
        speed(args.repeat)
        return

    from prelabel.quality.inputs import load_records

    fuse_records = _fusion_module().fuse_records

    gt = [g for g in load_records(KITTI) if g.frame.id in {f"{i:06d}" for i in range(args.frames)}]
    runs = run_detectors(args.frames, Path(args.cache) if args.cache else None)
    rows: list[tuple[str, dict[str, float | None]]] = [(name, score(recs, gt)) for name, recs in runs.items()]
    best_single = max(rows, key=lambda r: r[1]["mean"] or 0.0) if rows else None

    groups = {"tiled": [n for n in runs if n.endswith("(tiled)")], "all": list(runs)}
    fused_rows: list[tuple[str, dict[str, float | None]]] = []
    for group, names in groups.items():
        if len(names) < 2:
            continue
        for method in ("wbf", "nms", "vote"):
            t0 = time.perf_counter()
            fused = fuse_records([runs[n] for n in names], method=method, names=names, iou_threshold=0.55)
            dt = time.perf_counter() - t0
            label = f"fused {method}: {group} ({len(names)} runs)"
            print(f"{label}: {dt * 1000 / max(1, len(fused)):.1f} ms per frame")
            fused_rows.append((label, score(fused, gt)))
    if len(runs) >= 2:
        fused_rows.append(cross_fitted(runs, gt))

    counts = rows[0][1] if rows else {}
    header = "| run | " + " | ".join(f"{c} ({counts.get('n_' + c, 0):.0f})" for c in CLASSES)
    print("\nAP50 per class (ground-truth objects counted), their mean, and AP .50:.95 (mean over classes)\n")
    print(header + " | mean AP50 | AP |")
    print("|---|" + "---:|" * (len(CLASSES) + 2))
    for name, s in rows + fused_rows:
        mark = " (best single)" if best_single is not None and name == best_single[0] else ""
        cells = " | ".join("-" if s[c] is None else f"{100 * (s[c] or 0):.1f}" for c in (*CLASSES, "mean", "AP"))
        print(f"| {name}{mark} | {cells} |")
    if best_single and fused_rows:
        best_fused = max(fused_rows, key=lambda r: r[1]["mean"] or 0.0)
        print(
            f"\nbest single: {best_single[0]} {100 * (best_single[1]['mean'] or 0):.1f}; best fusion: "
            f"{best_fused[0]} {100 * (best_fused[1]['mean'] or 0):.1f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"single": dict(rows), "fused": dict(fused_rows)}, indent=2))


if __name__ == "__main__":
    main()
