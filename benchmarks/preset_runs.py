"""Cached detector runs for the preset search: every zoo detector x setting on a data set, once.

Each run's labels go to ``<cache>/<dataset>/<model>__<setting>.jsonl`` (detections from score 0.05) with its
timing in a ``.json`` beside it; a later call reuses them, so the search never re-runs a model.

    nice -n 10 python -m benchmarks.preset_runs --dataset kitti [--models yolo11n-coco,...] [--settings full,tiled]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

DATA = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CACHE = Path(os.environ.get("PRELABEL_PRESET_CACHE", "/tmp/prelabel-presets"))
THREADS = 2
MIN_SCORE = 0.05
MODELS = ("yolo11n-coco", "yolo11n-seg-coco", "nanodet-m-coco", "centernet-mobilenetv3-coco", "ssd-mobilenet-v2-coco")
SETTINGS: dict[str, dict[str, Any]] = {
    "full": {},
    "tiled": {"tiled": True},
    "tta": {"tta": True},
    "tiled+tta": {"tiled": True, "tta": True},
    "tiled256": {"tiled": True, "tile": 256},  # smaller tiles: distant pedestrians scaled up more (13 passes on KITTI)
    "tiled640": {"tiled": True, "tile": 640},  # 640 px crops at native resolution for 640-input models (4 passes)
}


def setting_of(member: dict[str, Any]) -> str:
    """The cached run's setting name of a preset member (``{"model": ..., "tiled": true, "tile": 640}``)."""
    flags = {k: v for k, v in member.items() if k != "model"}
    return next((name for name, f in SETTINGS.items() if f == flags), "full")


def dataset_frames(name: str) -> list[Any]:
    """The frames of a shared data set: ``kitti`` (30 object frames), ``bdd`` (13 frames), ``nuscenes`` (cameras)."""
    from prelabel.sources.images import image_frames

    if name == "kitti":
        return image_frames(str(DATA / "kitti" / "training" / "image_2"))
    if name == "bdd":  # the 12 tracking frames and the detection frame: the BDD images with box labels
        bdd = DATA / "bdd100k"
        return image_frames(str(bdd / "track" / "images") + "/**/*.jpg") + image_frames(str(bdd / "detect" / "images"))
    if name == "nuscenes":  # the keyframe whose info pickle holds 2D boxes for its six cameras
        return image_frames(str(DATA / "nuscenes" / "mmdet3d_demo") + "/*.jpg")
    raise SystemExit(f"unknown dataset {name!r}; expected kitti, bdd or nuscenes")


def run_path(dataset: str, model: str, setting: str, cache: Path = CACHE) -> Path:
    return cache / dataset / f"{model}__{setting}.jsonl"


def load_run(dataset: str, model: str, setting: str, cache: Path = CACHE) -> tuple[list[Any], float] | None:
    """(records, mean seconds per frame) of a cached run, or None."""
    from prelabel.labelfile import read_records

    p = run_path(dataset, model, setting, cache)
    if not p.exists() or not p.with_suffix(".json").exists():
        return None
    return read_records(p), float(json.loads(p.with_suffix(".json").read_text())["seconds_per_frame"])


def ensure_run(dataset: str, model: str, setting: str, cache: Path = CACHE) -> tuple[list[Any], float]:
    from prelabel.inference.predictor import Predictor
    from prelabel.labelfile import write_records
    from prelabel.sources.images import load_image

    got = load_run(dataset, model, setting, cache)
    if got is not None:
        return got
    frames = dataset_frames(dataset)
    from prelabel.inference.presets import member_detector

    detector = member_detector({"model": model, **SETTINGS[setting]}, None, min_score=MIN_SCORE, threads=THREADS)
    predictor = Predictor(detector)
    images = [load_image(f) for f in frames]
    predictor.predict_image(frames[0], images[0])  # warm-up
    records, seconds, cpu = [], 0.0, 0.0
    for frame, image in zip(frames, images, strict=True):
        t0, c0 = time.perf_counter(), time.process_time()
        records.append(predictor.predict_image(frame, image))
        seconds += time.perf_counter() - t0
        cpu += time.process_time() - c0
    p = run_path(dataset, model, setting, cache)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_records(p, records)
    info = {"seconds_per_frame": seconds / len(frames), "cpu_per_frame": cpu / len(frames), "frames": len(frames)}
    info["load_average"] = os.getloadavg()[0]
    p.with_suffix(".json").write_text(json.dumps(info))
    print(f"ran {dataset} {model} {setting}: {1000 * info['seconds_per_frame']:.0f} ms/frame", flush=True)
    return records, info["seconds_per_frame"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="kitti")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--settings", default=",".join(SETTINGS))
    args = ap.parse_args(argv)
    for model in args.models.split(","):
        for setting in args.settings.split(","):
            ensure_run(args.dataset, model, setting)


if __name__ == "__main__":
    main()
