"""Keyframe interpolation: how many in-between boxes a person no longer draws.

    python -m benchmarks.bench_interpolation [--json out.json]

Keep every Nth frame (N = 5, 10, 20) of a labelled sequence as the human-verified keyframe, interpolate the frames
between them per track, and count the in-between ground-truth boxes reproduced: same track id, IoU >= 0.7.
Human boxes without interpolation = every box; with it = keyframe boxes + in-between boxes not reproduced (drawn
or fixed by hand). Sequences:

- KITTI tracking 0001 (447 frames at 10 Hz, 98 tracks; DontCare regions left out): linear interpolation (there are
  no detector outputs for these frames), keyframes every Nth frame, and the same number of keyframes chosen where
  tracks are born and die (``prelabel select --keyframes events``);
- scalabel_eval BDD100K (202 frames at 5 Hz): linear, and detection-guided, snapping to the detector's box
  (``eval/det/bbox_predictions.json``, score >= 0.3) where it overlaps the linear box at IoU >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

DATA = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
KITTI = DATA / "kitti_tracking" / "tracking" / "training" / "label_02" / "0001.txt"
BDD = DATA / "scalabel_eval" / "eval"


def measure(gts: list[Any], n: int, mode: str, dets: list[Any] | None, pick: str = "every:N") -> dict[str, Any]:
    import numpy as np

    from prelabel.core.boxes import iou_matrix
    from prelabel.core.sequences import place
    from prelabel.refine.interpolate import every_nth, interpolate_records
    from prelabel.refine.keyframes import choose_keyframes

    keep = every_nth(n)
    if pick != "every:N":  # the same number of keyframes, chosen by prelabel select --keyframes
        budget = sum(1 for g in gts if keep(g))
        ids = set(choose_keyframes(gts, budget, mode=pick).frames)

        def keep(rec: Any) -> bool:
            return rec.frame.id in ids

    out, filled = interpolate_records(gts, keep, detections=dets, mode=mode)
    total = between = reproduced = keyboxes = snapped = 0
    for g, o in zip(gts, out, strict=True):
        labs = [lab for lab in g.labels if lab.track_id is not None and lab.box is not None]
        total += len(labs)
        if keep(g):
            keyboxes += len(labs)
            continue
        between += len(labs)
        mine = {lab.track_id: lab for lab in o.labels}
        snapped += sum(bool(lab.attributes.get("snapped")) for lab in o.labels)
        for lab in labs:
            m = mine.get(lab.track_id)
            if (
                m is not None
                and m.box is not None
                and lab.box is not None
                and float(iou_matrix(np.array(m.box.xyxy), np.array(lab.box.xyxy))[0, 0]) >= 0.7
            ):
                reproduced += 1
    human = keyboxes + (between - reproduced)
    return {
        "N": n,
        "mode": mode,
        "pick": pick,
        "frames": len(gts),
        "keyframes": sum(1 for g in gts if keep(g)),
        "boxes": total,
        "in_between": between,
        "reproduced": reproduced,
        "reproduced_share": reproduced / between if between else None,
        "human_boxes": human,
        "saved_share": 1 - human / total if total else None,
        "filled": filled,
        "snapped": snapped,
        "last_index": max(place(g.frame)[1] or 0 for g in gts),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    from prelabel.quality.inputs import load_records

    kitti = load_records(KITTI, "kitti")
    bdd = load_records(BDD / "box_track" / "track_sample_anns.json")
    raw = load_records(BDD / "det" / "bbox_predictions.json")
    dets = [r.model_copy(update={"labels": [lab for lab in r.labels if (lab.score or 0) >= 0.3]}) for r in raw]
    rows = []
    for n in (5, 10, 20):
        rows.append({"data": "KITTI 0001", **measure(kitti, n, "linear", None)})
        rows.append({"data": "KITTI 0001", **measure(kitti, n, "linear", None, pick="events")})
    for n in (5, 10, 20):
        for mode in ("linear", "guided"):
            rows.append({"data": "BDD scalabel_eval", **measure(bdd, n, mode, dets if mode == "guided" else None)})
    print(
        f"{'data':18s} {'N':>3s} {'keyframes':9s} {'mode':7s} {'in-between':>10s} {'IoU>=0.7':>9s} {'share':>6s} "
        f"{'human boxes':>11s} {'of':>6s} {'saved':>6s} {'snapped':>7s}"
    )
    for r in rows:
        print(
            f"{r['data']:18s} {r['N']:3d} {r['pick']:9s} {r['mode']:7s} {r['in_between']:10d} {r['reproduced']:9d} "
            f"{100 * r['reproduced_share']:5.1f}% {r['human_boxes']:11d} {r['boxes']:6d} "
            f"{100 * r['saved_share']:5.1f}% {r['snapped']:7d}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
