"""The worker view under load: a 1920x1200 frame with 100 pre-label boxes in Chromium.

    make bench-review       # or: .venv/bin/python -m benchmarks.bench_review [--moves 200] [--json out.json]

Frame: the nuScenes CAM_FRONT keyframe in ../shared/data/nuscenes/mmdet3d_demo (1600x900), resized to 1920x1200.
Boxes: SSD-MobileNetV2 on that frame with every detection kept (min_score 0), i.e. the detector's 100 output slots:
real boxes, heavily overlapping, as a crowded frame would be. The portal runs for real (uvicorn on 127.0.0.1);
Debian's Chromium (headless, software rendering: --disable-gpu) signs in and opens the task. Measured: time from
navigation to the first full draw; then ``--moves`` pointer moves dragging a box corner and ``--moves`` moving a box,
as fast as Playwright sends them (each move is a round trip): the canvas redraw time, mean and max (JS ``draw()``:
frame copy + 100 boxes and their labels).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.review.chromium import CHROMIUM, FLAGS, sign_in

DATA = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
NUSCENES = DATA / "nuscenes" / "mmdet3d_demo"


def make_job(tmp: Path) -> tuple[Path, int]:
    import cv2

    from prelabel.core.labels import Frame
    from prelabel.inference.predictor import Predictor
    from prelabel.labelfile import write_records
    from prelabel.models import load_detector
    from prelabel.review.db import Database
    from prelabel.review.review_jobs import create_job
    from prelabel.review.tasks import assign
    from prelabel.review.workforce import create_user

    src = next(NUSCENES.glob("*CAM_FRONT__*.jpg"))
    img = cv2.resize(cv2.imread(str(src)), (1920, 1200), interpolation=cv2.INTER_CUBIC)
    frame_path = tmp / "cam_front_1920x1200.png"
    cv2.imwrite(str(frame_path), img)
    det = load_detector("ssd-mobilenet-v2-coco", min_score=0.0, threads=2)
    rec = Predictor(det)([Frame(id="cam_front", uri=str(frame_path))])[0]
    labels = tmp / "labels.jsonl"
    write_records(labels, [rec])
    state = tmp / "state"
    db = Database(state)
    create_user(db, "admin", "admin-pass-1", "admin")
    create_user(db, "worker", "worker-pass-1", "worker")
    job, _ = create_job(db, "bench", "adjust", [rec], source=str(labels))
    assign(db, job.id, ["worker"])
    return state, len(rec.labels)


def serve(state: Path, roots: list[str] | None = None) -> tuple[str, Any]:
    """The portal over ``state`` on a free 127.0.0.1 port (frames served from ``roots``); its URL and server."""
    import socket

    import uvicorn

    from prelabel.review.web import create_portal_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_portal_app(state, roots=roots or ())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def drag(page: Any, start: dict[str, float], dx: float, dy: float, moves: int) -> float:
    page.mouse.move(start["x"], start["y"])
    page.mouse.down()
    t0 = time.perf_counter()
    for i in range(1, moves + 1):
        page.mouse.move(start["x"] + dx * i / moves, start["y"] + dy * i / moves)
    page.mouse.up()
    return time.perf_counter() - t0


def run(moves: int, screenshot: Path | None = None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-review-") as d:
        tmp = Path(d)
        state, n_boxes = make_job(tmp)
        url, server = serve(state)
        home = tmp / "home"
        home.mkdir()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, env={**os.environ, "HOME": str(home)})
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                sign_in(page, url, "worker", "worker-pass-1")
                t0 = time.perf_counter()
                page.click("a.task-link")
                page.wait_for_selector("body[data-ready='1']")
                page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                ready_s = time.perf_counter() - t0
                boxes = page.evaluate("window.prelabelAnnotator.boxes")
                sizes = [(b["x2"] - b["x1"]) * (b["y2"] - b["y1"]) for b in boxes]
                big = boxes[sizes.index(max(sizes))]
                results: dict[str, Any] = {"boxes": len(boxes), "boxes_in_file": n_boxes, "ready_s": ready_s}
                for mode in ("resize", "move"):
                    idx = next(
                        i for i, b in enumerate(page.evaluate("window.prelabelAnnotator.boxes")) if b["id"] == big["id"]
                    )
                    page.click(f"#boxes li[data-index='{idx}']")
                    cur = page.evaluate("window.prelabelAnnotator.boxes")[idx]
                    if mode == "resize":
                        start = page.evaluate(f"window.prelabelAnnotator.toScreen({cur['x2']}, {cur['y2']})")
                    else:
                        cx, cy = (cur["x1"] + cur["x2"]) / 2, (cur["y1"] + cur["y2"]) / 2
                        start = page.evaluate(f"window.prelabelAnnotator.toScreen({cx}, {cy})")
                    page.evaluate("window.prelabelAnnotator.resetStats()")
                    before = page.evaluate("window.prelabelAnnotator.drawStats")
                    secs = drag(page, start, -40, -30, moves)
                    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
                    after = page.evaluate("window.prelabelAnnotator.drawStats")
                    frames = after["frames"] - before["frames"]
                    draw_ms = (after["ms"] - before["ms"]) / max(frames, 1)
                    results[mode] = {
                        "pointer_moves": moves,
                        "seconds": secs,
                        "moves_per_s": moves / secs,
                        "redraws": frames,
                        "draw_ms_mean": draw_ms,
                        "draw_ms_max": after["maxMs"],
                    }
                if screenshot:
                    page.screenshot(path=str(screenshot))
                browser.close()
        finally:
            server.should_exit = True
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moves", type=int, default=200)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--screenshot", type=Path, default=None, help="save the worker view after the drags")
    args = ap.parse_args()
    res = run(args.moves, args.screenshot)
    print(
        f"worker view: 1920x1200 frame, {res['boxes']} boxes; ready (task JSON + image + first draw) "
        f"{res['ready_s'] * 1000:.0f} ms"
    )
    print("| action | pointer moves | moves/s sent | redraws | mean draw() ms | max draw() ms |")
    print("|---|---|---|---|---|---|")
    for mode in ("resize", "move"):
        r = res[mode]
        print(
            f"| {mode} | {r['pointer_moves']} | {r['moves_per_s']:.0f} | {r['redraws']} | {r['draw_ms_mean']:.2f} | "
            f"{r['draw_ms_max']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
