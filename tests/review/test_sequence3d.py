"""3D sequences over HTTP against the real portal: a real KITTI tracking sequence (two samples, two workers). The
sequence payload holds only the worker's own samples; a sequence answer is stored for every sample at once; a
track-wide edit reaches the worker's answer stored earlier (audited) and nobody else's; bad answers are refused
naming the sample."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.review.conftest import Server, start_server
from tests.review.scenes3d import kitti_sequence

from prelabel.core.labels import FrameRecord
from prelabel.labelfile import read_records, write_records


@pytest.fixture()
def kitti_job(state: Path, shared_data: Path, tmp_path: Path) -> Iterator[tuple[Server, list[FrameRecord]]]:
    from prelabel.review.db import Database
    from prelabel.review.review_jobs import create_job
    from prelabel.review.tasks import assign
    from prelabel.review.web import create_portal_app

    recs = kitti_sequence(shared_data)
    src = tmp_path / "kitti" / "labels.jsonl"
    src.parent.mkdir()
    write_records(src, recs[::-1])  # file order is not sequence order
    db = Database(state)
    cats = sorted({lb.category for r in recs for lb in r.labels} | {"van"})
    job, _ = create_job(
        db, "kitti-seq", "adjust", recs, source=str(src), categories=cats, roots=[str(shared_data / "kitti_tracking")]
    )
    assign(db, job.id, ["alice", "bob"])
    for url in start_server(create_portal_app(state)):
        yield Server(url=url, state=state), recs


def _answer(labels: list[dict]) -> dict:  # type: ignore[type-arg]
    return {
        "boxes": [
            {"id": lb["id"], "category": lb["category"], "box3d": lb["box3d"], "track_id": lb["track_id"]}
            for lb in labels
        ],
        "comment": "",
    }


def test_sequence_answers_and_track_edit(kitti_job: tuple[Server, list[FrameRecord]]) -> None:
    from prelabel.review.audit import entries
    from prelabel.review.db import Database
    from prelabel.review.responses import last_response

    server, recs = kitti_job
    db = Database(server.state)
    alice, token = server.login("alice")
    bob, bob_token = server.login("bob")
    mine = {t["frame"]: t["task"] for t in alice.get("/api/tasks").json()["tasks"]}
    bobs = {t["frame"]: t["task"] for t in bob.get("/api/tasks").json()["tasks"]}
    first, second = mine["kitti-0001-000000"], mine["kitti-0001-000001"]
    seq = alice.get(f"/api/tasks/{second}/sequence").json()
    assert seq["name"] == "kitti-tracking-0001" and seq["current"] == second
    assert [s["task"] for s in seq["samples"]] == [first, second]  # sequence order, not file order
    assert [s["index"] for s in seq["samples"]] == [0, 1]
    assert all(s["points"].endswith(f"/api/tasks/{s['task']}/points") for s in seq["samples"])
    assert seq["samples"][0]["cameras"][0]["image"].endswith(f"/api/tasks/{first}/cameras/0/image")
    # another worker's task: not found, its sequence neither; and bob's own sequence holds only bob's tasks
    assert alice.get(f"/api/tasks/{bobs['kitti-0001-000000']}/sequence").status_code == 404
    bseq = bob.get(f"/api/tasks/{bobs['kitti-0001-000001']}/sequence").json()
    assert {s["task"] for s in bseq["samples"]} == set(bobs.values())

    # alice answers the first sample alone; bob answers it too
    labels0 = seq["samples"][0]["labels"]
    hdr = {"X-CSRF-Token": token}
    assert alice.post(f"/api/tasks/{first}/response", json=_answer(labels0), headers=hdr).status_code == 200
    bob0 = bob.get(f"/api/tasks/{bobs['kitti-0001-000000']}").json()["labels"]
    r = bob.post(
        f"/api/tasks/{bobs['kitti-0001-000000']}/response", json=_answer(bob0), headers={"X-CSRF-Token": bob_token}
    )
    assert r.status_code == 200
    # then, on the second sample, she makes a tracked object a 'van' 0.3 m taller: the track edit goes with it
    track = sorted({lb.track_id for lb in recs[0].labels} & {lb.track_id for lb in recs[1].labels})[0]
    labels1 = seq["samples"][1]["labels"]
    ans1 = _answer(labels1)
    box = next(b for b in ans1["boxes"] if b["track_id"] == track)
    size = [box["box3d"][3], box["box3d"][4], round(box["box3d"][5] + 0.3, 4)]
    box.update(category="van", box3d=[*box["box3d"][:5], size[2], box["box3d"][6]], keyframe=True)
    edit = {"track_id": track, "category": "van", "size": size}
    other = next(b for b in ans1["boxes"] if b["track_id"] != track)
    other["interpolated"] = True  # as if the page had filled it between two keyframes
    # a sample that is not hers, and a class the job lacks, are refused naming what was wrong; nothing is stored
    bad = alice.post(
        f"/api/tasks/{second}/sequence/response",
        json={"samples": [{"task": bobs["kitti-0001-000001"], "response": ans1}], "track_edits": [edit]},
        headers=hdr,
    )
    assert bad.status_code == 422 and "is not one of your samples" in bad.json()["error"]
    bad = alice.post(
        f"/api/tasks/{second}/sequence/response",
        json={"samples": [{"task": second, "response": ans1}], "track_edits": [{**edit, "category": "tank"}]},
        headers=hdr,
    )
    assert bad.status_code == 422 and "'tank' is not among the job's categories" in bad.json()["error"]
    bad = alice.post(
        f"/api/tasks/{second}/sequence/response",
        json={"samples": [{"task": second, "response": {"boxes": [{"id": "nope", "category": "car"}]}}]},
        headers=hdr,
    )
    assert bad.status_code == 422 and "frame kitti-0001-000001" in bad.json()["error"]
    both = {**ans1, "boxes": [{**other, "keyframe": True}]}
    bad = alice.post(
        f"/api/tasks/{second}/sequence/response", json={"samples": [{"task": second, "response": both}]}, headers=hdr
    )
    assert bad.status_code == 422 and "a keyframe or interpolated, not both" in bad.json()["error"]
    assert last_response(db, second) is None
    assert alice.post(f"/api/tasks/{second}/sequence/response", json={}, headers={}).status_code == 403  # no CSRF

    r = alice.post(
        f"/api/tasks/{second}/sequence/response",
        json={"samples": [{"task": second, "response": ans1}], "track_edits": [edit]},
        headers=hdr,
    )
    assert r.status_code == 200, r.text
    assert r.json()["submitted"] == 1 and r.json()["track_updates"] == 1
    got1 = next(b for b in last_response(db, second).payload["boxes"] if b["track_id"] == track)  # type: ignore[union-attr]
    assert got1["category"] == "van" and got1["box3d"][3:6] == size and got1["keyframe"] is True
    # her earlier answer on the first sample now has the track as a van of that size, at its own place and yaw
    earlier = last_response(db, first)
    assert earlier is not None
    got0 = next(b for b in earlier.payload["boxes"] if b["track_id"] == track)
    pre0 = next(lb for lb in labels0 if lb["track_id"] == track)
    assert got0["category"] == "van" and got0["box3d"][3:6] == size
    assert got0["box3d"][:3] == pre0["box3d"][:3] and got0["box3d"][6] == pre0["box3d"][6]
    others = [b for b in earlier.payload["boxes"] if b["track_id"] != track]
    assert [(b["category"], b["box3d"]) for b in others] == [
        (lb["category"], lb["box3d"]) for lb in labels0 if lb["track_id"] != track
    ]
    # bob's answer is his own: untouched
    bob_last = last_response(db, bobs["kitti-0001-000000"])
    assert bob_last is not None and all(b["category"] != "van" for b in bob_last.payload["boxes"])
    trail = [e for e in entries(db) if e["action"] == "task.track_edit"]
    assert len(trail) == 1 and trail[0]["task_id"] == first and trail[0]["actor"] == "alice"
    assert trail[0]["detail"]["track_edits"] == [edit] and trail[0]["detail"]["from_task"] == second

    # the export: Ground Truth's 3D tracking output, the track a van of that size on both samples
    import json

    from prelabel.review.export import export_job

    out = export_job(db, "kitti-seq", str(server.state.parent / "export"))
    assert out["sequences"] == 1 and out["tracking_skipped"] == {}
    (line,) = [json.loads(x) for x in Path(out["tracking_manifest"]).read_text().splitlines()]
    meta = line["prelabel-boxes-adjusted-ref-metadata"]
    assert meta["type"] == "groundtruth/lidar_object_tracking" and meta["adjustment-status"] == "adjusted"
    assert [o["frame-no"] for o in meta["objects"]] == [0, 1]
    written = json.loads(Path(line["source-ref"]).read_text())  # the input sequence file, written for the job
    assert [f["frame"] for f in written["frames"]] == [r.frame.uri for r in recs]
    doc = json.loads(Path(line["prelabel-boxes-adjusted-ref"]).read_text())
    frames = doc["tracking-annotations"]
    assert [f["frame-number"] for f in frames] == [0, 1] and frames[0]["frame-name"] == "000000.bin"
    (a1,) = [a for a in frames[1]["annotations"] if a["object-id"] == track]  # alice's alone
    assert a1["object-name"] == f"van:{track}" and [a1["length"], a1["width"], a1["height"]] == size
    assert a1["prelabel-origin"] == "human"
    (ai,) = [a for a in frames[1]["annotations"] if a["object-id"] == other["track_id"]]
    assert ai["prelabel-origin"] == "interpolated"
    rec1 = next(r for r in read_records(out["labels"]) if r.frame.id == "kitti-0001-000001")
    assert next(lb for lb in rec1.labels if lb.track_id == other["track_id"]).attributes["interpolated"] is True
    assert next(lb for lb in rec1.labels if lb.track_id == track).attributes["keyframe"] is True
    # the first sample has bob's answer too: the consolidation of both (a class tie keeps the pre-label's; the size
    # is their mean)
    (a0,) = [a for a in frames[0]["annotations"] if a["object-id"] == track]
    assert a0["object-name"] == f"{pre0['category']}:{track}"
    assert a0["height"] == pytest.approx((size[2] + pre0["box3d"][5]) / 2, abs=1e-4)
