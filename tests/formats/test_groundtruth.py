from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from prelabel.core.labels import Box2D, Frame, FrameRecord, Label, ReviewState
from prelabel.errors import FormatError
from prelabel.formats import groundtruth as gt

from .golden import check_golden, peak_bytes_while_reading
from .samples import SRC, sample_records

DATE = "2026-01-01T00:00:00.000000"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines()]


def test_adjustment_job_files_golden(tmp_path: Path) -> None:
    job = gt.write_job(sample_records(), str(tmp_path / "job"), job_name="kitti-adjust", creation_date=DATE)
    assert job.categories == ["car", "person", "Fußgänger 行人", "truck", "bus", "Car"]
    assert job.summary.frames == 3 and job.summary.labels == 7
    check_golden("groundtruth/input.manifest", Path(job.manifest).read_text(encoding="utf-8"))
    check_golden("groundtruth/label-categories.json", Path(job.label_categories).read_text(encoding="utf-8"))
    check_golden("groundtruth/adjust.liquid.html", Path(job.template).read_text(encoding="utf-8"))
    first = _lines(Path(job.manifest))[0]
    # DESIGN §6 shape: left/top/width/height integers, class ids into the class-map, one confidence per box
    assert first["source-ref"] == "/data/images/a.png"
    assert first["prelabel-boxes"]["image_size"] == [{"width": 640, "height": 480, "depth": 3}]
    assert first["prelabel-boxes"]["annotations"][0] == {
        "class_id": 0,
        "left": 10,
        "top": 20,
        "width": 100,
        "height": 60,
    }
    meta = first["prelabel-boxes-metadata"]
    assert meta["objects"][0] == {"confidence": 0.875} and meta["class-map"]["0"] == "car"
    assert meta["type"] == "groundtruth/object-detection" and meta["human-annotated"] == "no"
    assert meta["job-name"] == "labeling-job/kitti-adjust" and meta["creation-date"] == DATE
    assert json.loads(Path(job.label_categories).read_text())["document-version"] == "2018-11-28"


def _render(template: str, line: dict[str, Any]) -> str:
    """Render the worker template as Ground Truth does (Liquid, with AWS's to_json and grant_read_access)."""
    import liquid

    env = liquid.Environment()
    env.filters["to_json"] = lambda v: json.dumps(v)
    env.filters["grant_read_access"] = lambda v: f"https://signed.example/{v}"
    return env.from_string(template).render(task={"input": {"taskObject": line["source-ref"], "manifestLine": line}})


