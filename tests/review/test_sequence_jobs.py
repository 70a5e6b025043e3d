"""Sequence review jobs on the server: made from real tracking labels (KITTI tracking sequence 0001, BDD100K tracking
sequences), cut into tasks, answered track by track, exported with track ids and human/interpolated marks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prelabel.core.labels import FrameRecord
from prelabel.labelfile import read_records, write_records
from prelabel.review import sequence_tasks as st
from prelabel.review.db import Database
from prelabel.review.errors import ReviewInputError

BDD_SEQ = "b1c66a42-6f7d68ca"


def kitti_records(shared_data: Path) -> list[FrameRecord]:
    from prelabel.formats import kitti

    return list(kitti.read(str(shared_data / "kitti_tracking/tracking/training/label_02/0001.txt")))


def bdd_labels(shared_data: Path, out: Path, seq: str = BDD_SEQ) -> Path:
    """The BDD100K tracking sequence as a prelabel labels file (6 frames, real images)."""
    from prelabel.formats import scalabel

    track = shared_data / "bdd100k/track"
    recs = list(scalabel.read(str(track / "labels" / f"{seq}.json"), image_dir=str(track / "images" / seq)))
    write_records(out, recs)
    return out


def prelabel_answer(payload: dict[str, Any]) -> dict[str, Any]:
    """Every frame's boxes as the pre-labels stand (what the page submits when nothing was edited)."""
    return {
        "frames": [
            {
                "frame": f["id"],
                "boxes": [
                    {"id": lb["id"], "track_id": lb["track_id"], "category": lb["category"], "box": lb["box"],
                     "source": "prelabel"}
                    for lb in f["labels"]
                ],
            }
            for f in payload["frames"]
        ]
    }  # fmt: skip


def test_kitti_tracking_job_in_chunks(state: Path, shared_data: Path) -> None:
    from prelabel.review.tasks import assign, get_task, job_tasks

    db = Database(state)
    recs = kitti_records(shared_data)
    assert st.choose_kind("auto", recs, "labels") == "sequence"
    job, summary = st.create_sequence_job(db, "kitti-0001", recs, source="label_02/0001.txt", chunk=100)
    assert job.kind == "sequence" and job.chunk == 100 and job.type == "adjust"
    assert summary["frames"] == 447 and summary["sequences"] == 1 and summary["tasks_per_worker"] == 5
    dontcare = sum(1 for r in recs for lb in r.labels if lb.track_id is None)
    assert summary["untracked"] == dontcare > 0
    parts = st.chunks(db, job)
    assert [len(c.frame_ids) for c in parts] == [100, 100, 100, 100, 47]
    assert [c.key for c in parts] == [f"0001/{i:06d}" for i in (0, 100, 200, 300, 400)]
    # frames without an image on disk take the sequence's size (one camera)
    last = st.chunk_frames(db, job, parts[-1])
    assert [f.record.frame.index for f in last] == list(range(400, 447))
    assert {(f.record.frame.width, f.record.frame.height) for f in last} == {(1242, 375)}
    assert assign(db, job.id, ["alice"], actor="admin") == 5
    assert assign(db, job.id, ["bob"], frames=["0001/000150"]) == 1  # the chunk holding that frame
    tasks = job_tasks(db, job.id)
    assert sorted(t.frame_id for t in tasks if t.worker == "alice") == [c.key for c in parts]
    bob = next(t for t in tasks if t.worker == "bob")
    assert bob.frame_id == "0001/000100"
    payload = st.task_payload(db, job, get_task(db, bob.id, "bob"), "")
    assert payload["sequence"] == {"name": "0001", "part": 2, "parts": 5, "frames": 100}
    assert [f["index"] for f in payload["frames"]] == list(range(100, 200))
    shown = [lb for f in payload["frames"] for lb in f["labels"]]
    assert shown and all(lb["track_id"] is not None for lb in shown)
    assert payload["frames"][0]["image"] == f"/api/tasks/{bob.id}/frames/0/image"


def test_one_track_twice_in_a_frame_refused(state: Path, shared_data: Path) -> None:
    recs = kitti_records(shared_data)[:20]
    r = recs[7]
    tracked = [lb for lb in r.labels if lb.track_id is not None]
    dup = tracked[1].model_copy(update={"track_id": tracked[0].track_id})
    recs[7] = r.model_copy(update={"labels": [tracked[0], dup]})
    with pytest.raises(ReviewInputError, match=rf"track id {tracked[0].track_id} appears twice in frame 0001/000007"):
        st.create_sequence_job(Database(state), "dup", recs, source="0001.txt")


