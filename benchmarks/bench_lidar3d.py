"""3D pre-labels from LiDAR + 2D detections on KITTI: BEV/3D AP, no-edit share, and what each step buys.

    python -m benchmarks.bench_lidar3d [--cache /tmp/benchcache]

30 KITTI object frames (000000-000029, ``velodyne_reduced``), 2D boxes from tiled NanoDet (the zoo's best single
2D setting, detections from score 0.05, 2 threads; cached as ``bench_fusion`` caches it), lifted by
``prelabel.lidar.lift`` and scored with ``prelabel.quality.eval3d`` (KITTI AP|R40, moderate difficulty). Each
ablation row switches one step off from the full pipeline; the last row lifts 2D boxes fused from tiled NanoDet and
tiled CenterNet. Lifting time is CPU time per sweep, 2D detectors excluded.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_fusion import KITTI, MIN_SCORE, THREADS

MODEL = "nanodet-m-coco"


# 2D settings the benchmark lifts: name -> Predictor keyword arguments (all from score 0.05, 2 threads)
SETTINGS: dict[str, dict[str, Any]] = {
    "nanodet": {"model": MODEL, "tiled": True},
    "centernet": {"model": "centernet-mobilenetv3-coco", "tiled": True},
    "yolo11n": {"model": "yolo11n-coco", "tiled": True},
    "yolo11n-seg-masks": {"model": "yolo11n-seg-coco", "masks": "native"},
    "best": {"model": "best", "preset": "best"},
}


def detections(cache: Path | None, setting: str = "nanodet") -> dict[str, Any]:
    """Frame id -> 2D detection record for one of :data:`SETTINGS` on the 30 frames (cached when ``cache``)."""
    from prelabel.inference.predictor import Predictor
    from prelabel.labelfile import read_records, write_records
    from prelabel.models.zoo import get_entry
    from prelabel.sources.images import image_frames

    kw = dict(SETTINGS[setting])
    model = kw.pop("model")
    if "preset" in kw:
        tag = f"preset-{kw['preset']}"
    else:
        entry = get_entry(model)
        tag = f"{entry.id}@{entry.version}_{'tiled' if kw.get('tiled') else 'full'}"
        tag += "_masks" if kw.get("masks") else ""
    cached = None if cache is None else cache / f"{tag}_30.jsonl"
    if cached is not None and cached.exists():
        recs = read_records(cached)
    else:
        frames = image_frames(str(KITTI / "image_2"))[:30]
        recs = Predictor(model, min_score=MIN_SCORE, threads=THREADS, **kw)(frames)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_records(cached, recs)
    return {r.frame.id: r for r in recs}


def run(scenes: list[Any], dets: dict[str, Any], options: Any) -> tuple[list[Any], float]:
    from prelabel.core.labels import FrameRecord
    from prelabel.lidar.lift import lift_frame, to_labels
    from prelabel.sources.scenes.points import load

    out, seconds = [], 0.0
    for rec in scenes:
        pts = load(rec.frame)
        t0 = time.process_time()  # CPU time of this process: the machine is shared, wall time is not ours
        lifted = lift_frame(pts, rec.frame.cameras, {"image_2": dets[rec.frame.id].labels}, options)
        seconds += time.process_time() - t0
        out.append(FrameRecord(frame=rec.frame, labels=to_labels(lifted, rec.frame.id)))
    return out, 1000.0 * seconds / max(len(scenes), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=str, default=None, help="Keep/reuse the 2D detections in this folder.")
    args = ap.parse_args()

    from prelabel.formats import kitti
    from prelabel.lidar.lift import LiftOptions
    from prelabel.quality.eval3d import evaluate3d
    from prelabel.sources.scenes import read_scenes

    ids = {f"{i:06d}" for i in range(30)}
    scenes = [r for r in read_scenes(str(KITTI)) if r.frame.id in ids and r.status == "ok"]
    gt = [r for r in kitti.read(str(KITTI)) if r.frame.id in ids]
    dets = detections(Path(args.cache) if args.cache else None)
    full = LiftOptions()
    variants = {
        "simple frustum + L-shape (no pose search, no joint assignment, no depth prior, 2D score)": (
            dataclasses.replace(full, refine=False, joint=False, depth_prior=False, vertical="points")
        ),
        "full pipeline": full,
        "- 2D-consistent pose search (yaw, centre)": dataclasses.replace(full, refine=False),
        "- box top from the 2D box's top edge (highest point / typical height)": dataclasses.replace(
            full, vertical="points"
        ),
        "- score x projected-box IoU^3 (2D score x point count only)": dataclasses.replace(full, iou_floor=1.0),
        "- joint point assignment": dataclasses.replace(full, joint=False),
        "- depth prior for the cluster choice": dataclasses.replace(full, depth_prior=False),
        "- size priors / extension away from the sensor": dataclasses.replace(full, priors=False),
        "- frustum shrink (whole 2D box)": dataclasses.replace(full, shrink=0.0),
    }
    print("| setting | Car 3D AP@0.7 | Car BEV AP@0.5 | Ped BEV AP@0.25 | cars at 3D IoU>=0.7 | lift ms/sweep |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, opt in variants.items():
        recs, ms = run(scenes, dets, opt)
        res = evaluate3d(gt, recs)
        rows = {(r["class"], r["iou"]): r for r in res["kitti"]}
        cells = [
            rows[("Car", 0.7)]["ap_3d"],
            rows[("Car", 0.5)]["bev_ap"],
            rows[("Pedestrian", 0.25)]["bev_ap"],
            res["no_edit"]["Car"],
        ]
        print(f"| {name} | " + " | ".join(f"{c:.1f}" for c in cells) + f" | {ms:.0f} |", flush=True)
        if name == "full pipeline":
            full_res = res
    from prelabel.refine.fusion import fuse_records

    # better 2D boxes: tiled NanoDet and tiled CenterNet fused by WBF (IoU 0.5, skip 0.2, bench_fusion's choice)
    second = detections(Path(args.cache) if args.cache else None, "centernet")
    ids_sorted = sorted(ids)
    fused = fuse_records(
        [[dets[i] for i in ids_sorted], [second[i] for i in ids_sorted]], iou_threshold=0.5, skip_score=0.2
    )
    recs, ms = run(scenes, {r.frame.id: r for r in fused}, full)
    res = evaluate3d(gt, recs)
    rows = {(r["class"], r["iou"]): r for r in res["kitti"]}
    cells = [
        rows[("Car", 0.7)]["ap_3d"],
        rows[("Car", 0.5)]["bev_ap"],
        rows[("Pedestrian", 0.25)]["bev_ap"],
        res["no_edit"]["Car"],
    ]
    print(
        "| full pipeline, 2D boxes NanoDet + CenterNet (tiled, WBF) | "
        + " | ".join(f"{c:.1f}" for c in cells)
        + f" | {ms:.0f} |"
    )
    print("\nfull pipeline, all figures:")
    for r in full_res["kitti"]:
        print(f"  {r['class']} IoU {r['iou']}: BEV AP {r['bev_ap']}, 3D AP {r['ap_3d']} ({r['ground_truth']} GT)")
    print(f"  nuScenes-style centre-distance AP: {full_res['nuscenes']}")
    print(f"  box errors (matched within 2 m): {full_res['errors']}")


if __name__ == "__main__":
    main()
