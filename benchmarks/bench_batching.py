"""Batched inference on CPU: frames/s with and without batches, on KITTI frames, 2 threads.

    .venv/bin/python -m benchmarks.bench_batching [--frames 10] [--repeats 3]

- SSD-MobileNetV2 (OpenCV DNN; its graph takes a batch): whole frames one at a time, in batches of 4 and 8, and
  tiled (the full frame and its five tiles one at a time, or as one batch of six);
- NanoDet-m tiled, through a batch-dynamic copy of the zoo's graph (``tests.models.dynbatch``: the same weights,
  the reshapes' batch made dynamic), one session run per tile or one per frame;
- the best preset: its two models (YOLO11n-seg and NanoDet-m as the zoo ships them) are exported with a fixed batch
  of 1, so its tiles cannot be batched; the benchmark prints their input shapes.

Each figure is the best of ``--repeats`` interleaved rounds (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.bench_bulk import KITTI, THREADS


def frames(n: int) -> list[Any]:
    import cv2

    pngs = sorted((KITTI / "image_2").glob("*.png"))[:n]
    if not pngs:
        raise SystemExit(f"no KITTI frames under {KITTI / 'image_2'}; set PRELABEL_SHARED_DATA")
    return [cv2.imread(str(p), cv2.IMREAD_COLOR_RGB) for p in pngs]


def fixed_batch_shapes() -> dict[str, list[Any]]:
    import onnxruntime as ort

    from prelabel.models.loader import prepare_entry
    from prelabel.models.zoo import get_entry

    out = {}
    for name in ("yolo11n-seg-coco", "nanodet-m-coco"):
        files = prepare_entry(get_entry(name), None)
        path = files.get("onnx") or files["model"]
        so = ort.SessionOptions()
        so.log_severity_level = 3
        out[name] = list(ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).get_inputs()[0].shape)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from tests.models.dynbatch import nanodet_dynamic

    from prelabel.models import load_detector
    from prelabel.refine.tiling import TiledDetector

    images = frames(args.frames)
    ssd = load_detector("ssd-mobilenet-v2-coco", threads=THREADS, min_score=0.25)
    with tempfile.TemporaryDirectory() as tmp:
        nano: Any = nanodet_dynamic(Path(tmp), threads=THREADS, min_score=0.25)

    def batched(det: Any, size: int, fn: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            det.max_batch = size
            return fn()

        return run

    tiled_ssd, tiled_nano = TiledDetector(ssd), TiledDetector(nano)
    modes: dict[str, Callable[[], Any]] = {
        "SSD, whole frames, one at a time": batched(ssd, 1, lambda: ssd.detect_batch(images)),
        "SSD, whole frames, batches of 4": batched(ssd, 4, lambda: ssd.detect_batch(images)),
        "SSD, whole frames, batches of 8": batched(ssd, 8, lambda: ssd.detect_batch(images)),
        "SSD tiled, one run per tile": batched(ssd, 1, lambda: [tiled_ssd.detect(im) for im in images]),
        "SSD tiled, a frame's tiles as one batch": batched(ssd, 8, lambda: [tiled_ssd.detect(im) for im in images]),
        "NanoDet tiled, one run per tile": batched(nano, 1, lambda: [tiled_nano.detect(im) for im in images]),
        "NanoDet tiled, a frame's tiles as one batch": batched(
            nano, 8, lambda: [tiled_nano.detect(im) for im in images]
        ),
    }
    for fn in modes.values():
        fn()  # warm-up (OpenCV and ONNX Runtime allocate per batch shape)
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, fn in modes.items():
            t = time.perf_counter()
            fn()
            best[name] = max(best.get(name, 0.0), len(images) / (time.perf_counter() - t))
    load = os.getloadavg()[0]
    print(f"\n{len(images)} KITTI frames, {THREADS} threads, best of {args.repeats}; 1-minute load average {load:.1f}")
    print("| mode | frames/s |\n|---|---:|")
    for name, fps in best.items():
        print(f"| {name} | {fps:.2f} |")
    shapes = ", ".join(f"{k} {v}" for k, v in fixed_batch_shapes().items())
    print(f"\nbest preset: not batchable, its models' inputs are fixed at batch 1: {shapes}")


if __name__ == "__main__":
    main()
