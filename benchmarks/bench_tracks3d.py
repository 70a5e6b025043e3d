"""Offline 3D track refinement on Argoverse 2 ground-truth cuboids perturbed like our single-sweep boxes.

    python -m benchmarks.bench_tracks3d

The shared data has too few consecutive LiDAR sweeps to track real pre-labels, so this takes the 156 annotated
timestamps of the Argoverse 2 log (vehicles: ``REGULAR_VEHICLE``), and perturbs every box with the errors measured
on KITTI by ``bench_lidar3d`` (centre sd 0.3 m, length sd 0.4 m, width/height sd 0.1 m, yaw sd 0.14 rad, 41 %
flipped front-to-back), drops 10 % and adds 5 % false boxes. Then ``prelabel.lidar.tracks`` tracks them in the city
frame with the ego poses and refines each track; errors are measured on the kept true boxes, before and after.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_fusion import DATA

LOG = DATA / "av2" / "sensor" / "val" / "7fab2350-7eaf-3b7e-a39d-6937a4c1bede"


def experiment(log: Path = LOG, seed: int = 0) -> dict[str, Any]:
    from prelabel import formats
    from prelabel.core.geometry import boxes3d as b3
    from prelabel.core.geometry import transforms as tf
    from prelabel.lidar.tracks import refine, track
    from prelabel.sources.scenes.av2 import _pose, _table

    recs = list(formats.read("av2", str(log)))
    poses = _table(log / "city_SE3_egovehicle.feather")
    stamps = np.array([r["timestamp_ns"] for r in poses])
    rng = np.random.default_rng(seed)
    frames, gts, world, times = [], [], [], []
    for r in recs:
        g = np.array(
            [b3.from_box3d(lb.box3d) for lb in r.labels if lb.category == "REGULAR_VEHICLE" and lb.box3d is not None]
        ).reshape(-1, 7)
        src = np.nonzero(rng.random(len(g)) > 0.1)[0]
        p = g[src].copy()
        n = len(p)
        p[:, :2] += rng.normal(0, 0.3, (n, 2))
        p[:, 3] += rng.normal(0, 0.4, n)
        p[:, 4:6] += rng.normal(0, 0.1, (n, 2))
        p[:, 6] += rng.normal(0, 0.14, n) + np.pi * (rng.random(n) < 0.41)
        nf = max(1, int(0.05 * n))
        fake = np.c_[
            rng.uniform(-40, 40, (nf, 2)), np.full(nf, 0.8), np.tile([4.0, 1.8, 1.5], (nf, 1)), rng.uniform(-3, 3, nf)
        ]
        frames.append((np.r_[p, fake], ["car"] * (n + nf), [0.9] * n + [0.3] * nf))
        gts.append((g, src))
        j = int(np.argmin(np.abs(stamps - int(r.frame.timestamp_ns or 0))))
        world.append(_pose(poses[j]).matrix())
        times.append((r.frame.timestamp_ns or 0) / 1e9)
    t0 = time.process_time()
    tracks = track(frames, world, times)
    refined = {}
    for t in tracks:
        for f, i, box in zip(t.frames, t.index, refine(t, times), strict=True):
            refined[(f, i)] = box
    seconds = time.process_time() - t0

    def errors(get: Any) -> dict[str, float]:
        c, length, yaw, flip = [], [], [], []
        for fi, (g, src) in enumerate(gts):
            gw = tf.transform_boxes(world[fi], g)
            for i, k in enumerate(src):
                p = get(fi, i)
                c.append(np.hypot(*(p[:2] - gw[k, :2])))
                length.append(abs(p[3] - gw[k, 3]))
                d = abs(float(b3.wrap_angle(p[6] - gw[k, 6])))
                yaw.append(min(d, np.pi - d))
                flip.append(d > np.pi / 2)
        return {
            "centre_m": float(np.mean(c)),
            "length_m": float(np.mean(length)),
            "yaw_rad": float(np.mean(yaw)),
            "flipped": float(np.mean(flip)),
        }

    return {
        "boxes": sum(len(s) for _, s in gts),
        "tracks": len(tracks),
        "cpu_s": seconds,
        "before": errors(lambda fi, i: tf.transform_boxes(world[fi], frames[fi][0][i])[0]),
        "after": errors(lambda fi, i: refined[(fi, i)]),
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