@pytest.mark.parametrize("task", ["adjustment", "verification"])
def test_worker_template_renders_the_manifest_boxes(tmp_path: Path, task: str) -> None:
    job = gt.write_job(sample_records(), str(tmp_path), task=task)  # type: ignore[arg-type]
    line = _lines(Path(job.manifest))[0]
    page = _render(Path(job.template).read_text(encoding="utf-8"), line)
    attr = "initial-value" if task == "adjustment" else "overlay"
    m = re.search(attr + r'="([^"]*)"', page)
    assert m is not None, page
    value = json.loads(html.unescape(m.group(1)))
    boxes = value if task == "adjustment" else value["boundingBox"]["value"]
    assert len(boxes) == len(line["prelabel-boxes"]["annotations"]) == 6
    assert boxes[0] == {"label": "car", "left": 10, "top": 20, "width": 100, "height": 60}
    assert boxes[3]["label"] == "Fußgänger 行人"
    assert 'src="https://signed.example//data/images/a.png"' in page
    if task == "adjustment":
        assert "<crowd-bounding-box" in page
        assert json.loads(html.unescape(re.search(r'labels="([^"]*)"', page).group(1)))[0] == "car"  # type: ignore[union-attr]
    else:
        assert "<crowd-image-classifier" in page and value["boundingBox"]["labels"][0] == "car"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "non-empty"),
        ("boxes-ref", "'-ref'"),
        ("boxes-metadata-v2", "'-metadata'"),
        ("-boxes", "letters, digits and hyphens"),
        ("boxes_v2", "letters, digits and hyphens"),
        ("a" * 128, "1-127"),
        ("source-ref", "'-ref'"),
    ],
)
def test_attribute_name_rules(name: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        gt.check_attribute(name)


def test_new_attribute_must_differ_from_original(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="different from the original"):
        gt.write_output_manifest(
            sample_records(), str(tmp_path / "o"), attribute="boxes", original_attribute="boxes", job_name="j"
        )


def test_line_limit_is_enforced_with_a_clear_error(tmp_path: Path) -> None:
    labels = [
        Label(id=f"l{i}", category="car", source=SRC, score=0.5, box=Box2D(x1=i % 600, y1=1, x2=i % 600 + 9, y2=30))
        for i in range(1500)
    ]
    rec = FrameRecord(frame=Frame(id="crowded", uri="/x/crowded.png", width=640, height=480), labels=labels)
    with pytest.raises(FormatError, match=r"frame crowded: its manifest line is [\d,]+ characters; .* 100,000"):
        gt.write([rec], str(tmp_path / "m.manifest"))
    assert not (tmp_path / "m.manifest").exists()  # nothing half-written
    gt.write([rec.model_copy(update={"labels": labels[:300]})], str(tmp_path / "m.manifest"))


def test_frame_without_size_and_unreadable_image_is_refused(tmp_path: Path) -> None:
    rec = FrameRecord(
        frame=Frame(id="nosize", uri="/nowhere/x.png"),
        labels=[Label(category="car", source=SRC, box=Box2D(x1=0, y1=0, x2=1, y2=1))],
    )
    with pytest.raises(FormatError, match="frame nosize: Ground Truth needs image_size"):
        gt.write([rec], str(tmp_path / "m.manifest"))


def test_size_read_from_the_real_image(kitti: Path, tmp_path: Path) -> None:
    rec = FrameRecord(
        frame=Frame(id="000001", uri=str(kitti / "image_2" / "000001.png")),
        labels=[Label(category="car", source=SRC, score=0.9, box=Box2D(x1=0, y1=0, x2=10, y2=10))],
    )
    gt.write([rec], str(tmp_path / "m.manifest"), source_prefix="s3://bucket/frames/")
    line = _lines(tmp_path / "m.manifest")[0]
    assert line["source-ref"] == "s3://bucket/frames/000001.png"
    assert line["prelabel-boxes"]["image_size"] == [{"width": 1242, "height": 375, "depth": 3}]


# Output manifests shaped as in the AWS documentation (DESIGN §6): an adjustment job that moved one box,
# deleted one, added one and relabelled one; a verification job that said "bad" with feedback.
AWS_ADJUSTED = {
    "source-ref": "s3://bucket/frames/000123.png",
    "bounding-box": {
        "image_size": [{"width": 1920, "height": 1200, "depth": 3}],
        "annotations": [
            {"class_id": 0, "left": 111, "top": 134, "width": 61, "height": 128},
            {"class_id": 0, "left": 500, "top": 500, "width": 50, "height": 50},
            {"class_id": 1, "left": 900, "top": 100, "width": 100, "height": 100},
        ],
    },
    "bounding-box-metadata": {
        "objects": [{"confidence": 0.8}, {"confidence": 0.6}, {"confidence": 0.7}],
        "class-map": {"0": "car", "1": "truck"},
        "type": "groundtruth/object-detection",
        "human-annotated": "no",
        "creation-date": "2018-10-18T22:18:13.527256",
        "job-name": "labeling-job/auto-label",
    },
    "adjusted-box": {
        "image_size": [{"width": 1920, "height": 1200, "depth": 3}],
        "annotations": [
            {"class_id": 0, "left": 111, "top": 134, "width": 61, "height": 128},
            {"class_id": 0, "left": 904, "top": 102, "width": 100, "height": 100},
            {"class_id": 2, "left": 10, "top": 10, "width": 40, "height": 80},
        ],
    },
    "adjusted-box-metadata": {
        "objects": [{"confidence": 0.09}, {"confidence": 0.09}, {"confidence": 0.09}],
        "class-map": {"0": "car", "2": "pedestrian"},
        "type": "groundtruth/object-detection",
        "human-annotated": "yes",
        "creation-date": "2018-11-20T22:18:13.527256",
        "job-name": "labeling-job/adjust",
        "adjustment-status": "adjusted",
    },
}


def test_reads_aws_adjusted_output(tmp_path: Path) -> None:
    p = tmp_path / "output.manifest"
    p.write_text(json.dumps(AWS_ADJUSTED) + "\n")
    rec = next(gt.read(str(p)))
    assert rec.frame.id == "000123" and (rec.frame.width, rec.frame.height) == (1920, 1200)
    by_review: dict[str, list[Label]] = {}
    for lb in rec.labels:
        by_review.setdefault(lb.review.value, []).append(lb)
    accepted = by_review["accepted"]
    # the untouched car keeps the pre-label's source and confidence; the new pedestrian is a person's
    assert {(lb.category, lb.source) for lb in accepted} == {
        ("car", "import:groundtruth"),
        ("pedestrian", "human:groundtruth"),
    }
    assert next(lb for lb in accepted if lb.category == "car").score == 0.8
    adjusted = by_review["adjusted"]
    assert len(adjusted) == 1 and adjusted[0].category == "car" and adjusted[0].source == "human:groundtruth"
    assert adjusted[0].box is not None and adjusted[0].box.xyxy == (904, 102, 1004, 202)
    rejected = by_review["rejected"]
    assert [lb.box.xyxy for lb in rejected if lb.box] == [(500, 500, 550, 550)]
    # ids of matched labels are the original ones: reading the original attribute gives the same ids
    orig = {lb.box.xyxy: lb.id for lb in next(gt.read(str(p), attribute="bounding-box")).labels if lb.box}
    assert adjusted[0].id == orig[(900, 100, 1000, 200)] and rejected[0].id == orig[(500, 500, 550, 550)]


def test_reads_aws_verification_output(tmp_path: Path) -> None:
    line = {k: v for k, v in AWS_ADJUSTED.items() if not k.startswith("adjusted-box")}
    line["verify-bounding-box"] = "1"
    line["verify-bounding-box-metadata"] = {
        "class-name": "bad",
        "confidence": 0.93,
        "type": "groundtruth/label-verification",
        "job-name": "verify-bounding-boxes",
        "human-annotated": "yes",
        "creation-date": "2018-10-18T22:18:13.527256",
        "worker-feedback": [{"comment": "The bounding box on the bird is too wide on the right side."}],
    }
    p = tmp_path / "output.manifest"
    p.write_text(
        json.dumps(line)
        + "\n"
        + json.dumps(
            {
                **line,
                "verify-bounding-box": "0",
                "verify-bounding-box-metadata": {
                    **line["verify-bounding-box-metadata"],  # type: ignore[dict-item]
                    "class-name": "good",
                },
            }
        )
        + "\n"
    )
    bad, good = list(gt.read(str(p)))
    assert [lb.review for lb in bad.labels] == [ReviewState.REJECTED] * 3
    assert [lb.review for lb in good.labels] == [ReviewState.ACCEPTED] * 3
    assert bad.frame.meta["verification"]["verify-bounding-box"]["comments"][0].startswith("The bounding box")
    assert all(lb.source == "import:groundtruth" and lb.score is not None for lb in bad.labels)


def test_review_round_trip_through_an_output_manifest(tmp_path: Path) -> None:
    recs = sample_records()
    a = recs[0]
    reviewed = [
        a.labels[0].model_copy(update={"review": ReviewState.ACCEPTED}),
        a.labels[1].model_copy(update={"review": ReviewState.REJECTED}),
        a.labels[2].model_copy(
            update={
                "review": ReviewState.ADJUSTED,
                "source": "human:bo",
                "box": Box2D(x1=290, y1=200, x2=320, y2=230),
                "score": None,
            }
        ),
        *a.labels[3:],
        Label(
            id="new-1",
            category="person",
            source="human:bo",
            review=ReviewState.ACCEPTED,
            box=Box2D(x1=1, y1=2, x2=30, y2=40),
            attributes={"added_in_review": True},
        ),
    ]
    recs[0] = a.model_copy(update={"labels": reviewed})
    out = tmp_path / "output.manifest"
    s = gt.write_output_manifest(
        recs,
        str(out),
        attribute="reviewed",
        original_attribute="prelabel-boxes",
        job_name="review-1",
        worker_feedback={"a": ["one box too wide"]},
        originals=sample_records(),
        creation_date=DATE,
    )
    assert s.frames == 3
    check_golden("groundtruth/output.manifest", out.read_text(encoding="utf-8"))
    lines = _lines(out)
    assert lines[0]["reviewed-metadata"]["adjustment-status"] == "adjusted"
    assert lines[1]["reviewed-metadata"]["adjustment-status"] == "unadjusted"
    assert lines[0]["reviewed-metadata"]["human-annotated"] == "yes"
    back = {r.frame.id: r for r in gt.read(str(out))}
    want = {lb.id: lb for lb in reviewed if lb.review != ReviewState.REJECTED}
    got = {lb.id: lb for lb in back["a"].labels}
    assert set(got) == set(want)
    for i, lb in got.items():
        assert (lb.category, lb.source, lb.review) == (want[i].category, want[i].source, want[i].review)
        assert lb.box is not None and lb.box.xyxy == tuple(float(round(v)) for v in want[i].box.xyxy)  # type: ignore[union-attr]
    # the pre-label attribute as sent keeps the rejected one too
    sent = next(r for r in gt.read(str(out), attribute="prelabel-boxes") if r.frame.id == "a")
    assert "l-border" in {lb.id for lb in sent.labels} and "new-1" not in {lb.id for lb in sent.labels}
    # verification flavour
    ver = tmp_path / "verify.manifest"
    gt.write_output_manifest(
        recs, str(ver), attribute="verified", original_attribute="prelabel-boxes", job_name="v", kind="verification"
    )
    va, vb, _ = list(gt.read(str(ver)))
    assert {lb.review for lb in va.labels} == {ReviewState.REJECTED}  # frame a had rejections: "bad"
    assert {lb.review for lb in vb.labels} <= {ReviewState.ACCEPTED}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json\n", "not valid JSON"),
        ("[1]\n", "expected a JSON object per line"),
        ('{"source": "some text"}\n', "needs a 'source-ref'"),
        (
            '{"source-ref": "s3://b/x.png", "b": {"annotations": [{"class_id": 3, "left": 0, "top": 0, "width": 1, '
            '"height": 1}]}, "b-metadata": {"class-map": {"0": "car"}, "type": "groundtruth/object-detection"}}\n',
            "class_id 3, not in the class-map",
        ),
        (
            '{"source-ref": "s3://b/x.png", "b": {"annotations": [{"class_id": 0, "left": 0, "top": 0, "width": -1, '
            '"height": 1}]}, "b-metadata": {"class-map": {"0": "car"}, "type": "groundtruth/object-detection"}}\n',
            "negative width",
        ),
    ],
)
def test_bad_manifest_lines_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "bad.manifest"
    p.write_text('{"source-ref": "s3://b/ok.png"}\n' + text)
    with pytest.raises(FormatError, match=message) as e:
        list(gt.read(str(p)))
    assert "bad.manifest:2" in str(e.value)


