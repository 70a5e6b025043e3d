"""Offline track refinement on the real Argoverse 2 cuboids, perturbed with the errors measured on KITTI lifting.

Not real pre-labels: the shared data has too few consecutive sweeps, so the ground truth is perturbed (centre,
length, yaw noise, 41 % flipped, 10 % dropped, false boxes) and the refinement must undo most of it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prelabel import formats
from prelabel.core.geometry import boxes3d as b3
from prelabel.core.geometry import transforms as tf
from prelabel.lidar.tracks import refine, track
from prelabel.sources.scenes.av2 import _pose, _table

LOG = "av2/sensor/val/7fab2350-7eaf-3b7e-a39d-6937a4c1bede"


def test_refinement_undoes_noise_flips_and_false_boxes(shared_data: Path) -> None:
    log = shared_data / LOG
    recs = list(formats.read("av2", str(log)))[:80]
    poses = _table(log / "city_SE3_egovehicle.feather")
    stamps = np.array([r["timestamp_ns"] for r in poses])
    rng = np.random.default_rng(3)
    frames, truth, world, times = [], [], [], []
    for r in recs:
        g = np.array(
            [b3.from_box3d(lb.box3d) for lb in r.labels if lb.category == "REGULAR_VEHICLE" and lb.box3d is not None]
        ).reshape(-1, 7)
        src = np.nonzero(rng.random(len(g)) > 0.1)[0]
        p = g[src].copy()
        n = len(p)
        p[:, :2] += rng.normal(0, 0.3, (n, 2))
        p[:, 3] += rng.normal(0, 0.4, n)
        p[:, 6] += rng.normal(0, 0.14, n) + np.pi * (rng.random(n) < 0.41)
        fake = np.array([[rng.uniform(-40, 40), rng.uniform(-40, 40), 0.8, 4.0, 1.8, 1.5, 0.0]])
        frames.append((np.r_[p, fake], ["car"] * (n + 1), [0.9] * n + [0.3]))
        j = int(np.argmin(np.abs(stamps - int(r.frame.timestamp_ns or 0))))
        world.append(_pose(poses[j]).matrix())
        times.append((r.frame.timestamp_ns or 0) / 1e9)
        truth.append(tf.transform_boxes(world[-1], g[src]) if n else np.zeros((0, 7)))
    tracks = track(frames, world, times)
    out = {(f, i): box for t in tracks for f, i, box in zip(t.frames, t.index, refine(t, times), strict=True)}

    def errors(get) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
        c, ln, fl = [], [], []
        for fi, g in enumerate(truth):
            for i in range(len(g)):
                p = get(fi, i)
                c.append(np.hypot(*(p[:2] - g[i, :2])))
                ln.append(abs(p[3] - g[i, 3]))
                fl.append(abs(float(b3.wrap_angle(p[6] - g[i, 6]))) > np.pi / 2)
        return float(np.mean(c)), float(np.mean(ln)), float(np.mean(fl))

    before = errors(lambda fi, i: tf.transform_boxes(world[fi], frames[fi][0][i])[0])
    after = errors(lambda fi, i: out[(fi, i)])
    assert before[2] > 0.35 and after[2] < 0.2  # flips: front from the track, not the single fit
    assert after[0] < 0.7 * before[0]  # centres
    assert after[1] < 0.5 * before[1]  # one length per track


def test_track3d_cli_on_av2_records(shared_data: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from prelabel.cli.main import app
    from prelabel.labelfile import read_records, write_records

    log = shared_data / LOG
    poses = _table(log / "city_SE3_egovehicle.feather")
    stamps = np.array([r["timestamp_ns"] for r in poses])
    recs = list(formats.read("av2", str(log)))[:40]
    rng = np.random.default_rng(5)
    truth = {}
    for r in recs:
        j = int(np.argmin(np.abs(stamps - int(r.frame.timestamp_ns or 0))))
        r.frame.ego_pose = _pose(poses[j])
        r.labels = [lb for lb in r.labels if lb.category == "REGULAR_VEHICLE"]
        for lb in r.labels:
            assert lb.box3d is not None
            truth[lb.id] = lb.box3d.yaw
            if rng.random() < 0.4:  # front and back swapped, as a single sweep fits them
                lb.box3d = lb.box3d.model_copy(update={"yaw": lb.box3d.yaw + np.pi})
    src = tmp_path / "in.jsonl"
    write_records(src, recs)
    res = CliRunner().invoke(app, ["track3d", str(src), "-o", str(tmp_path / "out.jsonl")])
    assert res.exit_code == 0, res.output
    out = read_records(tmp_path / "out.jsonl")
    labels = [lb for r in out for lb in r.labels]
    assert all(lb.track_id for lb in labels)
    flips = [abs(float(b3.wrap_angle(lb.box3d.yaw - truth[lb.id]))) > np.pi / 2 for lb in labels if lb.box3d]
    assert np.mean(flips) < 0.15  # from 40 %
