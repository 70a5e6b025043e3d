"""The 3D task page under load: a 120,000-point sweep with 50 boxes in headless Chromium (software WebGL).

    .venv/bin/python -m benchmarks.bench_portal3d [--points 120000] [--boxes 50] [--moves 120] [--json out.json]

Data (all real, ../shared/data/av2): the two consecutive Argoverse 2 LiDAR sweeps of log 7fab2350 (99,229 and
99,466 points), the second carried into the first's ego frame through the logged ego poses (two-sweep
accumulation, as 3D labelling tools do), evenly thinned to ``--points``; the ``--boxes`` cuboids of the first
sweep's timestamp with the most interior points, as 3D pre-labels. The portal runs for real (uvicorn on 127.0.0.1);
Debian's Chromium (headless, ``--use-angle=swiftshader``: WebGL on the CPU) signs in and opens the task.

Measured: time from navigation to a usable view (points uploaded, boxes drawn, the page reports ready); then, with
a box selected, ``--moves`` key presses dispatched in the page (move/rotate), one per animation frame: the
frame interval (requestAnimationFrame to requestAnimationFrame, what a user sees) and the JS ``render()`` time
(four viewports: bird's-eye, top, side, back), median / 95th percentile / max. The two sweeps also form a
two-sample sequence (the second sweep alone, in its own ego frame, with its own cuboids): ``--steps`` in-place
steps between the samples (``.`` and ``,``: the other sample's points, cameras and boxes shown), each timed from
the key press to the first animation frame after the new sample is drawn (its points are cached after the first).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tests.review.chromium import CHROMIUM, WEBGL_FLAGS, sign_in

DATA = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
LOG = DATA / "av2" / "sensor" / "val" / "7fab2350-7eaf-3b7e-a39d-6937a4c1bede"


def make_sweep(tmp: Path, n_points: int, n_boxes: int, which: int = 0) -> tuple[Path, list[Any]]:
    """An ``.npy`` sweep of ``n_points`` (ego frame of the first sweep) and its ``n_boxes`` best-seen cuboids;
    ``which=1``: the second sweep alone, in its own ego frame, with the cuboids of its timestamp."""
    import math

    import pyarrow.feather as feather

    from prelabel.core.labels import Box3D, Label
    from prelabel.review.pointcloud import thin
    from prelabel.sources.scenes.av2 import read_ego_poses

    sweeps = sorted((LOG / "sensors" / "lidar").glob("*.feather"))
    if which:
        sweeps = sweeps[which : which + 1]
    t0 = int(sweeps[0].stem)
    poses = read_ego_poses(LOG)
    city_from_ego0 = poses.nearest(t0)[0].matrix()
    clouds = []
    for s in sweeps:
        t = feather.read_table(s).to_pandas()
        pts = t[["x", "y", "z", "intensity"]].to_numpy(np.float64)
        m = np.linalg.inv(city_from_ego0) @ poses.nearest(int(s.stem))[0].matrix()
        pts[:, :3] = pts[:, :3] @ m[:3, :3].T + m[:3, 3]
        clouds.append(pts.astype(np.float32))
    cloud = thin(np.concatenate(clouds), n_points)
    path = tmp / f"sweep{which}.npy"
    np.save(path, cloud)
    ann = feather.read_table(LOG / "annotations.feather").to_pandas()
    ann = ann[ann.timestamp_ns == t0].sort_values("num_interior_pts", ascending=False).head(n_boxes)
    labels = []
    for i, r in enumerate(ann.itertuples()):
        yaw = math.atan2(2 * (r.qw * r.qz + r.qx * r.qy), 1 - 2 * (r.qy**2 + r.qz**2))
        box = Box3D(x=r.tx_m, y=r.ty_m, z=r.tz_m, length=r.length_m, width=r.width_m, height=r.height_m, yaw=yaw)
        labels.append(
            Label(
                id=f"av2-{i:03d}",
                category=str(r.category).lower(),
                source="import:av2",
                score=0.9,
                track_id=str(r.track_uuid)[:8],
                box3d=box.model_copy(update={"frame": "ego"}),
            )
        )
    return path, labels


def make_job(tmp: Path, n_points: int, n_boxes: int) -> tuple[Path, int, int]:
    from prelabel.core.labels import Frame, FrameRecord
    from prelabel.labelfile import write_records
    from prelabel.review.db import Database
    from prelabel.review.review_jobs import create_job
    from prelabel.review.tasks import assign
    from prelabel.review.workforce import create_user

    recs = []
    for which in (0, 1):
        sweep, labels = make_sweep(tmp, n_points, n_boxes, which)
        frame = Frame(
            id=f"av2-7fab2350-{which}",
            uri=str(sweep),
            kind="pointcloud",
            point_format="npy",
            sequence="av2-7fab2350",
            index=which,
        )
        recs.append(FrameRecord(frame=frame, labels=labels))
    src = tmp / "labels.jsonl"
    write_records(src, recs)
    state = tmp / "state"
    db = Database(state)
    create_user(db, "worker", "worker-pass-1", "worker")
    job, _ = create_job(db, "bench3d", "adjust", recs, source=str(src), roots=[str(tmp)])
    assign(db, job.id, ["worker"])
    return state, int(np.load(tmp / "sweep0.npy").shape[0]), len(recs[0].labels)


MOVES_JS = """async (n) => {
  const keys = ["ArrowUp", "q", "ArrowLeft", "e", "ArrowDown", "ArrowRight"];
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  const S = window.__review3d;
  S.stats.last = [];
  await frame();
  const gaps = [];
  let t = performance.now();
  for (let i = 0; i < n; i++) {
    document.dispatchEvent(new KeyboardEvent("keydown", { key: keys[i % keys.length], bubbles: true }));
    await frame();
    const now = performance.now(); gaps.push(now - t); t = now;
  }
  await frame();
  return { gaps, render: S.stats.last.slice(-n) };
}"""


STEPS_JS = """async (n) => {
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  const out = [];
  for (let i = 0; i < n; i++) {
    const want = String(1 - Number(document.body.dataset.sample));
    const t = performance.now();
    document.dispatchEvent(new KeyboardEvent("keydown", { key: want === "1" ? "." : ",", bubbles: true }));
    while (document.body.dataset.sample !== want) await frame();
    await frame();
    out.push(performance.now() - t);
  }
  return out;
}"""


def _summary(xs: list[float]) -> dict[str, float]:
    s = sorted(xs)
    return {
        "median": round(statistics.median(s), 1),
        "p95": round(s[min(len(s) - 1, int(0.95 * len(s)))], 1),
        "max": round(s[-1], 1),
    }


def run(n_points: int, n_boxes: int, moves: int, steps: int = 10) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from benchmarks.bench_review import serve

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        state, points, boxes = make_job(tmp, n_points, n_boxes)
        url, server = serve(state)
        try:
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=CHROMIUM, args=WEBGL_FLAGS, env={**os.environ, "HOME": d})
                page = b.new_page(viewport={"width": 1500, "height": 900})
                sign_in(page, url, "worker", "worker-pass-1")
                href = page.get_attribute("#start", "href")
                t0 = time.perf_counter()
                page.goto(f"{url}{href}" if href and href.startswith("/") else str(href))
                try:
                    page.wait_for_selector("body[data-ready='1']", timeout=120_000)
                except Exception as e:
                    raise RuntimeError(f"the 3D page did not get ready: {page.inner_text('#status')}") from e
                wall = time.perf_counter() - t0
                ready_ms = page.evaluate("() => window.__review3d.readyMs")
                renderer = page.evaluate(
                    "() => { const g = document.createElement('canvas').getContext('webgl2');"
                    " const e = g && g.getExtension('WEBGL_debug_renderer_info');"
                    " return e ? g.getParameter(e.UNMASKED_RENDERER_WEBGL) : String(!!g); }"
                )
                page.click("#boxes li[data-index='0']")
                res = page.evaluate(MOVES_JS, moves)
                step_ms = page.evaluate(STEPS_JS, steps) if steps else []
                b.close()
        finally:
            server.should_exit = True
    return {
        "points": points,
        "boxes": boxes,
        "viewport": "1500x900",
        "webgl_renderer": renderer,
        "ready_ms_since_navigation": round(float(ready_ms), 0),
        "ready_wall_s": round(wall, 2),
        "moves": moves,
        "frame_interval_ms": _summary(res["gaps"]),
        "render_ms": _summary(res["render"]),
        "sequence_steps": steps,
        "sequence_step_ms": _summary(step_ms) if step_ms else None,
        "sequence_first_step_ms": round(step_ms[0], 1) if step_ms else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=120_000)
    ap.add_argument("--boxes", type=int, default=50)
    ap.add_argument("--moves", type=int, default=120)
    ap.add_argument("--steps", type=int, default=10, help="in-place steps between the two samples (0: none)")
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    out = run(a.points, a.boxes, a.moves, a.steps)
    print(json.dumps(out, indent=1))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
