"""The worker view in a real browser: Debian's Chromium driven by Playwright against the real portal server.

A worker signs in, opens a task on a KITTI frame with SSD pre-labels, drags a box corner, deletes a box (and
undoes and redoes that), draws a new box, and submits; the exported Ground Truth manifest holds exactly those
edits. A second worker can neither see nor post to that task; requests without a session or CSRF token are refused.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.review.chromium import FLAGS, launch, sign_in
from tests.review.conftest import PASSWORDS, Server

from prelabel.labelfile import read_records

pytestmark = pytest.mark.browser

FRAME = "000008"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from launch(tmp_path_factory.mktemp("chromium-home"), FLAGS)


def _sign_in(browser: Any, server: Server, user: str) -> Any:
    ctx = browser.new_context(viewport={"width": 1400, "height": 800})
    page = ctx.new_page()
    sign_in(page, server.url, user, PASSWORDS[user])
    return page


def _drag(page: Any, start: dict[str, float], end: dict[str, float]) -> None:
    page.mouse.move(start["x"], start["y"])
    page.mouse.down()
    for i in range(1, 9):
        t = i / 8
        page.mouse.move(start["x"] + (end["x"] - start["x"]) * t, start["y"] + (end["y"] - start["y"]) * t)
    page.mouse.up()


def _empty_spot(boxes: list[dict[str, Any]], width: int, height: int) -> tuple[float, float, float, float]:
    """A 60x40 px region of the frame that touches no pre-label."""
    for y in range(10, height - 50, 10):
        for x in range(10, width - 70, 20):
            r = (x, y, x + 60, y + 40)
            if all(r[2] < b["x1"] or r[0] > b["x2"] or r[3] < b["y1"] or r[1] > b["y2"] for b in boxes):
                return r
    raise AssertionError("no empty spot on the frame")


def test_worker_edits_in_chromium(browser: Any, server: Server, prelabels: Path, tmp_path: Path) -> None:
    admin, acsrf = server.login("admin")
    found = sorted({lb.category for r in read_records(prelabels) for lb in r.labels})
    cats = ["car", "person", *[c for c in found if c not in ("car", "person")]]
    r = admin.post(
        "/admin/jobs",
        json={"name": "browser", "source": str(prelabels), "frames": [FRAME], "categories": cats,
              "instructions": "Fit each box to the visible vehicle."},
        headers={"X-CSRF-Token": acsrf},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    job = r.json()["job"]
    admin.post(f"/admin/jobs/{job}/assign", json={"workers": ["alice"]}, headers={"X-CSRF-Token": acsrf})
    prelabel = {lb.id: lb for r in read_records(prelabels) if r.frame.id == FRAME for lb in r.labels}
    assert len(prelabel) >= 3

    page = _sign_in(browser, server, "alice")
    page.click("a.task-link")
    page.wait_for_selector("body[data-ready='1']")
    task_url = page.url
    boxes = page.evaluate("window.prelabelAnnotator.boxes")
    assert {b["id"] for b in boxes} == set(prelabel)
    assert page.locator("#boxes li").count() == len(prelabel)
    assert "0." in page.locator("#boxes li").first.inner_text()  # scores shown

    # 1. zoom in on the bottom-right corner of the largest box (mouse wheel) and drag that corner
    sizes = [(b["x2"] - b["x1"]) * (b["y2"] - b["y1"]) for b in boxes]
    ia = sizes.index(max(sizes))
    a = boxes[ia]
    page.click(f"#boxes li[data-index='{ia}']")
    corner = page.evaluate(f"window.prelabelAnnotator.toScreen({a['x2'] - 30}, {a['y2'] - 20})")
    page.mouse.move(corner["x"], corner["y"])
    page.mouse.wheel(0, -400)
    page.wait_for_function("window.prelabelAnnotator.zoom > 1.5")
    start = page.evaluate(f"window.prelabelAnnotator.toScreen({a['x2']}, {a['y2']})")
    _drag(page, start, {"x": start["x"] + 25, "y": start["y"] - 12})
    after = next(b for b in page.evaluate("window.prelabelAnnotator.boxes") if b["id"] == a["id"])
    scale = (start["x"] - page.evaluate(f"window.prelabelAnnotator.toScreen({a['x1']}, 0)")["x"]) / (a["x2"] - a["x1"])
    assert after["x1"] == a["x1"] and after["y1"] == a["y1"]
    assert after["x2"] == pytest.approx(a["x2"] + 25 / scale, abs=1.5 / scale)
    assert after["y2"] == pytest.approx(a["y2"] - 12 / scale, abs=1.5 / scale)

    if os.environ.get("PRELABEL_REVIEW_SCREENSHOTS"):
        page.screenshot(path=str(Path(os.environ["PRELABEL_REVIEW_SCREENSHOTS"]) / "worker-view-zoomed.png"))
    page.focus("#canvas")
    page.keyboard.press("0")  # back to the whole frame
    assert page.evaluate("window.prelabelAnnotator.zoom") == 1

    # 2. delete another box (Del), undo (U), delete again
    b_id = next(b["id"] for b in boxes if b["id"] != a["id"])
    ib = next(i for i, b in enumerate(page.evaluate("window.prelabelAnnotator.boxes")) if b["id"] == b_id)
    page.click(f"#boxes li[data-index='{ib}']")
    page.focus("#canvas")
    page.keyboard.press("Delete")
    assert len(page.evaluate("window.prelabelAnnotator.boxes")) == len(prelabel) - 1
    page.keyboard.press("u")
    assert b_id in {b["id"] for b in page.evaluate("window.prelabelAnnotator.boxes")}
    ib = next(i for i, b in enumerate(page.evaluate("window.prelabelAnnotator.boxes")) if b["id"] == b_id)
    page.click(f"#boxes li[data-index='{ib}']")
    page.click("#delete")
    assert b_id not in {b["id"] for b in page.evaluate("window.prelabelAnnotator.boxes")}

    # 3. draw a new box as a person in an empty part of the frame
    page.select_option("#category", "person")
    x1, y1, x2, y2 = _empty_spot(page.evaluate("window.prelabelAnnotator.boxes"), 1242, 375)
    p1 = page.evaluate(f"window.prelabelAnnotator.toScreen({x1}, {y1})")
    p2 = page.evaluate(f"window.prelabelAnnotator.toScreen({x2}, {y2})")
    _drag(page, p1, p2)
    final = page.evaluate("window.prelabelAnnotator.boxes")
    drawn = [b for b in final if b["id"] is None]
    assert len(drawn) == 1 and drawn[0]["category"] == "person"
    assert drawn[0]["x1"] == pytest.approx(x1, abs=1.5 / scale) and drawn[0]["y2"] == pytest.approx(y2, abs=1.5 / scale)

    shot = tmp_path / "worker-view.png"
    page.screenshot(path=str(shot))
    keep = os.environ.get("PRELABEL_REVIEW_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "worker-view.png")
    assert shot.stat().st_size > 50_000

    # 4. submit with the keyboard (A = accept what is on screen)
    with page.expect_response(lambda r: r.url.endswith("/response") and r.request.method == "POST") as resp:
        page.focus("#canvas")
        page.keyboard.press("a")
    assert resp.value.status == 200, resp.value.text()
    page.wait_for_url(f"{server.url}/tasks")  # no next task: back to the queue

    # the exported manifest holds exactly those edits
    text = admin.get(f"/admin/jobs/{job}/output.manifest").text
    line = json.loads(text)
    meta = line["prelabel-boxes-adjusted-metadata"]
    assert meta["adjustment-status"] == "adjusted" and meta["human-annotated"] == "yes"
    cmap = meta["class-map"]
    got = sorted(
        (cmap[str(x["class_id"])], x["left"], x["top"], x["width"], x["height"])
        for x in line["prelabel-boxes-adjusted"]["annotations"]
    )
    want = sorted(
        (
            b["category"],
            round(b["x1"]),
            round(b["y1"]),
            round(b["x2"]) - round(b["x1"]),
            round(b["y2"]) - round(b["y1"]),
        )
        for b in final
    )
    assert got == want
    untouched = [lb for i, lb in prelabel.items() if i not in (a["id"], b_id)]
    for lb in untouched:  # the boxes nobody touched are the pre-labels, to the pixel
        assert lb.box is not None
        x1_, y1_, x2_, y2_ = lb.box.xyxy
        assert (lb.category, round(x1_), round(y1_), round(x2_) - round(x1_), round(y2_) - round(y1_)) in got
    recs = [json.loads(x) for x in admin.get(f"/admin/jobs/{job}/labels.jsonl").text.splitlines()]
    states = {lb["id"]: lb["review"] for lb in recs[0]["labels"]}
    assert states[a["id"]] == "adjusted" and states[b_id] == "rejected"
    assert sum(1 for s in states.values() if s == "accepted") == len(untouched) + 1  # + the drawn box

    # requests without the CSRF token, or without a session, are refused
    tid = int(task_url.rsplit("/", 1)[1])
    status = page.evaluate(
        f"fetch('/api/tasks/{tid}/response', {{method: 'POST', headers: {{'Content-Type': 'application/json'}}, "
        "body: JSON.stringify({boxes: []})}).then(r => r.status)"
    )
    assert status == 403
    anon = browser.new_context().new_page()
    anon.goto(f"{server.url}/login")
    status = anon.evaluate(
        f"fetch('/api/tasks/{tid}/response', {{method: 'POST', headers: {{'Content-Type': 'application/json', "
        "'X-CSRF-Token': 'x'}, body: JSON.stringify({boxes: []})}).then(r => r.status)"
    )
    assert status == 401

    # a second worker can neither see nor post to alice's task
    bob = _sign_in(browser, server, "bob")
    assert "No tasks are assigned to you" in bob.content()
    r = bob.goto(task_url)
    assert r is not None and r.status == 404
    csrf = bob.evaluate("fetch('/api/me').then(r => r.json()).then(j => j.csrf_token)")
    status = bob.evaluate(
        f"fetch('/api/tasks/{tid}/response', {{method: 'POST', headers: {{'Content-Type': 'application/json', "
        f"'X-CSRF-Token': '{csrf}'}}, body: JSON.stringify({{boxes: []}})}}).then(r => r.status)"
    )
    assert status == 404
    assert bob.evaluate(f"fetch('/api/tasks/{tid}/image').then(r => r.status)") == 404
    # alice's answer is unchanged by bob's attempts
    assert json.loads(admin.get(f"/admin/jobs/{job}/output.manifest").text) == line


def test_verify_with_keyboard(browser: Any, server: Server, prelabels: Path) -> None:
    """Verify job: Tab selects a label, B judges it bad (with a comment), A accepts the rest and submits."""
    admin, acsrf = server.login("admin")
    r = admin.post(
        "/admin/jobs",
        json={"name": "verify", "type": "verify", "source": str(prelabels), "frames": ["000001"]},
        headers={"X-CSRF-Token": acsrf},
    )
    assert r.status_code == 200, r.text
    job = r.json()["job"]
    admin.post(f"/admin/jobs/{job}/assign", json={"workers": ["bob"]}, headers={"X-CSRF-Token": acsrf})
    page = _sign_in(browser, server, "bob")
    page.click("a.task-link")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#verify-tools").is_visible() and not page.locator("#delete").is_visible()
    labels = page.evaluate("window.prelabelAnnotator.boxes")
    page.focus("#canvas")
    page.keyboard.press("Tab")
    assert page.evaluate("window.prelabelAnnotator.selected") == 0
    page.fill("#label-comment", "a parked trailer, not a car")
    page.focus("#canvas")
    page.keyboard.press("b")
    page.click("#submit")  # refused in the page: other labels are not judged yet
    assert "Judge every label" in page.inner_text("#status") or len(labels) == 1
    with page.expect_response(lambda r: r.url.endswith("/response")) as resp:
        page.focus("#canvas")
        page.keyboard.press("a")
    assert resp.value.status == 200
    line = json.loads(admin.get(f"/admin/jobs/{job}/output.manifest").text)
    meta = line["prelabel-boxes-verified-metadata"]
    assert line["prelabel-boxes-verified"] == "1" and meta["class-name"] == "bad"
    assert [o["class-name"] for o in meta["objects"]] == ["bad"] + ["good"] * (len(labels) - 1)
    assert meta["worker-feedback"] == [{"comment": "a parked trailer, not a car"}]
