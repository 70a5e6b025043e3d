"""Every zoo detector, full frame / tiled / flip-TTA (/ int8 where offered): latency and AP50 on KITTI.

    make bench-detectors            # or: .venv/bin/python -m benchmarks.bench_detectors [--frames 30] [--json out.json]

Frames: the 30 KITTI object frames in ../shared/data/kitti/training (1242x375), ground truth from label_2.
int8 rows (ONNX models only): the model's graph quantised by ONNX Runtime (QDQ static, per-channel int8 weights,
uint8 activations) calibrated on the 4 KITTI tracking frames and their tiles (not among the evaluated frames).
AP50 is COCO-style (101-point) from ``prelabel.quality.evaluate``, for two groups: vehicle (detector car, bus,
truck vs KITTI Car, Van, Truck) and pedestrian (person vs Pedestrian, Person_sitting). KITTI DontCare boxes are
ignore regions; ground truth and unmatched detections under 25 px high are ignored; a person detected on a KITTI
Cyclist (the rider) and a vehicle on a Tram/Misc count neither way. Detections are kept from score 0.05 for
AP50; "recall" is the share of counted ground truth found at IoU 0.5 by detections scored >= 0.25 (what
``prelabel label`` keeps by default).
Latency: mean wall time per frame over the frames (image already decoded, after one warm-up frame), inference on
2 threads; frames/s = 1 / latency. CPU ms/frame is the process CPU time per frame (both threads), which other
load on the machine disturbs less than wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

KITTI = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
KITTI = KITTI / "kitti" / "training"
THREADS = 2
MIN_SCORE = 0.05
RECALL_SCORE = 0.25  # prelabel label's default --min-score
GROUPS = ("vehicle", "pedestrian")
PRED_MAP: dict[str, str | None] = {"car": "vehicle", "bus": "vehicle", "truck": "vehicle", "person": "pedestrian"}
GT_MAP: dict[str, str | None] = {
    "Car": "vehicle",
    "Van": "vehicle",
    "Truck": "vehicle",
    "Pedestrian": "pedestrian",
    "Person_sitting": "pedestrian",
    "Cyclist": "rider",
    "Tram": "other-vehicle",
    "Misc": "other-vehicle",
}


def load_frames(n: int) -> list[tuple[str, npt.NDArray[np.uint8]]]:
    import cv2

    out = []
    for p in sorted((KITTI / "image_2").glob("*.png"))[:n]:
        bgr = cv2.imread(str(p))
        if bgr is None:
            raise SystemExit(f"cannot read {p}")
        out.append((p.stem, np.ascontiguousarray(bgr[:, :, ::-1])))
    if not out:
        raise SystemExit(f"no KITTI frames under {KITTI / 'image_2'}; set PRELABEL_SHARED_DATA")
    return out


def ap50(records: list[Any], stems: list[str]) -> dict[str, float | None]:
    from prelabel.quality.evaluate import EvalConfig, evaluate
    from prelabel.quality.inputs import read_kitti

    gt = [r for r in read_kitti(KITTI / "label_2") if r.frame.id in set(stems)]
    cfg = EvalConfig(
        classes=GROUPS,
        class_map=lambda name: PRED_MAP.get(name),
        gt_class_map=lambda name: GT_MAP.get(name, "other"),
        ignore_categories=("DontCare",),
        neighbours={"vehicle": ("other-vehicle",), "pedestrian": ("rider",)},
        min_height=25.0,
    )
    result = evaluate(records, gt, cfg)
    out: dict[str, float | None] = {g: result.ap(g, iou=0.5) for g in GROUPS}
    for g in GROUPS:  # recall at IoU 0.5 of the labels a default run keeps (score >= 0.25)
        c = result.curves[g]
        t = int(np.flatnonzero(np.isclose(c.iou_thresholds, 0.5))[0])
        rec, scores = c.raw_recall[t] if c.raw_recall else np.zeros(0), c.raw_scores
        kept = np.flatnonzero(scores >= RECALL_SCORE) if len(scores) == len(rec) else np.zeros(0, np.int64)
        out[f"recall_{g}"] = float(rec[kept[-1]]) if len(kept) else (0.0 if c.n_gt else None)
    return out


def run_setting(detector: Any, frames: list[tuple[str, npt.NDArray[np.uint8]]]) -> dict[str, Any]:
    from prelabel.core.labels import Frame, FrameRecord

    detector.detect(frames[0][1])  # warm-up
    records, seconds, cpu = [], 0.0, 0.0
    for stem, image in frames:
        t0, c0 = time.perf_counter(), time.process_time()
        dets = detector.detect(image)
        seconds += time.perf_counter() - t0
        cpu += time.process_time() - c0
        frame = Frame(id=stem, uri=str(KITTI / "image_2" / f"{stem}.png"), width=image.shape[1], height=image.shape[0])
        records.append(FrameRecord(frame=frame, labels=dets.to_labels(stem, detector.source, detector.classes)))
    latency = seconds / len(frames)
    return {
        "latency_ms": 1000 * latency,
        "fps": 1 / latency,
        "cpu_ms": 1000 * cpu / len(frames),
        **ap50(records, [s for s, _ in frames]),
    }


def settings(base: Any, extra: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    from prelabel.refine.tiling import TiledDetector
    from prelabel.refine.tta import FlipTTADetector

    out: dict[str, Callable[[], Any]] = {
        "full frame": lambda: base,
        "tiled": lambda: TiledDetector(base),
        "flip TTA": lambda: FlipTTADetector(base),
        "tiled + TTA": lambda: TiledDetector(FlipTTADetector(base)),
    }
    for name, det in extra.items():
        out[f"{name} full frame"] = lambda det=det: det
        out[f"{name} tiled"] = lambda det=det: TiledDetector(det)
    return out


def calibration_images() -> list[npt.NDArray[np.uint8]]:
    """int8 calibration: the 4 KITTI tracking frames (same camera, not among the evaluated frames)."""
    import cv2

    root = KITTI.parents[1] / "kitti_tracking" / "tracking" / "training"
    images = [cv2.imread(str(p)) for p in sorted(root.glob("image_0[23]/*/*.png"))]
    return [np.ascontiguousarray(im[:, :, ::-1]) for im in images if im is not None]


def variants(entry: Any) -> dict[str, Any]:
    """Extra variants a model offers: ``int8`` (its ONNX graph quantised, QDQ static) for ONNX models."""
    from prelabel.models.quantize import load_int8, supports_int8

    if not supports_int8(entry):
        return {}
    return {"int8": load_int8(entry, calibration_images(), threads=THREADS, min_score=MIN_SCORE)}


def bench_sam(frames: list[tuple[str, npt.NDArray[np.uint8]]], int8: bool = True) -> list[dict[str, Any]]:
    """MobileSAM: encoder ms per frame, decoder ms per box (the SSD's boxes, score >= 0.3); with ``int8``, the
    encoder quantised (QDQ static, Conv/MatMul/Gemm, calibrated on the KITTI tracking frames) and its masks'
    IoU with the fp32 masks."""
    import tempfile

    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from prelabel.models.loader import load_detector
    from prelabel.models.quantize import QUANTIZED_OPS
    from prelabel.models.sam.export import onnx_paths
    from prelabel.models.sam.masker import SamMasker, preprocess

    sam = SamMasker(threads=THREADS)
    ssd = load_detector("ssd-mobilenet-v2-coco", threads=THREADS, min_score=0.3)
    boxes = {stem: ssd.detect(image).xyxy for stem, image in frames}
    sam.embed(frames[0][1])  # warm-up
    enc = dec = enc_cpu = dec_cpu = 0.0
    n_boxes = 0
    ref: dict[str, npt.NDArray[np.bool_]] = {}
    for stem, image in frames:
        t0, c0 = time.perf_counter(), time.process_time()
        emb = sam.embed(image)
        t1, c1 = time.perf_counter(), time.process_time()
        ref[stem] = sam.decode(emb, boxes[stem], *image.shape[:2])[0]
        t2, c2 = time.perf_counter(), time.process_time()
        enc, dec, n_boxes = enc + t1 - t0, dec + t2 - t1, n_boxes + len(boxes[stem])
        enc_cpu, dec_cpu = enc_cpu + c1 - c0, dec_cpu + c2 - c1
    rows = [
        {
            "model": "mobile-sam",
            "setting": "fp32 encoder",
            "encoder_ms": 1000 * enc / len(frames),
            "encoder_cpu_ms": 1000 * enc_cpu / len(frames),
            "decoder_ms_per_box": 1000 * dec / max(n_boxes, 1),
            "decoder_cpu_ms_per_box": 1000 * dec_cpu / max(n_boxes, 1),
            "boxes": n_boxes,
        }
    ]
    if not int8:
        return rows
    calib = [{"image": preprocess(im)} for im in calibration_images()]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(calib)

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            return next(self._it, None)

    with tempfile.TemporaryDirectory() as tmp:
        q = Path(tmp) / "encoder.int8.onnx"
        quantize_static(
            str(onnx_paths()["encoder"]), str(q), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=list(QUANTIZED_OPS),
        )  # fmt: skip
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = THREADS, 1
        sam.encoder = ort.InferenceSession(str(q), opts, providers=["CPUExecutionProvider"])
        sam.embed(frames[0][1])
        enc = enc_cpu = 0.0
        inter = union = 0
        for stem, image in frames:
            t0, c0 = time.perf_counter(), time.process_time()
            emb = sam.embed(image)
            enc, enc_cpu = enc + time.perf_counter() - t0, enc_cpu + time.process_time() - c0
            masks = sam.decode(emb, boxes[stem], *image.shape[:2])[0]
            inter += int((masks & ref[stem]).sum())
            union += int((masks | ref[stem]).sum())
    rows.append(
        {
            "model": "mobile-sam",
            "setting": "int8 encoder",
            "encoder_ms": 1000 * enc / len(frames),
            "encoder_cpu_ms": 1000 * enc_cpu / len(frames),
            "mask_iou_vs_fp32": inter / max(union, 1),
            "boxes": n_boxes,
        }
    )
    return rows


def bench_native_masks(frames: list[tuple[str, npt.NDArray[np.uint8]]]) -> dict[str, Any]:
    """YOLO11n-seg's native masks against MobileSAM's on the same boxes (YOLO11n-seg's, score >= 0.25): mask IoU
    per box (mean and pooled over pixels) and time per frame (native: the whole detector pass including masks;
    SAM: encoder + decoder for that frame's boxes, on top of a detector pass)."""
    from prelabel.models.loader import load_detector
    from prelabel.models.sam.masker import SamMasker

    native = load_detector("yolo11n-seg-coco", threads=THREADS, min_score=RECALL_SCORE, native_masks=True)
    boxes_only = load_detector("yolo11n-seg-coco", threads=THREADS, min_score=RECALL_SCORE)
    sam = SamMasker(threads=THREADS)
    native.detect(frames[0][1])
    sam.masks(frames[0][1], np.array([[10.0, 10.0, 50.0, 50.0]]))
    t_native = t_boxes = t_sam = 0.0
    ious: list[float] = []
    inter = union = 0
    for _, image in frames:
        t0 = time.perf_counter()
        boxes_only.detect(image)
        t1 = time.perf_counter()
        dets = native.detect(image)
        t2 = time.perf_counter()
        t_boxes, t_native = t_boxes + t1 - t0, t_native + t2 - t1
        if not len(dets) or dets.masks is None:
            continue
        t3 = time.perf_counter()
        masks = sam.masks(image, dets.xyxy)
        t_sam += time.perf_counter() - t3
        for a, b in zip(dets.masks, masks, strict=True):
            i, u = int((a & b).sum()), int((a | b).sum())
            inter, union = inter + i, union + u
            ious.append(i / max(u, 1))
    n = len(frames)
    return {
        "model": "yolo11n-seg-coco",
        "frames": n,
        "boxes": len(ious),
        "detector_ms": 1000 * t_boxes / n,
        "native_masks_ms": 1000 * (t_native - t_boxes) / n,
        "sam_ms": 1000 * t_sam / n,
        "mask_iou_mean": float(np.mean(ious)) if ious else None,
        "mask_iou_median": float(np.median(ious)) if ious else None,
        "mask_iou_pooled": inter / max(union, 1),
        "load_average": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--models", default="", help="comma-separated zoo ids (default: every detector in the zoo)")
    ap.add_argument("--json", default="", help="also write the rows here")
    ap.add_argument("--sam", choices=("fp32", "int8", "none"), default="int8", help="MobileSAM rows (int8: both)")
    ap.add_argument("--sam-only", action="store_true", help="only the MobileSAM rows")
    ap.add_argument("--masks-only", action="store_true", help="only native (YOLO11n-seg) vs MobileSAM masks")
    args = ap.parse_args(argv)
    if args.masks_only:
        r = bench_native_masks(load_frames(args.frames))
        print(json.dumps(r))
        print(f"\nYOLO11n-seg native masks vs MobileSAM on the same {r['boxes']} boxes, {r['frames']} KITTI frames, "
              f"{THREADS} threads (load average {r['load_average']:.1f})")  # fmt: skip
        print(
            "| detector ms/frame | + native masks ms/frame | + MobileSAM ms/frame | mask IoU mean / median / pooled |"
        )
        print("|---:|---:|---:|---:|")
        iou = f"{r['mask_iou_mean']:.3f} / {r['mask_iou_median']:.3f} / {r['mask_iou_pooled']:.3f}"
        print(f"| {r['detector_ms']:.0f} | {r['native_masks_ms']:.0f} | {r['sam_ms']:.0f} | {iou} |")
        if args.json:
            Path(args.json).write_text(json.dumps(r, indent=2))
        return

    from prelabel.models.loader import load_detector
    from prelabel.models.zoo import list_entries

    frames = load_frames(args.frames)
    wanted = {m for m in args.models.split(",") if m}
    rows: list[dict[str, Any]] = []
    for entry in list_entries(task="detect"):
        if args.sam_only or entry.task != "detect" or (wanted and entry.id not in wanted):
            continue
        try:
            base = load_detector(entry.id, threads=THREADS, min_score=MIN_SCORE)
            extra = variants(entry)
        except Exception as e:  # one model that cannot load must not stop the table
            rows.append({"model": entry.id, "setting": "-", "error": f"{type(e).__name__}: {e}"})
            print(f"{entry.id}: cannot load: {e}", flush=True)
            continue
        for name, make in settings(base, extra).items():
            row = {"model": entry.id, "setting": name, **run_setting(make(), frames)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    print(f"{len(frames)} KITTI frames, {THREADS} threads")
    print(
        "| model | setting | latency ms | frames/s | CPU ms/frame | AP50 vehicle | AP50 pedestrian | recall veh / ped |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['model']} | cannot load: {r['error']} | | | | | | |")
            continue
        fmt = [f"{100 * r[g]:.1f}" if r[g] is not None else "-" for g in GROUPS]
        timing = f"{r['latency_ms']:.0f} | {r['fps']:.1f} | {r['cpu_ms']:.0f}"
        rec = " / ".join(f"{100 * r[f'recall_{g}']:.0f}" if r[f"recall_{g}"] is not None else "-" for g in GROUPS)
        print(f"| {r['model']} | {r['setting']} | {timing} | {fmt[0]} | {fmt[1]} | {rec} |")
    sam_rows = [] if args.sam == "none" else bench_sam(frames[:10], int8=args.sam == "int8")
    for r in sam_rows:
        print(json.dumps(r), flush=True)
    if sam_rows:
        print()
        print(f"MobileSAM on {min(len(frames), 10)} KITTI frames ({sam_rows[0]['boxes']} SSD boxes), {THREADS} threads")
        print("| setting | encoder ms/frame (CPU ms) | decoder ms/box (CPU ms) | mask IoU vs fp32 |")
        print("|---|---:|---:|---:|")
        for r in sam_rows:
            dec = "same"
            if "decoder_ms_per_box" in r:
                dec = f"{r['decoder_ms_per_box']:.0f} ({r['decoder_cpu_ms_per_box']:.0f})"
            iou = f"{r['mask_iou_vs_fp32']:.3f}" if "mask_iou_vs_fp32" in r else "1"
            print(f"| {r['setting']} | {r['encoder_ms']:.0f} ({r['encoder_cpu_ms']:.0f}) | {dec} | {iou} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows + sam_rows, indent=2))


if __name__ == "__main__":
    main()