def test_huge_manifest_is_streamed(tmp_path: Path) -> None:
    line = dict(AWS_ADJUSTED)
    p = tmp_path / "output.manifest"
    n = 2500
    with open(p, "w") as f:
        for i in range(n):
            line["source-ref"] = f"s3://bucket/frames/{i:06d}.png"
            f.write(json.dumps(line) + "\n")
    size = p.stat().st_size
    count, labels, peak = peak_bytes_while_reading("groundtruth", p)
    assert (count, labels) == (n, 4 * n)
    assert peak < size / 3, f"peak {peak} bytes while reading a {size}-byte manifest: not streamed"


def test_job_round_trip_keeps_prelabel_ids(tmp_path: Path) -> None:
    """Pre-labels out through an input manifest, a Ground Truth adjustment appended to each line (as the service
    does: same line, a new attribute), back in: every box merges onto the pre-label it came from."""
    recs = sample_records(with_mask=False, with_3d=False)
    gt.write(recs, str(tmp_path / "input.manifest"))
    out_lines = []
    for line in _lines(tmp_path / "input.manifest"):
        adjusted = json.loads(json.dumps(line["prelabel-boxes"]))
        meta = dict(
            line["prelabel-boxes-metadata"],
            **{"human-annotated": "yes", "adjustment-status": "adjusted", "creation-date": "2030-01-01T00:00:00"},
        )
        if adjusted["annotations"]:
            adjusted["annotations"][0]["left"] += 3  # the worker nudged the first box
            del adjusted["annotations"][1]  # and deleted the second
        out_lines.append({**line, "gt-adjusted": adjusted, "gt-adjusted-metadata": meta})
    (tmp_path / "output.manifest").write_text("".join(json.dumps(x) + "\n" for x in out_lines))
    back = {r.frame.id: r for r in gt.read(str(tmp_path / "output.manifest"))}
    a = {lb.id: lb for lb in back["a"].labels}
    assert set(a) == {lb.id for lb in recs[0].labels}
    assert a["l-car"].review == ReviewState.ADJUSTED and a["l-car"].source == "human:groundtruth"
    assert a["l-border"].review == ReviewState.REJECTED and a["l-border"].source == SRC
    assert a["l-poly"].review == ReviewState.ACCEPTED and a["l-poly"].source == SRC and a["l-poly"].score == 0.75
    assert a["l-unicode"].source == "human:anna"
    assert back["b"].labels == []