def _bdd_job(state: Path, shared_data: Path, tmp_path: Path) -> tuple[Database, Any, Any, dict[str, Any]]:
    from prelabel.review.sources import load_job_source
    from prelabel.review.tasks import assign, get_task, job_tasks

    db = Database(state)
    src = bdd_labels(shared_data, tmp_path / "bdd.jsonl")
    loaded = load_job_source(str(src))
    assert st.choose_kind("auto", loaded.records, loaded.format) == "sequence"
    job, summary = st.create_sequence_job(db, "bdd", loaded.records, source=str(src))
    assert summary["frames"] == 6 and summary["tasks_per_worker"] == 1
    assign(db, job.id, ["alice"])
    task = get_task(db, job_tasks(db, job.id)[0].id, "alice")
    return db, job, task, st.task_payload(db, job, task, "")


def test_track_edits_export_marks(state: Path, shared_data: Path, tmp_path: Path) -> None:
    from prelabel.formats import groundtruth_video
    from prelabel.refine.interpolate import interpolate_sequence
    from prelabel.review.audit import entries
    from prelabel.review.export import export_job, reviewed_records
    from prelabel.review.responses import submit
    from prelabel.review.stats import job_stats

    db, job, task, payload = _bdd_job(state, shared_data, tmp_path)
    answer = prelabel_answer(payload)
    frames = answer["frames"]
    # a track present in every frame: a new class for all of it, keyframes at 0 and 5 (5 moved), 1-4 interpolated
    common = set.intersection(*({b["track_id"] for b in f["boxes"]} for f in frames))
    tid = sorted(common)[0]
    old_cat = next(b for b in frames[0]["boxes"] if b["track_id"] == tid)["category"]
    new_cat = next(c for c in job.categories if c != old_cat)
    for f in frames:
        for b in f["boxes"]:
            if b["track_id"] == tid:
                b["category"] = new_cat
    k0 = next(b for b in frames[0]["boxes"] if b["track_id"] == tid)
    k5 = next(b for b in frames[5]["boxes"] if b["track_id"] == tid)
    k0["source"] = "human"
    k5["source"], k5["box"] = "human", [round(v + 10.5, 2) for v in k5["box"]]
    recs = [FrameRecord.from_json(json.dumps({"frame": {"id": f["frame"], "uri": f["frame"]}, "labels": [
        {"id": f"{tid}-{i}", "category": new_cat, "source": "human:alice", "track_id": tid,
         "box": {"x1": b["box"][0], "y1": b["box"][1], "x2": b["box"][2], "y2": b["box"][3]}}
        for b in f["boxes"] if b["track_id"] == tid]})) for i, f in enumerate(frames)]  # fmt: skip
    filled, n = interpolate_sequence(recs, lambda r: r.frame.id in (frames[0]["frame"], frames[5]["frame"]))
    assert n == 4
    for k in range(1, 5):
        b = next(b for b in frames[k]["boxes"] if b["track_id"] == tid)
        b["source"] = "interpolated"
        b["box"] = list(filled[k].labels[0].box.xyxy)  # type: ignore[union-attr]
    # split another track at frame 3: its boxes from there on get a new id
    other = sorted(common - {tid})[0]
    for f in frames[3:]:
        for b in f["boxes"]:
            if b["track_id"] == other:
                b["track_id"] = f"{other}~split"
    # delete one box of a third track in frame 2
    gone = frames[2]["boxes"].pop(-1)
    answer["edits"] = [{"op": "class", "track": tid, "to": new_cat}, {"op": "split", "track": other, "frame": 3}]
    submit(db, task.id, "alice", answer)

    records = reviewed_records(db, job)
    assert len(records) == 6
    by_frame = {r.frame.id: r for r in records}
    for k, f in enumerate(frames):
        lab = next(lb for lb in by_frame[f["frame"]].labels if lb.track_id == tid)
        assert lab.category == new_cat
        want = "human" if k in (0, 5) else "interpolated"
        assert lab.attributes["review_source"] == want
        assert lab.attributes.get("keyframe", False) == (want == "human")
        assert lab.attributes.get("interpolated", False) == (want == "interpolated")
        if want == "interpolated":
            ends = [by_frame[frames[i]["frame"]].frame.index for i in (0, 5)]
            assert lab.attributes["keyframes"] == ends
            assert list(lab.box.xyxy) == pytest.approx(list(filled[k].labels[0].box.xyxy), abs=0.006)  # type: ignore[union-attr]
    split = [lb for r in records for lb in r.labels if lb.track_id == f"{other}~split"]
    assert len(split) == 3 and all(lb.attributes["prelabel_track_id"] == other for lb in split)
    untouched = [lb for r in records for lb in r.labels if lb.attributes.get("review_source") == "prelabel"]
    assert untouched and all(lb.review == "accepted" for lb in untouched if lb.track_id not in (tid, f"{other}~split"))
    deleted = [lb for lb in by_frame[frames[2]["frame"]].labels if lb.id == gone["id"]]
    assert deleted[0].review == "rejected"

    s = job_stats(db, job)
    assert s["frames_reviewed"] == 6 and s["reclassified"] >= 6
    audit = [e for e in entries(db, job_id=job.id) if e["action"] == "task.submit"]
    assert audit and audit[-1]["detail"]["answer"]["edits"][1]["op"] == "split"

    res = export_job(db, job, str(tmp_path / "out"))
    assert res["frames_reviewed"] == 6 and res["worker_responses"] == 1
    back = list(groundtruth_video.read(res["tracking_manifest"]))
    assert len(back) == 6
    got = {(r.frame.index, lb.track_id): lb for r in back for lb in r.labels}
    for k, f in enumerate(frames):
        lab = got[(by_frame[f["frame"]].frame.index, tid)]
        assert lab.category == new_cat
        assert lab.attributes["review_source"] == ("human" if k in (0, 5) else "interpolated")
    manifest = tmp_path / "out" / "bdd" / "manifests" / "output" / "output.manifest"
    line = json.loads(manifest.read_text().splitlines()[0])
    assert line["prelabel-boxes-adjusted-metadata"]["human-annotated"] == "yes"
    assert read_records(res["labels"])[0].labels[0].track_id is not None


