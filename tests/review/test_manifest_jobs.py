"""Jobs from Ground Truth input manifests, output manifests that merge back by label id, and the consolidation rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.review.conftest import FRAMES

from prelabel.formats import groundtruth as gt
from prelabel.labelfile import read_records
from prelabel.review.consolidate import WorkerBox, consolidate_boxes, consolidate_verdicts
from prelabel.review.db import Database
from prelabel.review.errors import ReviewInputError
from prelabel.review.export import export_job, reviewed_records
from prelabel.review.responses import submit
from prelabel.review.review_jobs import create_job
from prelabel.review.sources import load_job_source
from prelabel.review.stats import job_stats
from prelabel.review.tasks import assign, worker_queue


@pytest.fixture()
def input_manifest(prelabels: Path, tmp_path: Path) -> Path:
    """An adjustment job's input manifest written by prelabel's Ground Truth writer, plus a key of the user's own."""
    records = [r for r in read_records(prelabels) if r.frame.id in FRAMES[:2]]
    dst = tmp_path / "input.manifest"
    gt.write(records, str(dst), attribute="vehicles", job_name="auto-label", categories=["car", "person", "truck"])
    lines = [json.loads(x) for x in dst.read_text().splitlines()]
    for line in lines:
        line["team-note"] = {"batch": 7}
    dst.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return dst


def test_manifest_job_round_trip(state: Path, input_manifest: Path, prelabels: Path, tmp_path: Path) -> None:
    db = Database(state)
    loaded = load_job_source(str(input_manifest))
    assert loaded.format == "groundtruth" and loaded.attribute == "vehicles"
    job, summary = create_job(
        db,
        "gt-job",
        "adjust",
        loaded.records,
        source=str(input_manifest),
        source_format=loaded.format,
        source_attribute=loaded.attribute,
        manifest_lines=loaded.lines,
        categories=["car", "person", "truck"],
    )
    assert job.attribute == "vehicles-adjusted" and summary["frames"] == 2
    # the manifest's label ids are the pre-labels' ids (prelabel's own key carried them)
    originals = {lb.id: lb for r in read_records(prelabels) for lb in r.labels}
    assert all(lb.id in originals for r in loaded.records for lb in r.labels)
    # an output attribute already in the manifest is refused; so is the original attribute
    with pytest.raises(ReviewInputError, match="team-note"):
        create_job(db, "clash", "adjust", loaded.records, source="m", source_attribute="vehicles",
                   manifest_lines=loaded.lines, attribute="team-note")  # fmt: skip
    with pytest.raises(Exception, match="different from the original"):
        create_job(db, "same", "adjust", loaded.records, source="m", source_attribute="vehicles",
                   manifest_lines=loaded.lines, attribute="vehicles")  # fmt: skip

    assign(db, job.id, ["alice"])
    for item in worker_queue(db, "alice"):
        rec = next(r for r in loaded.records if r.frame.id == item.task.frame_id)
        boxes = [{"id": lb.id, "category": lb.category, "box": list(lb.box.xyxy)} for lb in rec.labels if lb.box]
        if item.task.frame_id == FRAMES[0]:
            boxes[0]["category"] = "truck"  # re-class one box
            boxes.pop()  # delete the last
        submit(db, item.task.id, "alice", {"boxes": boxes})

    res = export_job(db, job, str(tmp_path / "out"))
    lines = [json.loads(x) for x in Path(res["manifest"]).read_text().splitlines()]
    assert len(lines) == 2
    src_lines = {json.loads(x)["source-ref"]: json.loads(x) for x in input_manifest.read_text().splitlines()}
    for line in lines:
        src = src_lines[line["source-ref"]]
        assert line["team-note"] == {"batch": 7}  # the user's own key survives
        assert line["vehicles"] == src["vehicles"] and line["vehicles-metadata"] == src["vehicles-metadata"]
        assert line["vehicles-adjusted-metadata"]["human-annotated"] == "yes"
    status = {Path(x["source-ref"]).stem: x["vehicles-adjusted-metadata"]["adjustment-status"] for x in lines}
    assert status == {FRAMES[0]: "adjusted", FRAMES[1]: "unadjusted"}

    # the output manifest read back by the formats module gives the same ids and review states as our labels file
    back = {r.frame.id: {lb.id: (lb.review, lb.category) for lb in r.labels} for r in gt.read(res["manifest"])}
    mine = {
        r.frame.id: {lb.id: (lb.review, lb.category) for lb in r.labels if lb.review != "rejected"}
        for r in reviewed_records(db, job)
    }
    assert back == mine
    st = job_stats(db, job)
    assert (st["reclassified"], st["removed"], st["added"], st["moved"]) == (1, 1, 0, 0)


def test_consolidation_majority_and_average() -> None:
    a = [WorkerBox("w1", "car", (10, 10, 50, 50), "p1"), WorkerBox("w1", "car", (200, 10, 240, 60), None)]
    b = [WorkerBox("w2", "car", (12, 10, 52, 50), "p1"), WorkerBox("w2", "person", (400, 10, 420, 60), None)]
    c = [WorkerBox("w3", "truck", (14, 10, 54, 50), "p1")]
    out = consolidate_boxes([a, b, c])
    # only the box that at least half of the three workers drew survives, averaged, class by majority
    assert len(out) == 1
    assert out[0].xyxy == pytest.approx((12, 10, 52, 50))
    assert out[0].category == "car" and out[0].id == "p1" and out[0].workers == ["w1", "w2", "w3"]
    assert 0.9 < out[0].confidence <= 1.0
    # one worker: everything kept as drawn; no workers: nothing
    assert [x.xyxy for x in consolidate_boxes([a])] == [(10, 10, 50, 50), (200, 10, 240, 60)]
    assert consolidate_boxes([]) == []
    # a contested pre-label id stays with one cluster only
    split = consolidate_boxes(
        [[WorkerBox("w1", "car", (0, 0, 10, 10), "p")], [WorkerBox("w2", "car", (50, 50, 60, 60), "p")]]
    )
    assert sorted(str(x.id) for x in split) == ["None", "p"]


def test_verdicts_majority_tie_is_bad() -> None:
    v = consolidate_verdicts(
        [
            ("w1", [{"id": "a", "verdict": "good"}, {"id": "b", "verdict": "bad", "comment": "a sign"}]),
            ("w2", [{"id": "a", "verdict": "good"}, {"id": "b", "verdict": "good"}]),
        ]
    )
    assert v["a"].verdict == "good" and v["a"].confidence == 1.0
    assert v["b"].verdict == "bad" and v["b"].confidence == 0.5
    assert v["b"].comments == [{"worker": "w1", "comment": "a sign"}]


def test_bad_sources_are_named(tmp_path: Path) -> None:
    from prelabel.errors import FormatError, InputNotFoundError

    with pytest.raises(InputNotFoundError):
        load_job_source(str(tmp_path / "none.jsonl"))
    p = tmp_path / "x.jsonl"
    p.write_text('{"hello": 1}\n')
    with pytest.raises(FormatError, match="neither 'frame'"):
        load_job_source(str(p))
    p.write_text("not json\n")
    with pytest.raises(FormatError, match="not valid JSON"):
        load_job_source(str(p))
    p.write_text(json.dumps({"source-ref": "a.png", "x": {"annotations": []}, "y": {"annotations": []}}) + "\n")
    with pytest.raises(ReviewInputError, match="--source-attribute"):
        load_job_source(str(p))
