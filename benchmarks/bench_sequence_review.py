"""A long sequence task in the portal: the 202-frame BDD100K tracking sequence of ../shared/data/scalabel_eval
(3241 boxes, 144 tracks; its ground truth as the pre-labels) as one task, in Debian's Chromium.

    .venv/bin/python -m benchmarks.bench_sequence_review [--json out.json]

The portal runs for real (uvicorn on 127.0.0.1); frame images exist for the first 6 frames only (bdd100k/track),
the others are drawn grey (their requests answer 404), so the figures are about the page and the server, not image
decoding. Measured: job creation; opening the task (navigation to the first draw); stepping through every frame
with the ``F`` key (mean time per step, each a Playwright round trip) and by calling the page's ``seek`` in a loop
(the page's own time per step: frame info, timeline, boxes drawn); interpolating the longest track
between keyframes on its first and last frame; submitting the whole sequence (the server checks every box and
stores the answer) and exporting the job (labels + Ground Truth manifests).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.review.chromium import CHROMIUM, FLAGS, sign_in

from benchmarks.bench_review import serve

DATA = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SEQ = "b1c66a42-6f7d68ca"


def make_job(tmp: Path) -> tuple[Path, dict[str, Any]]:
    from prelabel.formats import scalabel
    from prelabel.labelfile import write_records
    from prelabel.review.db import Database
    from prelabel.review.sequence_tasks import create_sequence_job
    from prelabel.review.tasks import assign
    from prelabel.review.workforce import create_user

    recs = list(
        scalabel.read(
            str(DATA / "scalabel_eval/eval/box_track/track_sample_anns.json"),
            image_dir=str(DATA / "bdd100k/track/images" / SEQ),
            image_size=(1280, 720),
        )
    )
    labels = tmp / "labels.jsonl"
    write_records(labels, recs)
    state = tmp / "state"
    db = Database(state)
    create_user(db, "admin", "admin-pass-1", "admin")
    create_user(db, "worker", "worker-pass-1", "worker")
    t0 = time.perf_counter()
    job, summary = create_sequence_job(db, "bench-seq", recs, source=str(labels), chunk=len(recs))
    made = time.perf_counter() - t0
    assign(db, job.id, ["worker"])
    boxes = sum(1 for r in recs for lb in r.labels if lb.box is not None and lb.track_id is not None)
    tracks = len({lb.track_id for r in recs for lb in r.labels if lb.track_id is not None})
    return state, {"frames": summary["frames"], "boxes": boxes, "tracks": tracks, "create_job_s": round(made, 3)}


def run(out: Path | None) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from prelabel.review.db import Database
    from prelabel.review.export import export_job

    with tempfile.TemporaryDirectory(prefix="bench-seq-") as t:
        tmp = Path(t)
        state, res = make_job(tmp)
        url, server = serve(state, roots=[str(DATA)])
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, args=FLAGS, env={**os.environ, "HOME": str(tmp)}, headless=True
                )
                page = browser.new_context(viewport={"width": 1600, "height": 900}).new_page()
                sign_in(page, url, "worker", "worker-pass-1")
                t0 = time.perf_counter()
                page.click("a.task-link")
                page.wait_for_selector("body[data-ready='1']")
                res["open_task_s"] = round(time.perf_counter() - t0, 3)
                seq = "window.prelabelSequence"
                n = res["frames"]
                page.focus("#canvas")
                t0 = time.perf_counter()
                for _ in range(n - 1):
                    page.keyboard.press("f")
                assert page.evaluate(f"{seq}.cur") == n - 1
                res["step_ms_with_key_round_trip"] = round(1000 * (time.perf_counter() - t0) / (n - 1), 2)
                res["step_ms_in_page"] = page.evaluate(
                    f"() => {{ const t0 = performance.now(); for (let k = 0; k < {n}; k++) {seq}.seek(k); "
                    f"return Math.round(100 * (performance.now() - t0) / {n}) / 100; }}"
                )
                frames = page.evaluate(f"{seq}.frames")
                spans: dict[str, list[int]] = {}
                for k, f in enumerate(frames):
                    for b in f["boxes"]:
                        spans.setdefault(b["track_id"], []).append(k)
                tid, ks = max(spans.items(), key=lambda kv: kv[1][-1] - kv[1][0])
                page.click(f"#tracks li[data-track='{tid}']")
                page.focus("#canvas")
                page.keyboard.press("k")
                page.fill("#scrub", str(ks[-1]))
                page.focus("#canvas")
                page.keyboard.press("k")
                t0 = time.perf_counter()
                page.keyboard.press("i")
                status = page.inner_text("#status")
                took = round(1000 * (time.perf_counter() - t0), 1)
                res["interpolate_track"] = {"frames": ks[-1] - ks[0] + 1, "ms_with_key_round_trip": took}
                assert "Interpolated" in status, status
                t0 = time.perf_counter()
                with page.expect_response(lambda r: r.url.endswith("/response")) as resp:
                    page.keyboard.press("Enter")
                assert resp.value.status == 200, resp.value.text()
                res["submit_s"] = round(time.perf_counter() - t0, 3)
                res["answer_bytes"] = len(resp.value.request.post_data or "")
                browser.close()
            t0 = time.perf_counter()
            export_job(Database(state), "bench-seq", str(tmp / "export"))
            res["export_s"] = round(time.perf_counter() - t0, 3)
        finally:
            server.should_exit = True
    res["load_average"] = os.getloadavg()
    if out is not None:
        out.write_text(json.dumps(res, indent=1))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = ap.parse_args()
    print(json.dumps(run(args.json), indent=1))


if __name__ == "__main__":
    main()