def test_reads_a_plain_labeling_job_output(tmp_path: Path) -> None:
    """A bounding-box labeling job's output (people drew every box): human labels, accepted, no score."""
    line = {
        "source-ref": "s3://bucket/frames/000007.png",
        "bounding-box": {
            "image_size": [{"width": 1242, "height": 375, "depth": 3}],
            "annotations": [{"class_id": 0, "left": 600, "top": 150, "width": 30, "height": 40}],
        },
        "bounding-box-metadata": {
            "objects": [{"confidence": 0.09}],
            "class-map": {"0": "Car"},
            "type": "groundtruth/object-detection",
            "human-annotated": "yes",
            "creation-date": "2018-10-18T22:18:13.527256",
            "job-name": "labeling-job/kitti",
        },
    }
    p = tmp_path / "output.manifest"
    p.write_text(json.dumps(line) + "\n\n")  # a blank line is skipped
    (rec,) = list(gt.read(str(p), worker="team-a", image_dir="/data/kitti/image_2"))
    assert rec.frame.id == "000007" and rec.frame.uri == "/data/kitti/image_2/000007.png"
    assert rec.frame.meta["source-ref"] == "s3://bucket/frames/000007.png"
    (lb,) = rec.labels
    assert (lb.category, lb.source, lb.review, lb.score) == ("Car", "human:team-a", ReviewState.ACCEPTED, None)
    assert lb.attributes == {"gt_confidence": 0.09} and lb.box is not None and lb.box.xyxy == (600, 150, 630, 190)
