"""Calibration check on KITTI: is a correct calibration left alone, is a perturbed one flagged and recovered?

    python -m benchmarks.bench_calibcheck [--frames 000000-000019] [--trials 8] [--seed 0]

Frames: KITTI object training frames in ../shared/data/kitti/training (full scans for 000000-000004, the
camera-cropped ``velodyne_reduced`` scans for the rest), camera ``image_2``. Every trial rotates the given
camera-from-LiDAR extrinsics by an angle drawn uniformly in [1, 2] degrees about a random axis and moves them 10 cm
in a random direction (the same error for every frame: one rig), then runs the check on all frames jointly.
Reports per trial: the perturbation, whether it was flagged, the rotation and translation left after refinement,
and the time of the search (the edge fields are computed once per frame, timed separately).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from prelabel.lidar import calibcheck as cc

KITTI = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", default="000000-000019")
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--metres", type=float, default=0.10)
    args = ap.parse_args()
    root = KITTI / "kitti" / "training"
    t0 = time.perf_counter()
    prepared = [cc.prepare(cc.load_kitti_frame(root, i)) for i in cc.kitti_ids(args.frames)]
    prep_s = time.perf_counter() - t0
    print(f"{len(prepared)} frames prepared in {prep_s:.1f} s ({1000 * prep_s / len(prepared):.0f} ms/frame)")
    rows = []
    t0 = time.perf_counter()
    res = cc.search(prepared)
    rows.append(
        {
            "trial": "given",
            "perturb_deg": 0.0,
            "perturb_m": 0.0,
            "flagged": res.flagged,
            "residual_deg": round(res.rotation_deg, 3),
            "residual_m": round(res.translation_m, 4),
            "search_s": round(time.perf_counter() - t0, 1),
        }
    )
    rng = np.random.default_rng(args.seed)
    for trial in range(args.trials):
        deg = float(rng.uniform(1.0, 2.0))
        pert = cc.perturbation(deg, args.metres, seed=args.seed * 1000 + trial)
        t0 = time.perf_counter()
        res = cc.search([cc.perturbed(p, pert) for p in prepared])
        err = res.delta @ pert
        rows.append(
            {
                "trial": trial,
                "perturb_deg": round(deg, 3),
                "perturb_m": args.metres,
                "flagged": res.flagged,
                "residual_deg": round(cc.rotation_angle_deg(err), 3),
                "residual_m": round(float(np.linalg.norm(err[:3, 3])), 4),
                "search_s": round(time.perf_counter() - t0, 1),
            }
        )
        print(json.dumps(rows[-1]))
    print(json.dumps(rows[0]))
    pert_rows = [r for r in rows if r["trial"] != "given"]
    worst = max(float(str(r["residual_deg"])) for r in pert_rows)
    flagged = sum(bool(r["flagged"]) for r in pert_rows)
    print(
        f"correct calibration flagged: {rows[0]['flagged']}; perturbed flagged: {flagged}/{len(pert_rows)}; "
        f"residual rotation max {worst:.3f} deg, mean "
        f"{np.mean([float(str(r['residual_deg'])) for r in pert_rows]):.3f} deg; within 0.3 deg: "
        f"{sum(float(str(r['residual_deg'])) < 0.3 for r in pert_rows)}/{len(pert_rows)}"
    )


if __name__ == "__main__":
    main()
