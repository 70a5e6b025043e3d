"""The sequence task page in a real browser: Debian's Chromium driven by Playwright against the real portal server,
on a real BDD100K tracking sequence (6 frames, 1280x720, its own track ids).

A worker scrubs the timeline (slider, keys, play), changes a whole track's class, moves the track's box on the first
and the last frame (keyframes), interpolates in the browser, is refused a merge of two tracks that share a frame,
splits another track, and submits; the exported labels keep the track ids, mark human and interpolated boxes, and
the interpolated boxes are exactly what prelabel.refine.interpolate's linear mode gives from the same keyframes.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.review.chromium import FLAGS, launch, sign_in
from tests.review.conftest import PASSWORDS, Server, start_server
from tests.review.test_sequence_jobs import bdd_labels

from prelabel.core.labels import Box2D, FrameRecord, Label
from prelabel.refine.interpolate import _lerp, interpolate_sequence

pytestmark = pytest.mark.browser

EVIL = "<img src=x onerror=window.pwned=1>"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from launch(tmp_path_factory.mktemp("chromium-home"), FLAGS)


@pytest.fixture()
def seq_server(state: Path, shared_data: Path, tmp_path: Path) -> Iterator[Server]:
    from prelabel.review.web import create_portal_app

    for url in start_server(create_portal_app(state, roots=[str(shared_data), str(tmp_path)])):
        yield Server(url=url, state=state)


def _sign_in(browser: Any, server: Server, user: str) -> Any:
    page = browser.new_context(viewport={"width": 1400, "height": 850}).new_page()
    sign_in(page, server.url, user, PASSWORDS[user])
    return page


def _drag(page: Any, start: dict[str, float], dx: float, dy: float) -> None:
    page.mouse.move(start["x"], start["y"])
    page.mouse.down()
    for i in range(1, 9):
        page.mouse.move(start["x"] + dx * i / 8, start["y"] + dy * i / 8)
    page.mouse.up()


def _box(frames: list[dict[str, Any]], k: int, tid: str) -> dict[str, Any]:
    return next(b for b in frames[k]["boxes"] if b["track_id"] == tid)


def _centre(page: Any, b: dict[str, Any]) -> dict[str, float]:
    return page.evaluate(f"window.prelabelSequence.toScreen({(b['x1'] + b['x2']) / 2}, {(b['y1'] + b['y2']) / 2})")


def test_sequence_review_in_chromium(browser: Any, seq_server: Server, shared_data: Path, tmp_path: Path) -> None:
    server = seq_server
    src = bdd_labels(shared_data, tmp_path / "bdd-track.jsonl")
    admin, acsrf = server.login("admin")
    found = sorted({lb.category for line in src.read_text().splitlines() for lb in FrameRecord.from_json(line).labels})
    r = admin.post(
        "/admin/jobs",
        json={"name": "bdd-seq", "source": str(src), "kind": "sequence", "categories": [*found, "bus", EVIL]},
        headers={"X-CSRF-Token": acsrf},
    )
    assert r.status_code == 200, r.text
    assert r.json()["tasks_per_worker"] == 1 and r.json()["frames"] == 6
    job = r.json()["job"]
    r = admin.post(f"/admin/jobs/{job}/assign", json={"workers": ["alice"]}, headers={"X-CSRF-Token": acsrf})
    assert r.json()["new_tasks"] == 1

    page = _sign_in(browser, server, "alice")
    page.click("a.task-link")
    page.wait_for_selector("body[data-ready='1']")
    task_url = page.url
    seq = "window.prelabelSequence"
    frames = page.evaluate(f"{seq}.frames")
    assert len(frames) == 6 and [f["index"] for f in frames] == sorted(f["index"] for f in frames)
    assert all(b["source"] == "prelabel" for f in frames for b in f["boxes"])
    assert page.locator("#tracks li").count() == len({b["track_id"] for f in frames for b in f["boxes"]})
    options = page.locator("#category option").all_inner_texts()
    assert any(EVIL in o for o in options) and page.evaluate("window.pwned === undefined")

    # scrub: the slider, the keys, the timeline, and play to the end at 30 fps (frames prefetched)
    page.fill("#scrub", "3")
    assert page.evaluate(f"{seq}.cur") == 3 and "4 / 6" in page.inner_text("#frame-no")
    page.focus("#canvas")
    page.keyboard.press("d")
    page.keyboard.press("ArrowLeft")
    assert page.evaluate(f"{seq}.cur") == 1
    page.keyboard.press("Home")
    page.select_option("#fps", "30")
    page.click("#play")
    page.wait_for_function(f"() => {seq}.cur === 5", timeout=10_000)
    assert page.evaluate(f"{seq}.cached()") == [0, 1, 2, 3, 4, 5]
    assert page.inner_text("#play") == "Play"  # stopped at the last frame
    page.keyboard.press("Home")

    # a track present on every frame: select it, give the whole track a new class
    common = set.intersection(*({b["track_id"] for b in f["boxes"]} for f in frames))
    tid = max(common, key=lambda t: _box(frames, 0, t)["x2"] - _box(frames, 0, t)["x1"])
    old_cat = _box(frames, 0, tid)["category"]
    page.mouse.click(**_centre(page, _box(frames, 0, tid)))
    assert page.evaluate(f"{seq}.track") == tid
    page.select_option("#category", "bus")
    frames = page.evaluate(f"{seq}.frames")
    assert all(_box(frames, k, tid)["category"] == "bus" for k in range(6)) and old_cat != "bus"

    # move its box on frame 0 and on frame 5: both become keyframes
    page.focus("#canvas")
    c0 = _centre(page, _box(frames, 0, tid))
    page.mouse.move(c0["x"], c0["y"])
    page.mouse.wheel(0, -400)  # zoom in at the box
    page.wait_for_function(f"() => {seq}.zoom > 1.5")
    _drag(page, _centre(page, _box(frames, 0, tid)), 30, 12)
    page.keyboard.press("0")
    assert page.evaluate(f"{seq}.zoom") == 1
    page.keyboard.press("End")
    _drag(page, _centre(page, _box(frames, 5, tid)), -24, 8)
    frames = page.evaluate(f"{seq}.frames")
    assert [_box(frames, k, tid)["source"] for k in range(6)] == ["human"] + ["prelabel"] * 4 + ["human"]
    assert page.locator("#track-info").inner_text().count("2 keyframes") == 1

    # a merge with another track on the same frame is refused, with the frame named
    other = next(b for b in frames[5]["boxes"] if b["track_id"] != tid)
    page.keyboard.press("m")
    page.mouse.click(**_centre(page, other))
    assert f"tracks {tid} and {other['track_id']} are both in frame" in page.inner_text("#status")
    assert page.evaluate(f"{seq}.track") == tid

    # interpolate the selected track in the browser
    page.focus("#canvas")
    page.keyboard.press("i")
    assert "Interpolated 4 boxes" in page.inner_text("#status")
    frames = page.evaluate(f"{seq}.frames")
    assert [_box(frames, k, tid)["source"] for k in range(6)] == ["human"] + ["interpolated"] * 4 + ["human"]

    keep = os.environ.get("PRELABEL_REVIEW_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        page.fill("#scrub", "2")
        page.screenshot(path=str(Path(keep) / "sequence-view.png"))

    # split another track at frame 3 (a new id from there on)
    two = sorted(common - {tid})[0]
    page.fill("#scrub", "3")
    page.mouse.click(**_centre(page, _box(frames, 3, two)))
    assert page.evaluate(f"{seq}.track") == two
    page.focus("#canvas")
    page.keyboard.press("s")
    new_id = page.evaluate(f"{seq}.track")
    assert new_id == f"{two}~{frames[3]['index']}"
    frames = page.evaluate(f"{seq}.frames")
    assert [b["track_id"] for k in range(6) for b in frames[k]["boxes"] if b["track_id"] in (two, new_id)] == [
        two, two, two, new_id, new_id, new_id]  # fmt: skip

    # the new track becomes a bus with a keyframe here; merged back (no shared frame now), the track has keyframes
    # of two classes, and interpolation is refused with both named
    page.select_option("#category", "bus")
    page.focus("#canvas")
    page.keyboard.press("k")
    page.click(f"#tracks li[data-track='{two}']")  # select from the list
    page.keyboard.press("Home")
    page.focus("#canvas")
    page.keyboard.press("k")
    page.keyboard.press("m")
    page.keyboard.press("End")  # pick the other track on another frame
    page.mouse.click(**_centre(page, _box(page.evaluate(f"{seq}.frames"), 5, new_id)))
    assert f"Track {new_id} merged into {two} (3 boxes)" in page.inner_text("#status")
    page.focus("#canvas")
    page.keyboard.press("i")
    status = page.inner_text("#status")
    assert f"track {two}: keyframe {frames[0]['id']} says" in status and "says 'bus'" in status
    assert "interpolation needs one class per track" in status
    page.keyboard.press("Escape")  # no track selected: every track with two keyframes, all or nothing
    page.keyboard.press("i")
    assert f"track {two}: keyframe" in page.inner_text("#status")
    page.click(f"#tracks li[data-track='{two}']")
    frames = page.evaluate(f"{seq}.frames")
    assert [_box(frames, k, two)["source"] for k in range(6)] == ["human", "prelabel", "prelabel", "human"] + [
        "prelabel"] * 2  # fmt: skip

    # delete a whole track (Shift+Del) and undo; delete one box of it (Del)
    three = sorted(common - {tid, two})[0]
    page.click(f"#tracks li[data-track='{three}']")
    page.fill("#scrub", "2")
    page.focus("#canvas")
    page.keyboard.press("Shift+Delete")
    assert not any(b["track_id"] == three for f in page.evaluate(f"{seq}.frames") for b in f["boxes"])
    page.keyboard.press("u")
    page.click(f"#tracks li[data-track='{three}']")
    page.focus("#canvas")
    page.keyboard.press("Delete")
    frames = page.evaluate(f"{seq}.frames")
    assert [any(b["track_id"] == three for b in f["boxes"]) for f in frames] == [True, True, False, True, True, True]

    # the browser's interpolation is Python's linear interpolation, to the last bit
    rng = random.Random(7)
    for _ in range(20):
        a, b, w = [rng.uniform(0, 640) for _ in range(2)], [rng.uniform(0, 640) for _ in range(2)], rng.random()
        a += [v + rng.uniform(1, 600) for v in a]
        b += [v + rng.uniform(1, 600) for v in b]
        js = page.evaluate(f"{seq}.lerp({json.dumps(a)}, {json.dumps(b)}, {w!r})")
        py = _lerp(Box2D(x1=a[0], y1=a[1], x2=a[2], y2=a[3]), Box2D(x1=b[0], y1=b[1], x2=b[2], y2=b[3]), w)
        assert js == list(py.xyxy)

    with page.expect_response(lambda r: r.url.endswith("/response") and r.request.method == "POST") as resp:
        page.focus("#canvas")
        page.keyboard.press("Enter")
    assert resp.value.status == 200, resp.value.text()
    page.wait_for_url(f"{server.url}/tasks")

    # the export keeps track ids and the marks; interpolated boxes = Python's linear interpolation of the keyframes
    recs = [FrameRecord.from_json(x) for x in admin.get(f"/admin/jobs/{job}/labels.jsonl").text.splitlines()]
    assert [r.frame.id for r in recs] == [f["id"] for f in frames]
    mine = [next(lb for lb in r.labels if lb.track_id == tid) for r in recs]
    assert [lb.category for lb in mine] == ["bus"] * 6
    assert [lb.attributes["review_source"] for lb in mine] == ["human"] + ["interpolated"] * 4 + ["human"]
    assert [lb.attributes.get("keyframe", False) for lb in mine] == [True] + [False] * 4 + [True]
    assert all(lb.attributes["keyframes"] == [recs[0].frame.index, recs[5].frame.index] for lb in mine[1:5])
    assert all(lb.attributes["prelabel_category"] == old_cat for lb in mine)
    keyed = [
        r.model_copy(update={"labels": [Label(id=f"k{k}", category="bus", source="human:alice", box=mine[k].box,
                                               track_id=tid)] if k in (0, 5) else []})
        for k, r in enumerate(recs)
    ]  # fmt: skip
    filled, n = interpolate_sequence(keyed, lambda r: r.frame.id in (recs[0].frame.id, recs[5].frame.id))
    assert n == 4
    for k in range(1, 5):
        want = [round(v, 2) for v in filled[k].labels[0].box.xyxy]  # type: ignore[union-attr]
        assert list(mine[k].box.xyxy) == want  # type: ignore[union-attr]
    merged = [next(lb for lb in r.labels if lb.track_id == two) for r in recs]
    assert [lb.category for lb in merged[3:]] == ["bus"] * 3 and "bus" not in [lb.category for lb in merged[:3]]
    assert [lb.attributes["review_source"] for lb in merged] == ["human", "prelabel", "prelabel", "human"] + [
        "prelabel"] * 2  # fmt: skip
    assert not any(lb.track_id == new_id for r in recs for lb in r.labels)
    gone = [lb for lb in recs[2].labels if lb.track_id == three]
    assert len(gone) == 1 and gone[0].review == "rejected" and gone[0].attributes["review_action"] == "deleted"
    untouched = [lb for r in recs for lb in r.labels if lb.attributes.get("review_source") == "prelabel"]
    assert untouched and all(lb.review == "accepted" and lb.source == "import:scalabel" for lb in untouched
                             if lb.track_id not in (tid, two))  # fmt: skip
    audit = admin.get(f"/api/admin/jobs/{job}/audit").json()["entries"]
    ops = [e["op"] for e in next(a for a in audit if a["action"] == "task.submit")["detail"]["answer"]["edits"]]
    assert ops == ["class", "move", "move", "interpolate", "split", "class", "keyframe", "keyframe", "merge",
                   "delete-box"]  # fmt: skip

    # another worker can neither open the task nor fetch its frames
    bob = _sign_in(browser, server, "bob")
    r2 = bob.goto(task_url)
    assert r2 is not None and r2.status == 404
    tid_n = task_url.rsplit("/", 1)[1]
    assert bob.evaluate(f"fetch('/api/tasks/{tid_n}/frames/0/image').then(r => r.status)") == 404
