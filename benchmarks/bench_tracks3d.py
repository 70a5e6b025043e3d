"""Offline 3D track refinement on Argoverse 2 ground-truth cuboids perturbed like our single-sweep boxes.

    python -m benchmarks.bench_tracks3d

The shared data has too few consecutive LiDAR sweeps to track real pre-labels, so this takes the 156 annotated
timestamps of the Argoverse 2 log (vehicles: ``REGULAR_VEHICLE``), and perturbs every box with the errors measured
on KITTI by ``bench_lidar3d`` (centre sd 0.3 m, length sd 0.4 m, width/height sd 0.1 m, yaw sd 0.14 rad, 41 %
flipped front-to-back), drops 10 % and adds 5 % false boxes (``tests.helpers.tracks3d``, shared with the test).
Then ``prelabel.lidar.tracks`` tracks them in the city frame with the ego poses and refines each track; errors
are measured on the kept true boxes, before and after.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.bench_fusion import DATA

LOG = DATA / "av2" / "sensor" / "val" / "7fab2350-7eaf-3b7e-a39d-6937a4c1bede"


def experiment(log: Path = LOG, seed: int = 0) -> dict[str, Any]:
    from tests.helpers.tracks3d import box_errors, perturb_av2_log, unrefined

    from prelabel.lidar.tracks import refine, track

    data = perturb_av2_log(log, seed)
    t0 = time.process_time()
    tracks = track(data.frames, data.world, data.times)
    refined = {}
    for t in tracks:
        for f, i, box in zip(t.frames, t.index, refine(t, data.times), strict=True):
            refined[(f, i)] = box
    seconds = time.process_time() - t0
    return {
        "boxes": data.boxes,
        "tracks": len(tracks),
        "cpu_s": seconds,
        "before": box_errors(data, unrefined(data)),
        "after": box_errors(data, lambda t, i: refined[(t, i)]),
    }


def main() -> None:
    res = experiment()
    print(f"{res['boxes']} true boxes over 156 timestamps, {res['tracks']} tracks, {res['cpu_s']:.1f} s CPU")
    print("| boxes | centre error (m) | length error (m) | yaw error mod pi (rad) | flipped |")
    print("|---|---:|---:|---:|---:|")
    for k in ("before", "after"):
        e = res[k]
        print(f"| {k} | {e['centre_m']:.3f} | {e['length_m']:.3f} | {e['yaw_rad']:.3f} | {100 * e['flipped']:.1f} % |")


if __name__ == "__main__":
    main()