def test_bad_answers_refused(state: Path, shared_data: Path, tmp_path: Path) -> None:
    from prelabel.review.responses import submit

    db, job, task, payload = _bdd_job(state, shared_data, tmp_path)

    def refused(answer: dict[str, Any], match: str) -> None:
        with pytest.raises(ReviewInputError, match=match):
            submit(db, task.id, "alice", answer)

    a = prelabel_answer(payload)
    b0 = a["frames"][1]["boxes"]
    refused({**a, "frames": a["frames"][:5]}, "missing: " + payload["frames"][5]["id"])
    dup = json.loads(json.dumps(a))
    dup["frames"][1]["boxes"][1]["track_id"] = b0[0]["track_id"]
    refused(dup, f"track id {b0[0]['track_id']} appears twice in frame {payload['frames'][1]['id']}")
    moved = json.loads(json.dumps(a))
    moved["frames"][1]["boxes"][0]["box"][0] += 20
    refused(moved, "marked 'prelabel' but it is not the model's box")
    # interpolation between keyframes of different classes
    tid = b0[0]["track_id"]
    mixed = json.loads(json.dumps(a))
    cats = [c for c in job.categories]
    for k, f in enumerate(mixed["frames"][:3]):
        for b in f["boxes"]:
            if b["track_id"] == tid:
                b["source"] = ["human", "interpolated", "human"][k]
                if k == 2:
                    b["category"] = next(c for c in cats if c != b["category"])
    assert all(any(b["track_id"] == tid for b in f["boxes"]) for f in mixed["frames"][:3])
    refused(mixed, f"track {tid}: keyframe .* says .* but keyframe .* says .*interpolation needs one class")
    refused({"frames": "x"}, "needs 'frames'")
    assert submit(db, task.id, "alice", a).payload["frames"][0]["frame"] == payload["frames"][0]["id"]


def test_sequence_export_to_s3(s3_server: str, state: Path, shared_data: Path, tmp_path: Path) -> None:
    """``export_job`` to ``s3://`` (moto's S3 server on 127.0.0.1) writes the video-frame tracking output too, the
    same files as a local export; a second export without ``overwrite`` is refused and replaces nothing."""
    import s3fs

    from prelabel import storage
    from prelabel.errors import OutputExistsError
    from prelabel.formats import groundtruth_video
    from prelabel.review.export import export_job
    from prelabel.review.responses import submit

    db, job, task, payload = _bdd_job(state, shared_data, tmp_path)
    answer = prelabel_answer(payload)
    answer["frames"][0]["boxes"][0]["source"] = "human"
    submit(db, task.id, "alice", answer)
    s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}).mkdir("seqbkt")
    res = export_job(db, job, "s3://seqbkt/exports")
    assert res["tracking_manifest"] == "s3://seqbkt/exports/bdd/manifests/output/tracking/output.manifest"
    local = export_job(db, job, str(tmp_path / "out"))
    tracking = Path(local["tracking_manifest"]).parent
    names = sorted(p.name for p in tracking.iterdir())
    assert names == [f"{BDD_SEQ}-labels.json", f"{BDD_SEQ}.json", "output.manifest"]
    for name in names:  # byte for byte what the local export wrote
        assert (
            storage.read_text(f"s3://seqbkt/exports/bdd/manifests/output/tracking/{name}")
            == (tracking / name).read_text()
        )
    back = list(groundtruth_video.read(res["tracking_manifest"]))  # read back from S3, refs resolved there
    assert len(back) == 6 and all(r.frame.sequence == BDD_SEQ for r in back)
    marks = [lb.attributes["review_source"] for r in back for lb in r.labels]
    assert marks.count("human") == 1 and set(marks) == {"human", "prelabel"}
    assert [r.frame.uri for r in back] == [r.frame.uri for r in groundtruth_video.read(local["tracking_manifest"])]
    before = storage.read_text(res["tracking_manifest"])
    with pytest.raises(OutputExistsError, match="s3://seqbkt/exports/bdd"):
        export_job(db, job, "s3://seqbkt/exports")
    assert storage.read_text(res["tracking_manifest"]) == before
    again = export_job(db, job, "s3://seqbkt/exports", overwrite=True)
    assert storage.read_text(again["tracking_manifest"]) == before


