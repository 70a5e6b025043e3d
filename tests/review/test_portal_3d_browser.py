"""The 3D task page in a real browser: Debian's Chromium (software WebGL) driven by Playwright against the real
portal server, on a job made from 3D pre-labels of the real nuScenes sample.

A worker opens the task, selects a box seen by a camera, rotates it and moves it with keys; its projection in that
camera moves; the worker submits; the exported Ground Truth 3D manifest holds the box moved and turned by exactly
what the keys did. Text from the job (a class named like markup) never runs as script.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.review.chromium import WEBGL_FLAGS, launch, sign_in
from tests.review.conftest import PASSWORDS, Server, start_server
from tests.review.scenes3d import nuscenes_camera_boxes, nuscenes_record

from prelabel.labelfile import write_records

pytestmark = pytest.mark.browser

EVIL = '<img src=x onerror="window.__xss=1">'


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from launch(tmp_path_factory.mktemp("chromium-home"), WEBGL_FLAGS)


@pytest.fixture()
def server3d(state: Path, shared_data: Path, tmp_path: Path) -> Iterator[tuple[Server, int]]:
    from prelabel.review.db import Database
    from prelabel.review.review_jobs import create_job
    from prelabel.review.tasks import assign

    src = tmp_path / "nus" / "labels.jsonl"
    src.parent.mkdir()
    rec = nuscenes_record(shared_data, boxes=30, min_points=5)
    write_records(src, [rec])
    cats = [*sorted({lb.category for lb in rec.labels}), "bus", EVIL]
    job, _ = create_job(
        Database(state),
        "nus3d-browser",
        "adjust",
        [rec],
        source=str(src),
        categories=cats,
        roots=[str(src.parent), str(shared_data / "nuscenes")],
    )
    assign(Database(state), job.id, ["alice"])
    from prelabel.review.web import create_portal_app

    for url in start_server(create_portal_app(state)):
        yield Server(url=url, state=state), job.id


def _proj(page: Any, camera: str) -> list[float] | None:
    raw = page.get_attribute(f'canvas[data-camera="{camera}"]', "data-proj")
    return json.loads(raw) if raw else None


def test_select_rotate_move_submit_export(browser: Any, server3d: tuple[Server, int], shared_data: Path) -> None:
    server, job_id = server3d
    ctx = browser.new_context(viewport={"width": 1500, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    sign_in(page, server.url, "alice", PASSWORDS["alice"])
    page.click("#start")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    assert page.evaluate("() => window.__review3d.count") == 34688
    assert page.evaluate("() => document.querySelectorAll('#cams canvas').length") == 6
    # the class named like markup is an option's text, never markup
    assert page.evaluate("(t) => [...document.querySelectorAll('#category option')].some(o => o.text === t)", EVIL)
    # the page's projection (JS, from K and camera_from_lidar) agrees with nuScenes' own 2D boxes within a few
    # pixels (theirs go through the ego pose at the camera's time, ours through lidar2cam: 1-3 cm apart; and
    # theirs keep the boxes' small pitch and roll, which a yaw-only box3d drops: tall near boxes differ more)
    proj = page.evaluate("() => window.__review3d.proj")
    cams = page.evaluate("() => window.__review3d.task.cameras")
    boxes = page.evaluate("() => window.__review3d.boxes")
    cam = next(c for c in cams if c["name"] == "CAM_FRONT")
    theirs = nuscenes_camera_boxes(shared_data, "CAM_FRONT")
    checked, close = 0, 0
    for k, rect in proj["CAM_FRONT"].items():
        centre = [*boxes[int(k)]["box3d"][:3], 1.0]
        cx, _, cz = (sum(m * v for m, v in zip(row, centre, strict=True)) for row in cam["camera_from_lidar"][:3])
        match = [bb for x, z, bb in theirs if abs(x - cx) < 0.05 and abs(z - cz) < 0.05]
        if match and match[0][0] > 0 and match[0][2] < 1600 and match[0][1] > 0 and match[0][3] < 900:
            assert rect == pytest.approx(match[0], abs=30.0), (k, rect, match[0])
            close += rect == pytest.approx(match[0], abs=4.0)
            checked += 1
    assert checked >= 5 and close >= 0.8 * checked, (checked, close, proj["CAM_FRONT"])
    # a pre-label the front camera sees: select it from the list
    front = {int(k): v for k, v in proj["CAM_FRONT"].items()}
    assert front, proj
    i = max(front, key=lambda k: (front[k][2] - front[k][0]) * (front[k][3] - front[k][1]))
    page.click(f"#boxes li[data-index='{i}']")
    before = page.evaluate("(i) => window.__review3d.boxes[i]", i)
    assert page.get_attribute("body", "data-selected") == before["id"]
    p0 = _proj(page, "CAM_FRONT")
    assert p0 == pytest.approx(front[i], abs=0.01)
    # the mouse: drag the front-left corner handle 0.5 m outwards (the opposite corner stays), then undo it
    h = page.evaluate("() => window.__review3d.handles()")[0]
    start = page.evaluate("([x, y]) => window.__review3d.toScreen(x, y)", [h[0], h[1]])
    c, s = math.cos(before["box3d"][6]), math.sin(before["box3d"][6])
    end = page.evaluate("([x, y]) => window.__review3d.toScreen(x, y)", [h[0] + 0.5 * c, h[1] + 0.5 * s])
    page.mouse.move(start["x"], start["y"])
    page.mouse.down()
    for k in range(1, 6):
        page.mouse.move(start["x"] + (end["x"] - start["x"]) * k / 5, start["y"] + (end["y"] - start["y"]) * k / 5)
    page.mouse.up()
    resized = page.evaluate("(i) => window.__review3d.boxes[i].box3d", i)
    assert resized[3] == pytest.approx(before["box3d"][3] + 0.5, abs=0.15)  # a drag lands within a pixel or two
    assert resized[4] == pytest.approx(before["box3d"][4], abs=0.15)
    page.keyboard.press("u")
    assert page.evaluate("(i) => window.__review3d.boxes[i].box3d", i) == before["box3d"]
    # the side view: drag the box's top edge 0.3 m up (its floor stays), then undo; the top view: drag the box 0.2 m
    # to its right, then undo
    v = before["box3d"]

    def drag(view: str, a: tuple[float, float], b: tuple[float, float]) -> None:
        p0 = page.evaluate("([v, u, w]) => window.__review3d.detailToScreen(v, u, w)", [view, *a])
        p1 = page.evaluate("([v, u, w]) => window.__review3d.detailToScreen(v, u, w)", [view, *b])
        page.mouse.move(p0["x"], p0["y"])
        page.mouse.down()
        for k in range(1, 5):
            page.mouse.move(p0["x"] + (p1["x"] - p0["x"]) * k / 4, p0["y"] + (p1["y"] - p0["y"]) * k / 4)
        page.mouse.up()

    drag("side", (0.0, v[5] / 2), (0.0, v[5] / 2 + 0.3))
    taller = page.evaluate("(i) => window.__review3d.boxes[i].box3d", i)
    assert taller[5] == pytest.approx(v[5] + 0.3, abs=0.03) and taller[2] - taller[5] / 2 == pytest.approx(
        v[2] - v[5] / 2, abs=1e-3
    )
    page.keyboard.press("u")
    drag("top", (0.0, 0.0), (0.2, 0.0))
    moved = page.evaluate("(i) => window.__review3d.boxes[i].box3d", i)
    right = [math.sin(v[6]), -math.cos(v[6])]  # the box's right, on the ground
    assert [moved[0] - v[0], moved[1] - v[1]] == pytest.approx([0.2 * right[0], 0.2 * right[1]], abs=0.02)
    assert moved[3:] == v[3:]
    page.keyboard.press("u")
    assert page.evaluate("(i) => window.__review3d.boxes[i].box3d", i) == before["box3d"]
    # rotate 5 x 2 degrees, then move 5 x 0.1 m along the new heading and 3 x 0.02 m (fine) to the left
    page.focus("#gl")
    for _ in range(5):
        page.keyboard.press("q")
    for _ in range(5):
        page.keyboard.press("ArrowUp")
    for _ in range(3):
        page.keyboard.press("Shift+ArrowLeft")
    after = page.evaluate("(i) => window.__review3d.boxes[i]", i)
    yaw = before["box3d"][6] + math.radians(10)
    assert after["box3d"][6] == pytest.approx(math.atan2(math.sin(yaw), math.cos(yaw)), abs=1e-4)
    dx = 0.5 * math.cos(yaw) - 0.06 * math.sin(yaw)
    dy = 0.5 * math.sin(yaw) + 0.06 * math.cos(yaw)
    assert after["box3d"][0] == pytest.approx(before["box3d"][0] + dx, abs=1e-3)
    assert after["box3d"][1] == pytest.approx(before["box3d"][1] + dy, abs=1e-3)
    page.wait_for_function(
        "(p) => document.querySelector('canvas[data-camera=\"CAM_FRONT\"]').dataset.proj !== p",
        arg=json.dumps(p0),
    )
    p1 = _proj(page, "CAM_FRONT")
    assert p1 is not None and max(abs(a - b) for a, b in zip(p0, p1, strict=True)) > 3, (p0, p1)
    # undo one fine step, redo it by key
    page.keyboard.press("u")
    assert page.evaluate("(i) => window.__review3d.boxes[i].box3d[0]", i) != after["box3d"][0]
    page.keyboard.press("Shift+ArrowLeft")
    # the orbit view (O): a drag in it turns the view and edits nothing; O again is the bird's-eye view
    boxes_now = page.evaluate("() => JSON.stringify(window.__review3d.boxes)")
    page.keyboard.press("o")
    assert page.evaluate("() => window.__review3d.orbit") is True
    az = page.evaluate("() => window.__review3d.orbitState.az")
    c = page.evaluate("(i) => window.__review3d.toScreen(...window.__review3d.boxes[i].box3d.slice(0, 2))", i)
    page.mouse.move(c["x"], c["y"])
    page.mouse.down()
    page.mouse.move(c["x"] + 60, c["y"] + 10, steps=4)
    page.mouse.up()
    assert page.evaluate("() => window.__review3d.orbitState.az") == pytest.approx(az - 0.6, abs=0.05)
    assert page.evaluate("() => JSON.stringify(window.__review3d.boxes)") == boxes_now
    page.keyboard.press("o")
    assert page.evaluate("() => window.__review3d.orbit") is False
    page.click("#submit")
    page.wait_for_selector("body[data-submitted]")
    assert page.evaluate("() => window.__xss") is None
    assert not errors, errors

    admin, _ = server.login("admin")
    line = json.loads(admin.get(f"/admin/jobs/{job_id}/output.manifest").text.splitlines()[0])
    ann = next(a for a in line["prelabel-boxes-adjusted"]["annotations"] if a["object-id"] == before["id"])
    assert ann["center-x"] == pytest.approx(before["box3d"][0] + dx, abs=2e-3)
    assert ann["center-y"] == pytest.approx(before["box3d"][1] + dy, abs=2e-3)
    assert ann["yaw"] == pytest.approx(after["box3d"][6], abs=1e-4)  # no ego pose: world = LiDAR frame, yaw as is
    assert ann["length"] == pytest.approx(before["box3d"][3], abs=1e-4)
    assert line["prelabel-boxes-adjusted-metadata"]["adjustment-status"] == "adjusted"
    ctx.close()


def test_verify_boxes_with_keys(browser: Any, state: Path, shared_data: Path, tmp_path: Path) -> None:
    """A verify job: G/B judge each box (the selection moves on to the next unjudged one), a comment on one box;
    the stored answer holds exactly those verdicts."""
    from prelabel.review.db import Database
    from prelabel.review.responses import last_response
    from prelabel.review.review_jobs import create_job
    from prelabel.review.tasks import assign, worker_queue
    from prelabel.review.web import create_portal_app

    src = tmp_path / "nus" / "labels.jsonl"
    src.parent.mkdir()
    rec = nuscenes_record(shared_data)
    write_records(src, [rec])
    db = Database(state)
    job, _ = create_job(db, "nus3d-verify", "verify", [rec], source=str(src), roots=[str(shared_data / "nuscenes")])
    assign(db, job.id, ["alice"])
    tid = worker_queue(db, "alice")[0].task.id
    for url in start_server(create_portal_app(state)):
        page = browser.new_context(viewport={"width": 1400, "height": 850}).new_page()
        sign_in(page, url, "alice", PASSWORDS["alice"])
        page.goto(f"{url}/tasks/{tid}")
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        assert page.is_visible("#verify-tools") and not page.is_visible("#delete")
        page.click("#boxes li[data-index='0']")
        page.focus("#gl")
        page.keyboard.press("g")  # box 0 good, selection moves to box 1
        page.keyboard.press("b")  # box 1 bad, on to box 2
        page.click("#boxes li[data-index='1']")
        page.fill("#label-comment", "<i>a fence, not a barrier</i>")
        page.focus("#gl")
        for _ in range(len(rec.labels) - 2):
            page.click("#boxes li:not(.good):not(.bad)")
            page.keyboard.press("g")
        page.click("#submit")
        page.wait_for_selector("body[data-submitted]")
        page.context.close()
    r = last_response(db, tid)
    assert r is not None
    got = {v["id"]: (v["verdict"], v["comment"]) for v in r.payload["verdicts"]}
    ids = [lb.id for lb in rec.labels]
    assert got[ids[1]] == ("bad", "<i>a fence, not a barrier</i>")
    assert all(got[i] == ("good", "") for i in ids if i != ids[1])


@pytest.mark.slow
def test_kitti_sequence_end_to_end(
    browser: Any, state: Path, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real KITTI tracking sequence, end to end: 3D pre-labels by ``prelabel label --3d`` then ``prelabel
    track3d``, a job made with ``review create-job``; in the browser the worker steps and plays through the samples
    in place, changes a track's class (the whole track follows, on both samples), moves its box at a keyframe,
    submits the sequence at once; the export is Ground Truth's 3D tracking output with those changes. The page's
    keyframe interpolation gives the same boxes as the Python one."""
    from typer.testing import CliRunner

    from prelabel.cli.main import app
    from prelabel.core.geometry import transforms as tf
    from prelabel.labelfile import read_records
    from prelabel.refine.interpolate3d import interpolate_track
    from prelabel.review.db import Database
    from prelabel.review.export import export_job
    from prelabel.review.responses import last_response
    from prelabel.review.tasks import worker_queue
    from prelabel.review.web import create_portal_app
    from prelabel.sources.scenes.groundtruth3d_labels import world_from_lidar

    monkeypatch.setenv("PRELABEL_STATE", str(state))
    run = CliRunner().invoke
    kt = shared_data / "kitti_tracking" / "tracking" / "training"
    l3d, t3d = tmp_path / "l3d.jsonl", tmp_path / "t3d.jsonl"
    for args in (["label", str(kt), "--3d", "-o", str(l3d)], ["track3d", str(l3d), "-o", str(t3d)]):
        r = run(app, args)
        assert r.exit_code == 0, r.output
    recs = read_records(t3d)
    assert [r.frame.index for r in recs] == [0, 1] and recs[0].frame.sequence == recs[1].frame.sequence
    cats = "car,van,truck,bus,pedestrian,cyclist"
    r = run(app, ["review", "create-job", "kitti-trk", str(t3d), "--root", str(kt), "--categories", cats])
    assert r.exit_code == 0, r.output
    assert run(app, ["review", "assign", "kitti-trk", "alice"]).exit_code == 0
    db = Database(state)
    tasks = {i.task.frame_id: i.task.id for i in worker_queue(db, "alice")}
    first, second = (tasks[r.frame.id] for r in recs)
    # a car track seen on both samples, the best scored
    both = {lb.track_id for lb in recs[1].labels if lb.category == "car"}
    lab0 = max((lb for lb in recs[0].labels if lb.track_id in both), key=lambda lb: lb.score or 0)
    track = lab0.track_id
    errors: list[str] = []
    for url in start_server(create_portal_app(state)):
        page = browser.new_context(viewport={"width": 1400, "height": 850}).new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, url, "alice", PASSWORDS["alice"])
        page.goto(f"{url}/tasks/{first}")
        page.wait_for_selector("body[data-ready='1'][data-sample='0']", timeout=60_000)
        assert page.evaluate("() => window.__review3d.seq.samples.map((s) => s.task)") == [first, second]
        # the page's interpolation and Python's agree, yaw wrapping the short way through pi
        keys = [
            [2, [10.0, -3.0, -0.8, 4.0, 1.8, 1.5, 3.1]],
            [7, [14.5, -2.0, -0.6, 4.4, 1.9, 1.6, -3.05]],
            [11, [15.0, 1.0, -0.7, 4.2, 1.8, 1.55, -2.5]],
        ]
        js = page.evaluate(
            """async (keys) => { const m = await import('/static/task3d_interp.js');
                return [...m.interpolateTrack(keys, [...Array(14).keys()])]; }""",
            keys,
        )
        py = interpolate_track({p: b for p, b in keys}, range(14))
        assert {p: b for p, b in js} == py and sorted(py) == [3, 4, 5, 6, 8, 9, 10]
        assert all(abs(b[6]) > 3.0 for p, b in py.items() if p < 7)
        # the track's class, changed on the first sample: the whole track follows, on both samples
        i = page.evaluate("(t) => window.__review3d.boxes.findIndex((b) => b.track_id === t)", track)
        page.click(f"#boxes li[data-index='{i}']")
        classes = "(t) => window.__review3d.seq.samples.map((s) => s.boxes.find((b) => b.track_id === t).category)"
        page.select_option("#category", "van")
        assert page.evaluate(classes, track) == ["van", "van"]
        page.focus("#gl")
        page.keyboard.press("u")  # undo takes the whole track back
        assert page.evaluate(classes, track) == ["car", "car"]
        page.select_option("#category", "van")
        assert page.evaluate(classes, track) == ["van", "van"]
        # moved 0.3 m forward at this keyframe
        before = page.evaluate("(i) => window.__review3d.boxes[i].box3d", i)
        page.focus("#gl")
        for _ in range(3):
            page.keyboard.press("ArrowUp")
        moved = page.evaluate("(i) => window.__review3d.boxes[i]", i)
        assert moved["keyframe"] is True and math.dist(moved["box3d"][:2], before[:2]) == pytest.approx(0.3, abs=1e-3)
        n0 = page.evaluate("() => window.__review3d.count")
        # step to the next sample in place: its own sweep and camera, the selection follows the track
        page.keyboard.press(".")
        page.wait_for_selector("body[data-sample='1']")
        assert page.evaluate("() => window.__review3d.count") != n0
        assert page.evaluate("() => window.__review3d.task.cameras[0].image").endswith(
            f"/tasks/{second}/cameras/0/image"
        )
        sel = page.evaluate("() => window.__review3d.boxes[window.__review3d.sel]")
        assert sel["track_id"] == track and sel["category"] == "van" and sel["box3d"][3:6] == moved["box3d"][3:6]
        # play from the start to the end (Space), then back to the first sample (,)
        page.select_option("#play-rate", "10")
        page.evaluate(
            """() => { window.__shown = [];
                new MutationObserver(() => window.__shown.push(document.body.dataset.sample))
                    .observe(document.body, { attributes: true, attributeFilter: ["data-sample"] }); }"""
        )
        page.focus("#gl")
        page.keyboard.press(" ")
        page.wait_for_function(
            "() => window.__shown.includes('1') && document.getElementById('play').textContent === 'Play'"
        )
        assert page.evaluate("() => window.__shown.filter((v, i, a) => i === 0 || a[i - 1] !== v)") == ["0", "1"]
        assert page.get_attribute("body", "data-sample") == "1"
        page.keyboard.press(",")
        page.wait_for_selector("body[data-sample='0']")
        page.click("#submit")
        page.wait_for_selector("body[data-submitted='sequence']")
        assert not errors, errors
        page.context.close()
    a0, a1 = last_response(db, first), last_response(db, second)
    assert a0 is not None and a1 is not None
    b0 = next(b for b in a0.payload["boxes"] if b["track_id"] == track)
    b1 = next(b for b in a1.payload["boxes"] if b["track_id"] == track)
    assert b0["box3d"] == moved["box3d"] and b0["keyframe"] is True and b1["category"] == "van"
    out = export_job(db, "kitti-trk", str(tmp_path / "export"))
    (line,) = [json.loads(x) for x in Path(out["tracking_manifest"]).read_text().splitlines()]
    doc = json.loads(Path(line["prelabel-boxes-adjusted-ref"]).read_text())
    anns = [next(a for a in f["annotations"] if a["object-id"] == track) for f in doc["tracking-annotations"]]
    assert [a["object-name"] for a in anns] == [f"van:{track}"] * 2
    # Ground Truth's world frame: the moved box through the sample's ego pose (KITTI oxts)
    world = tf.transform_boxes(world_from_lidar(recs[0].frame), moved["box3d"])[0]
    assert recs[0].frame.ego_pose is not None
    assert [anns[0]["center-x"], anns[0]["center-y"], anns[0]["yaw"]] == pytest.approx(list(world[[0, 1, 6]]), abs=1e-4)
    assert [a["prelabel-origin"] for a in anns] == ["human", "human"]
