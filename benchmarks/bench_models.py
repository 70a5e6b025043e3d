"""The model zoo itself: TF.js -> ONNX conversion time, load time (hash check + runtime set-up), latency and recall.

    make bench-models          # or: .venv/bin/python -m benchmarks.bench_models [--json out.json]

Conversion: ``prelabel.models.convert.tfjs_onnx.convert_tfjs`` on the fetched NanoDet and CenterNet TF.js files
(fp16 weights), into a temporary folder. Load: ``load_detector(id)`` with the files already in the cache (so the
time is the sha256 check of every file plus building the OpenCV / ONNX Runtime session). Latency: mean wall time per
frame of ``detect`` over the 30 KITTI object frames (decoded beforehand, one warm-up frame), 2 threads; CPU ms is
the process CPU time per frame (both threads), which other load on the machine disturbs less.
Recall: the share of KITTI Car/Van/Truck/Pedestrian/Cyclist boxes >= 25 px tall (74 on these frames) that a
detection scored >= 0.25 overlaps with IoU >= 0.5 (any class); "class ok" is the share of those matches whose
COCO class agrees (car/truck/bus for vehicles, person for pedestrians and cyclists). Extra rows rerun NanoDet and
CenterNet with the decoding choices the zoo does not use (``VARIANTS``), to show why it does not.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
KITTI = DATA / "kitti" / "training"
WANT = {"Car": "car", "Van": "car", "Truck": "truck", "Pedestrian": "person", "Cyclist": "person"}
VEHICLES = {"car", "truck", "bus"}
# the decoding choices docs/models.md explains, run against the zoo defaults (letterbox, centre offset 0.5)
VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("nanodet-m-coco", {"center_offset": 0.0}),
    ("nanodet-m-coco", {"resize": "stretch"}),
    ("centernet-mobilenetv3-coco", {"resize": "stretch"}),
]


def ground_truth(frame: str) -> list[tuple[str, list[float]]]:
    out = []
    for line in (KITTI / "label_2" / f"{frame}.txt").read_text().splitlines():
        f = line.split()
        if f[0] in WANT and float(f[7]) - float(f[5]) >= 25:
            out.append((WANT[f[0]], [float(v) for v in f[4:8]]))
    return out


def bench_conversion() -> list[dict[str, Any]]:
    from prelabel.models.convert.tfjs_onnx import convert_tfjs
    from prelabel.models.fetch import fetch_entry
    from prelabel.models.zoo import list_entries

    rows = []
    for entry in list_entries(task="detect"):
        if entry.convert != "tfjs-graph":
            continue
        files = fetch_entry(entry)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            out = convert_tfjs(
                files["graph"], Path(tmp) / "m.onnx", {Path(entry.files["weights"].member or "").name: files["weights"]}
            )
            seconds = time.perf_counter() - t
            rows.append(
                {"model": entry.id, "convert_s": round(seconds, 2), "onnx_mb": round(out.stat().st_size / 1e6, 1)}
            )
    return rows


def bench_detectors(threads: int) -> list[dict[str, Any]]:
    from prelabel.core.geometry.boxes2d import overlap
    from prelabel.models import list_entries, load_detector
    from prelabel.sources.images import image_frames, load_image

    frames = image_frames(str(KITTI / "image_2"))
    images = [load_image(f) for f in frames]
    truth = [ground_truth(Path(f.uri).stem) for f in frames]
    rows = []
    runs: list[tuple[str, dict[str, Any]]] = [(e.id, {}) for e in list_entries() if e.task in ("detect", "segment")]
    runs += [(mid, opts) for mid, opts in VARIANTS]
    for model_id, opts in runs:
        entry = next(e for e in list_entries() if e.id == model_id)
        load_detector(entry.id, threads=threads)  # fetch / convert outside the timing
        t = time.perf_counter()
        det = load_detector(entry.id, threads=threads, **opts)
        load_s = time.perf_counter() - t
        det.detect(images[0])
        t, c = time.perf_counter(), time.process_time()
        results = [det.detect(im) for im in images]
        latency = (time.perf_counter() - t) / len(images)
        cpu = (time.process_time() - c) / len(images)
        hits = total = agree = 0
        for dets, gt in zip(results, truth, strict=True):
            total += len(gt)
            if not gt or not len(dets):
                continue
            ious = overlap(np.array([b for _, b in gt]), dets.xyxy)
            for j, (want, _) in enumerate(gt):
                k = int(ious[j].argmax())
                if ious[j, k] >= 0.5:
                    hits += 1
                    got = det.classes[int(dets.class_ids[k])]
                    agree += got == want or (want in VEHICLES and got in VEHICLES)
        rows.append(
            {
                "model": entry.id + "".join(f" {k}={v}" for k, v in opts.items()),
                "runtime": entry.runtime,
                "load_s": round(load_s, 2),
                "ms_per_frame": round(latency * 1000, 1),
                "cpu_ms_per_frame": round(cpu * 1000, 1),
                "recall": round(hits / total, 3),
                "class_ok": round(agree / max(hits, 1), 3),
                "objects": total,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    conversion = bench_conversion()
    print("| model | TF.js -> ONNX (s) | ONNX size (MB) |")
    print("|---|---:|---:|")
    for r in conversion:
        print(f"| {r['model']} | {r['convert_s']} | {r['onnx_mb']} |")
    detectors = bench_detectors(args.threads)
    print()
    print(f"| model | runtime | load (s) | ms/frame ({args.threads} threads) | CPU ms/frame | recall@0.5 | class ok |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in detectors:
        print(
            f"| {r['model']} | {r['runtime']} | {r['load_s']} | {r['ms_per_frame']} | {r['cpu_ms_per_frame']} "
            f"| {r['recall']} | {r['class_ok']} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"conversion": conversion, "detectors": detectors}, indent=2))


if __name__ == "__main__":
    main()