def test_overlapping_chunks(state: Path, shared_data: Path, tmp_path: Path) -> None:
    """Chunks of 4 frames sharing 2 (the 6-frame BDD100K sequence: frames 0-3 and 2-5): a track crossing the border
    is in both tasks with the same id; on the shared frames the later task's answer wins once it has one."""
    from prelabel.formats import groundtruth_video
    from prelabel.review.export import export_job, reviewed_records
    from prelabel.review.responses import submit
    from prelabel.review.sources import load_job_source
    from prelabel.review.tasks import assign, get_task, job_tasks

    db = Database(state)
    loaded = load_job_source(str(bdd_labels(shared_data, tmp_path / "bdd.jsonl")))
    with pytest.raises(ReviewInputError, match="chunk overlap .* must be 0-3 for chunks of 4 frames; got 4"):
        st.create_sequence_job(db, "bad", loaded.records, source="bdd.jsonl", chunk=4, overlap=4)
    job, summary = st.create_sequence_job(db, "bddo", loaded.records, source="bdd.jsonl", chunk=4, overlap=2)
    assert job.overlap == 2 and summary["tasks_per_worker"] == 2
    parts = st.chunks(db, job)
    ids = parts[0].frame_ids + parts[1].frame_ids[2:]
    assert [len(c.frame_ids) for c in parts] == [4, 4] and parts[0].frame_ids[2:] == parts[1].frame_ids[:2]
    assert len(set(ids)) == 6
    assign(db, job.id, ["alice"])
    first, second = (get_task(db, t.id, "alice") for t in sorted(job_tasks(db, job.id), key=lambda t: t.id))
    pa = st.task_payload(db, job, first, "")
    pb = st.task_payload(db, job, second, "")
    tracks_a = {lb["track_id"] for f in pa["frames"][2:] for lb in f["labels"]}
    tracks_b = {lb["track_id"] for f in pb["frames"][:2] for lb in f["labels"]}
    assert tracks_a == tracks_b and tracks_a  # the same tracks, same ids, on the shared frames
    tid = sorted(tracks_a)[0]

    def answer(payload: dict[str, Any], shift: float) -> dict[str, Any]:
        out = prelabel_answer(payload)
        for f in out["frames"]:
            for b in f["boxes"]:
                if b["track_id"] == tid:
                    b["source"], b["box"] = "human", [round(v + shift, 2) for v in b["box"]]
        return out

    def box_of(frame_id: str) -> tuple[list[float], str]:
        rec = next(r for r in reviewed_records(db, job) if r.frame.id == frame_id)
        lab = next(lb for lb in rec.labels if lb.track_id == tid)
        return [round(v - b0, 2) for v, b0 in zip(lab.box.xyxy, orig[frame_id], strict=True)], lab.source  # type: ignore[union-attr]

    orig = {f["id"]: lb["box"] for f in [*pa["frames"], *pb["frames"]] for lb in f["labels"] if lb["track_id"] == tid}
    submit(db, first.id, "alice", answer(pa, 5.0))
    shared = parts[1].frame_ids[:2]
    assert {box_of(f)[0][0] for f in shared} == {5.0}  # the later task has no answer yet: the earlier one counts
    assert len(reviewed_records(db, job, include_pending=False)) == 4
    submit(db, second.id, "alice", answer(pb, 20.0))
    assert [box_of(f)[0][0] for f in ids[:2]] == [5.0, 5.0]  # only the first task has these
    assert [box_of(f)[0][0] for f in ids[4:]] == [20.0, 20.0]
    assert [box_of(f)[0][0] for f in shared] == [20.0, 20.0]  # the later task wins on the shared frames
    res = export_job(db, job, str(tmp_path / "out"))
    assert res["frames_reviewed"] == 6 and res["frames"] == 6 and res["worker_responses"] == 2
    back = list(groundtruth_video.read(res["tracking_manifest"]))
    assert len(back) == 6  # each frame once
    assert sum(1 for r in back for lb in r.labels if lb.track_id == tid) == 6  # one track, one id, across the border
