"""Tracking pre-labels on the scalabel_eval BDD100K sequence (202 frames, 5 Hz), scored by Scalabel's MOT rules.

    python -m benchmarks.bench_tracking [--json out.json]

Input: the detector outputs ``scalabel_eval/eval/det/bbox_predictions.json`` (no track ids); ground truth
``eval/box_track/track_sample_anns.json``. Reference: the tracks Scalabel ships for the same detections
(``eval/box_track/track_predictions.json``): MOTA 64.20, IDF1 71.01. Rows:

- reference tracker: the shipped tracks;
- ``track`` (default preset): ByteTrack association per class; scored on the boxes of tracks seen in at least
  two frames (``track`` itself keeps every box, weak ones with ids of their own);
- ``track --preset bdd``: tuned thresholds, pedestrian/rider and motorcycle/bicycle tracked together (same);
- ``track --refine`` (default preset) and ``track --preset bdd --refine``: plus the offline refinement (weak and
  short tracks dropped, stitching, class vote, smoothing, one-frame gaps filled, rescoring).

Also: detection AP (COCO-style, Scalabel rules) of the boxes before and after refinement, and the boxes a
reviewer must touch = FP (delete) + FN (draw) + ID switches (re-link), from the CLEAR MOT counts.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

DATA = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
ROOT = DATA / "scalabel_eval" / "eval"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    from prelabel.quality.evaluate import EvalConfig, evaluate
    from prelabel.quality.inputs import load_records
    from prelabel.quality.mot import bdd_config, evaluate_tracking
    from prelabel.refine.offline import refine_records
    from prelabel.refine.presets import PRESETS
    from prelabel.refine.tracking import track_records

    gts = load_records(ROOT / "box_track" / "track_sample_anns.json")
    dets = load_records(ROOT / "det" / "bbox_predictions.json")
    ref = load_records(ROOT / "box_track" / "track_predictions.json")
    rows: dict[str, Any] = {}

    def score(name: str, recs: list[Any], seconds: float | None = None) -> None:
        s = evaluate_tracking(recs, gts, bdd_config()).summary()
        ap_ = evaluate(recs, gts, EvalConfig(inclusive_pixels=True)).summary()["AP"]
        rows[name] = {
            **{k: s[k] for k in ("MOTA", "IDF1", "MOTP", "HOTA", "FP", "FN", "IDSw")},
            "AP": ap_,
            "touches": int(s["FP"] or 0) + int(s["FN"] or 0) + int(s["IDSw"] or 0),
            "boxes": sum(len(r.labels) for r in recs),
            "seconds": seconds,
        }

    score("reference tracker (shipped tracks)", ref)
    score("detections (no tracking)", dets)
    for preset, refine in (("default", False), ("default", True), ("bdd", False), ("bdd", True)):
        tcfg, rcfg = PRESETS[preset]()
        t0 = time.perf_counter()
        out = track_records(dets, tcfg)
        if refine:
            out, _ = refine_records(out, rcfg)
        else:
            out = [
                r.model_copy(update={"labels": [lab for lab in r.labels if lab.attributes["track_hits"] >= 2]})
                for r in out
            ]
        name = f"track --preset {preset}" + (" --refine" if refine else "")
        score(name, out, time.perf_counter() - t0)

    print(
        f"{'':44s} {'MOTA':>6s} {'IDF1':>6s} {'MOTP':>6s} {'HOTA':>6s} {'FP':>5s} {'FN':>5s} {'IDSw':>5s} "
        f"{'AP':>6s} {'touch':>6s} {'boxes':>6s} {'s':>5s}"
    )
    for name, r in rows.items():
        pct = [f"{100 * float(r[k]):6.2f}" if r[k] is not None else "     -" for k in ("MOTA", "IDF1", "MOTP", "HOTA")]
        secs = f"{r['seconds']:5.1f}" if r["seconds"] is not None else "    -"
        print(
            f"{name:44s} {' '.join(pct)} {r['FP']:5d} {r['FN']:5d} {r['IDSw']:5d} {100 * (r['AP'] or 0):6.2f} "
            f"{r['touches']:6d} {r['boxes']:6d} {secs}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
