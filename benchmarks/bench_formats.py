"""Format conversion throughput: read and write every writable format on real BDD100K labels.

    make bench-formats       # or: .venv/bin/python -m benchmarks.bench_formats [--repeat 5]

Input: ``scalabel_eval/eval/box_track/track_sample_anns.json`` (202 BDD100K frames, 3,241 boxes, 1280x720),
repeated ``--repeat`` times with new frame ids. For each format: write all records (timed), then read them back
(timed), in one process on one core. Prints a markdown table of frames/s and labels/s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from prelabel import formats
from prelabel.core.labels import FrameRecord

DATA = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SRC = DATA / "scalabel_eval" / "eval" / "box_track" / "track_sample_anns.json"
# format -> (output name, read options)
TARGETS: dict[str, tuple[str, dict[str, object]]] = {
    "labels": ("labels.jsonl", {}),
    "groundtruth": ("input.manifest", {}),
    "coco": ("coco.json", {}),
    "scalabel": ("scalabel.json", {}),
    "labelstudio": ("tasks.json", {}),
    "cvat": ("annotations.xml", {}),
    "voc": ("voc", {}),
    "yolo": ("yolo", {"image_size": (1280, 720)}),
    "kitti": ("kitti", {}),
}


def records(repeat: int) -> list[FrameRecord]:
    base = list(formats.get("scalabel").read(str(SRC), image_size=(1280, 720)))
    out = []
    for k in range(repeat):
        for r in base:
            fid = f"{k:02d}-{r.frame.id}"
            out.append(
                r.model_copy(update={"frame": r.frame.model_copy(update={"id": fid, "uri": f"{fid}.jpg", "meta": {}})})
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="copies of the 202-frame sequence")
    args = ap.parse_args()
    t0 = time.perf_counter()
    recs = records(args.repeat)
    n_frames, n_labels = len(recs), sum(len(r.labels) for r in recs)
    print(
        f"input: {SRC.name} x{args.repeat} = {n_frames} frames, {n_labels} boxes (loaded in "
        f"{time.perf_counter() - t0:.2f} s)\n"
    )
    print("| format | write frames/s | write boxes/s | read frames/s | read boxes/s | size |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (out_name, read_opts) in TARGETS.items():
            dst = str(Path(tmp) / out_name)
            t = time.perf_counter()
            formats.get(name).write(recs, dst)
            tw = time.perf_counter() - t
            t = time.perf_counter()
            back = sum(len(r.labels) for r in formats.get(name).read(dst, **read_opts))
            tr = time.perf_counter() - t
            if back != n_labels:
                raise SystemExit(f"{name}: read back {back} boxes, wrote {n_labels}")
            p = Path(dst)
            size = p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
            print(
                f"| {name} | {n_frames / tw:,.0f} | {n_labels / tw:,.0f} | {n_frames / tr:,.0f} | "
                f"{n_labels / tr:,.0f} | {size / 1e6:.1f} MB |"
            )


if __name__ == "__main__":
    main()
