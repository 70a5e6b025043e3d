"""LiDAR-only ``unknown`` objects (``prelabel label AV2_LOG --3d --unknown-objects``) against Argoverse 2 cuboids.

    python -m benchmarks.bench_unknown_av2

The shared Argoverse 2 logs have no camera images, so every box comes from the clusters no 2D detection claimed
(:mod:`prelabel.lidar.unknown`). Three annotated sweeps (two of log 7fab2350, one of adcf7d18): a smoke figure,
not a benchmark of record. Ground truth: the cuboids within 50 m of the ego vehicle with at least 5 LiDAR points.
Figures: bird's-eye-view centre-distance recall at 1 and 2 m (every ground-truth box matched to its nearest
unknown box, one to one, greedy by distance), the same for the boxes guessed ``vehicle``, the share of unknown
boxes within 2 m of some cuboid (any class), and the CPU time of the clustering per sweep.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.bench_fusion import DATA

LOGS = (
    DATA / "av2" / "sensor" / "val" / "7fab2350-7eaf-3b7e-a39d-6937a4c1bede",
    DATA / "av2" / "sensor_dataset_logs" / "adcf7d18-0510-35b0-a2fa-b4cea13a6d76",
)
VEHICLES = {
    "REGULAR_VEHICLE", "LARGE_VEHICLE", "BUS", "BOX_TRUCK", "TRUCK", "TRUCK_CAB", "VEHICULAR_TRAILER", "SCHOOL_BUS",
    "ARTICULATED_BUS", "MESSAGE_BOARD_TRAILER", "RAILED_VEHICLE",
}  # fmt: skip
PEDESTRIANS = {"PEDESTRIAN"}


def greedy_matches(gt: np.ndarray, pred: np.ndarray, dist: float) -> int:
    """Ground-truth boxes matched one to one to a prediction within ``dist`` m (BEV centres, nearest pairs first)."""
    if not len(gt) or not len(pred):
        return 0
    d = np.linalg.norm(gt[:, None, :2] - pred[None, :, :2], axis=2)
    n = 0
    for i, j in zip(*np.unravel_index(np.argsort(d, axis=None), d.shape), strict=True):
        if not np.isfinite(d[i, j]):
            continue  # its row or column is taken
        if d[i, j] > dist:
            break
        n += 1
        d[i, :] = np.inf
        d[:, j] = np.inf
    return n


def main() -> None:
    from prelabel.core.geometry import boxes3d as b3
    from prelabel.formats import av2
    from prelabel.lidar.ground import fit_ground
    from prelabel.lidar.run import sensor_origin
    from prelabel.lidar.unknown import unknown_boxes
    from prelabel.sources.scenes import read_scenes
    from prelabel.sources.scenes.points import load

    tot = {"veh": 0, "ped": 0, "veh1": 0, "veh2": 0, "ped1": 0, "guess2": 0, "boxes": 0, "near": 0, "sweeps": 0}
    cpu = []
    for log in LOGS:
        gt = {r.frame.id: r for r in av2.read(str(log))}
        for rec in read_scenes(str(log)):
            g = gt.get(rec.frame.id)
            if g is None:
                continue
            pts = load(rec.frame)
            t = time.process_time()
            found = unknown_boxes(pts, fit_ground(pts[:, :3]), sensor=sensor_origin(rec.frame))
            cpu.append(time.process_time() - t)
            pred = np.array([f[0] for f in found]).reshape(-1, 7)
            guessed = pred[[f[3] == "vehicle" for f in found]].reshape(-1, 7)

            def boxes(classes: set[str] | None, g: object = g) -> np.ndarray:
                rows = [
                    b3.from_box3d(lb.box3d)
                    for lb in g.labels  # type: ignore[attr-defined]
                    if lb.box3d is not None
                    and (classes is None or lb.category in classes)
                    and int(lb.attributes.get("num_interior_pts", 0)) >= 5
                    and np.hypot(lb.box3d.x, lb.box3d.y) <= 50.0
                ]
                return np.array(rows).reshape(-1, 7)

            veh, ped, every = boxes(VEHICLES), boxes(PEDESTRIANS), boxes(None)
            tot["sweeps"] += 1
            tot["veh"] += len(veh)
            tot["ped"] += len(ped)
            tot["veh1"] += greedy_matches(veh, pred, 1.0)
            tot["veh2"] += greedy_matches(veh, pred, 2.0)
            tot["guess2"] += greedy_matches(veh, guessed, 2.0)
            tot["ped1"] += greedy_matches(ped, pred, 1.0)
            tot["boxes"] += len(pred)
            if len(pred) and len(every):
                d = np.linalg.norm(pred[:, None, :2] - every[None, :, :2], axis=2).min(axis=1)
                tot["near"] += int((d <= 2.0).sum())
    pct = lambda a, b: f"{100.0 * a / max(b, 1):.1f} %"  # noqa: E731
    print(f"Argoverse 2, {tot['sweeps']} annotated sweeps, cuboids <= 50 m with >= 5 points")
    v = tot["veh"]
    print(f"vehicles: {v}; recall at 1 m {pct(tot['veh1'], v)}, at 2 m {pct(tot['veh2'], v)}")
    print(f"vehicles found by a box guessed 'vehicle' (2 m): {pct(tot['guess2'], tot['veh'])}")
    print(f"pedestrians: {tot['ped']}; recall at 1 m {pct(tot['ped1'], tot['ped'])}")
    per = tot["boxes"] / max(tot["sweeps"], 1)
    near = pct(tot["near"], tot["boxes"])
    print(f"unknown boxes: {tot['boxes']} ({per:.0f} per sweep); within 2 m of a cuboid: {near}")
    print(f"clustering CPU time per sweep (ground fit included): {1000 * float(np.mean(cpu)):.0f} ms")


if __name__ == "__main__":
    main()
