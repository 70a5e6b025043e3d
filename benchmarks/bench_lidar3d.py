"""3D pre-labels from LiDAR + 2D detections on KITTI: BEV/3D AP, no-edit share, and what each step buys.

    python -m benchmarks.bench_lidar3d [--cache /tmp/benchcache] [--quick]

30 KITTI object frames (000000-000029, ``velodyne_reduced``), 2D boxes from tiled NanoDet (detections from score
0.05, 2 threads; cached), lifted by ``prelabel.lidar.lift`` (those scored from ``LiftOptions.min_score``, 0.25 by
default; rows lifting from 0.15, 0.2 and 0.3 show that choice) and scored with ``prelabel.quality.eval3d`` (KITTI
AP|R40, moderate difficulty). The first rows add the steps one at a time, from a simple frustum + L-shape fit to the
full pipeline; the rows after it switch one step off from the full pipeline; the last rows lift other 2D boxes (the
zoo's YOLO11n, the ``best`` preset, YOLO11n-seg instance masks, NanoDet + CenterNet fused). Lifting time is CPU time
per sweep, 2D detectors excluded.

Held out: the 2 frames of KITTI tracking sequence 0001 that have sweeps (``../shared/data/kitti_tracking``, full
360-degree scans, camera ``image_02``), scored the same way; none of the settings was chosen on them. ``--quick``
prints only the full pipeline and the held-out frames.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_fusion import DATA, KITTI, MIN_SCORE, THREADS

MODEL = "nanodet-m-coco"
TRACKING = DATA / "kitti_tracking" / "tracking" / "training"

# 2D settings the benchmark lifts: name -> Predictor keyword arguments (all from score 0.05, 2 threads)
SETTINGS: dict[str, dict[str, Any]] = {
    "nanodet": {"model": MODEL, "tiled": True},
    "centernet": {"model": "centernet-mobilenetv3-coco", "tiled": True},
    "yolo11n": {"model": "yolo11n-coco", "tiled": True},
    "yolo11n-seg-masks": {"model": "yolo11n-seg-coco", "masks": "native"},
    "best": {"model": "best", "preset": "best"},
}


def _tag(setting: str) -> str:
    from prelabel.models.zoo import get_entry

    kw = SETTINGS[setting]
    if "preset" in kw:
        return f"preset-{kw['preset']}"
    entry = get_entry(kw["model"])
    return f"{entry.id}@{entry.version}_{'tiled' if kw.get('tiled') else 'full'}" + ("_masks" if "masks" in kw else "")


def _predict(setting: str, frames: list[Any], cached: Path | None) -> list[Any]:
    from prelabel.inference.predictor import Predictor
    from prelabel.labelfile import read_records, write_records

    if cached is not None and cached.exists():
        return list(read_records(cached))
    kw = dict(SETTINGS[setting])
    recs = Predictor(kw.pop("model"), min_score=MIN_SCORE, threads=THREADS, **kw)(frames)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_records(cached, recs)
    return recs


def detections(cache: Path | None, setting: str = "nanodet") -> dict[str, Any]:
    """Frame id -> 2D detection record for one of :data:`SETTINGS` on the 30 frames (cached when ``cache``)."""
    from prelabel.sources.images import image_frames

    frames = image_frames(str(KITTI / "image_2"))[:30]
    recs = _predict(setting, frames, None if cache is None else cache / f"{_tag(setting)}_30.jsonl")
    return {r.frame.id: r for r in recs}


def run(scenes: list[Any], dets: dict[str, Any], options: Any, camera: str = "image_2") -> tuple[list[Any], float]:
    from prelabel.core.labels import FrameRecord
    from prelabel.lidar.lift import lift_frame, to_labels
    from prelabel.sources.scenes.points import load

    out, seconds = [], 0.0
    for rec in scenes:
        pts = load(rec.frame)
        t0 = time.process_time()  # CPU time of this process: the machine is shared, wall time is not ours
        lifted = lift_frame(pts, rec.frame.cameras, {camera: dets[rec.frame.id].labels}, options)
        seconds += time.process_time() - t0
        out.append(FrameRecord(frame=rec.frame, labels=to_labels(lifted, rec.frame.id)))
    return out, 1000.0 * seconds / max(len(scenes), 1)


def cells(gt: list[Any], recs: list[Any]) -> tuple[list[float], dict[str, Any]]:
    """Car 3D AP@0.7, Car BEV AP@0.5, Pedestrian BEV AP@0.25 (NaN without pedestrians), no-edit share of cars."""
    from prelabel.quality.eval3d import evaluate3d

    res = evaluate3d(gt, recs)
    rows = {(r["class"], r["iou"]): r for r in res["kitti"]}
    ped = rows.get(("Pedestrian", 0.25), {}).get("bev_ap")
    vals = [rows[("Car", 0.7)]["ap_3d"], rows[("Car", 0.5)]["bev_ap"], float("nan") if ped is None else ped]
    return [*vals, res["no_edit"]["Car"]], res


def _row(name: str, vals: list[float], ms: float) -> str:
    return f"| {name} | " + " | ".join(f"{c:.1f}" for c in vals) + f" | {ms:.0f} |"


def heldout(cache: Path | None, options: Any, setting: str = "nanodet") -> tuple[list[float], int]:
    """The held-out KITTI tracking frames: figures and the number of cars at least 25 px high."""
    from prelabel.formats import kitti
    from prelabel.lidar.run import camera_frame
    from prelabel.sources.scenes import read_scenes

    scenes = [r for r in read_scenes(str(TRACKING)) if r.status == "ok"]
    ids = {r.frame.id for r in scenes}
    gt = [r for r in kitti.read(str(TRACKING / "label_02" / "0001.txt")) if r.frame.id in ids]
    frames = [camera_frame(r.frame, c) for r in scenes for c in r.frame.cameras or [] if c.name == "image_02"]
    cached = None if cache is None else cache / f"{_tag(setting)}_tracking0001.jsonl"
    recs = _predict(setting, frames, cached)
    dets = {r.frame.id.rsplit("/", 1)[0]: r for r in recs}
    out, _ = run(scenes, dets, options, camera="image_02")
    vals, _res = cells(gt, out)
    cars = sum(1 for g in gt for lb in g.labels if lb.category == "Car" and lb.box and lb.box.height >= 25)
    return vals, cars


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=str, default=None, help="Keep/reuse the 2D detections in this folder.")
    ap.add_argument("--quick", action="store_true", help="Only the full pipeline and the held-out frames.")
    args = ap.parse_args()
    cache = Path(args.cache) if args.cache else None

    from prelabel.formats import kitti
    from prelabel.lidar.lift import LiftOptions
    from prelabel.refine.fusion import fuse_records
    from prelabel.sources.scenes import read_scenes

    ids = sorted(f"{i:06d}" for i in range(30))
    scenes = [r for r in read_scenes(str(KITTI)) if r.frame.id in ids and r.status == "ok"]
    gt = [r for r in kitti.read(str(KITTI)) if r.frame.id in ids]
    dets = detections(cache)
    full = LiftOptions()
    before = dataclasses.replace(full, yaw_seeds=("lshape",), free_space=False, vertical="points")
    steps = {
        "simple frustum + L-shape (size priors; no pose search, joint assignment, depth prior)": dataclasses.replace(
            before, refine=False, joint=False, depth_prior=False
        ),
        "previous pipeline (pose search from the L-shape yaw, top from the points)": before,
        "+ box top from the 2D box's top edge": dataclasses.replace(before, free_space=False, vertical="top"),
        "+ pose search also from the viewing ray's yaw": dataclasses.replace(full, free_space=False),
        "**+ free-space cut of the far end = full pipeline**": full,
    }
    minus = {
        "- 2D-consistent pose search (yaw, centre)": dataclasses.replace(full, refine=False),
        "- score x projected-box IoU^3 (2D score x point count only)": dataclasses.replace(full, iou_floor=1.0),
        "- joint point assignment": dataclasses.replace(full, joint=False),
        "- depth prior for the cluster choice": dataclasses.replace(full, depth_prior=False),
        "- size priors / extension away from the sensor": dataclasses.replace(full, priors=False),
        "- frustum shrink (whole 2D box)": dataclasses.replace(full, shrink=0.0),
        "full pipeline, lifting 2D boxes from 0.15 (the former default)": dataclasses.replace(full, min_score=0.15),
        "full pipeline, lifting 2D boxes from 0.2": dataclasses.replace(full, min_score=0.2),
        "full pipeline, lifting 2D boxes from 0.3": dataclasses.replace(full, min_score=0.3),
    }
    print("| setting | Car 3D AP@0.7 | Car BEV AP@0.5 | Ped BEV AP@0.25 | cars at 3D IoU>=0.7 | lift ms/sweep |")
    print("|---|---:|---:|---:|---:|---:|")
    variants = {"full pipeline": full} if args.quick else {**steps, **minus}
    full_res: dict[str, Any] = {}
    for name, opt in variants.items():
        recs, ms = run(scenes, dets, opt)
        vals, res = cells(gt, recs)
        print(_row(name, vals, ms), flush=True)
        if opt is full:
            full_res = res
    if not args.quick:
        second = detections(cache, "centernet")
        fused = fuse_records([[dets[i] for i in ids], [second[i] for i in ids]], iou_threshold=0.5, skip_score=0.2)
        others = {
            "NanoDet + CenterNet (tiled, WBF IoU 0.5, skip 0.2)": {r.frame.id: r for r in fused},
            "YOLO11n (tiled)": detections(cache, "yolo11n"),
            "`best` preset (YOLO11n-seg + NanoDet tiled, WBF)": detections(cache, "best"),
            "YOLO11n-seg full frame, instance-mask frustums (`--masks native`)": detections(cache, "yolo11n-seg-masks"),
        }
        for name, d in others.items():
            recs, ms = run(scenes, d, full)
            print(_row(f"full pipeline, 2D boxes from {name}", cells(gt, recs)[0], ms), flush=True)
    print("\nheld out (KITTI tracking 0001, frames 0-1, NanoDet tiled):")
    held = (("previous pipeline", before), ("full pipeline", full))
    for name, opt in (*held, ("full pipeline, lifting from 0.15", dataclasses.replace(full, min_score=0.15))):
        vals, cars = heldout(cache, opt)
        print(_row(f"{name} ({cars} cars >= 25 px)", vals, 0.0), flush=True)
    print("\nfull pipeline, all figures:")
    for r in full_res["kitti"]:
        print(f"  {r['class']} IoU {r['iou']}: BEV AP {r['bev_ap']}, 3D AP {r['ap_3d']} ({r['ground_truth']} GT)")
    print(f"  nuScenes-style centre-distance AP: {full_res['nuscenes']}")
    print(f"  box errors (matched within 2 m): {full_res['errors']}")


if __name__ == "__main__":
    main()
