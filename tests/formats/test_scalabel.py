from __future__ import annotations

import json
from pathlib import Path

import pytest

from prelabel.errors import FormatError
from prelabel.formats import scalabel

from .golden import check_golden, peak_bytes_while_reading
from .samples import sample_records


def _no_time(recs):  # created_at is when a record was made, not part of the labels
    return [r.model_dump(exclude={"created_at"}) for r in recs]


def test_reads_scalabel_eval_predictions_with_scores(shared_data: Path) -> None:
    path = shared_data / "scalabel_eval" / "eval" / "det" / "bbox_predictions.json"
    raw = json.loads(path.read_text())
    recs = list(scalabel.read(str(path)))
    assert len(recs) == len(raw) == 202
    assert sum(len(r.labels) for r in recs) == sum(len(f["labels"]) for f in raw)
    first = raw[0]["labels"][0]
    lb = recs[0].labels[0]
    assert recs[0].frame.id == "b1c66a42-6f7d68ca-0000001"
    assert lb.score == first["score"] and lb.category == first["category"]
    assert lb.box is not None and lb.box.xyxy == tuple(first["box2d"][k] for k in ("x1", "y1", "x2", "y2"))
    assert all(lb.score is not None for r in recs for lb in r.labels)


def test_reads_scalabel_eval_ground_truth_with_tracks(shared_data: Path) -> None:
    path = shared_data / "scalabel_eval" / "eval" / "box_track" / "track_sample_anns.json"
    raw = json.loads(path.read_text())
    recs = list(scalabel.read(str(path), image_size=(1280, 720)))
    assert sum(len(r.labels) for r in recs) == sum(len(f["labels"]) for f in raw)
    assert recs[0].frame.meta["videoName"] == "b1c66a42-6f7d68ca" and recs[0].frame.width == 1280
    lb = recs[0].labels[0]
    assert lb.track_id == raw[0]["labels"][0]["id"] and lb.score is None
    assert lb.attributes["crowd"] is False and lb.attributes["truncated"] is True


def test_label_without_geometry_is_skipped_with_a_warning(shared_data: Path) -> None:
    path = shared_data / "scalabel_eval" / "eval" / "det" / "bbox_predictions_empty.json"
    with pytest.warns(UserWarning, match="skipped 1 labels without geometry"):
        recs = list(scalabel.read(str(path)))
    assert len(recs) == 1 and recs[0].labels == []


def test_reads_bdd100k_tracking_folder_with_polygons_and_masks(shared_data: Path) -> None:
    folder = shared_data / "bdd100k" / "track" / "labels"
    recs = list(
        scalabel.read(str(folder), image_dir=str(shared_data / "bdd100k" / "track" / "images" / "00091078-875c1f73"))
    )
    assert len(recs) == 12 and sum(len(r.labels) for r in recs) == 254
    assert {lb.category for r in recs for lb in r.labels} == {"car", "pedestrian", "truck", "rider", "motorcycle"}
    lb = recs[0].labels[0]
    assert lb.polygon is not None and lb.mask is not None and lb.mask.size == (720, 1280)
    assert lb.track_id == "406" and lb.attributes["poly2d_types"] == ["LLLLLLLLLLLCCL"]
    assert recs[0].frame.width == 1280 and recs[0].frame.uri.endswith("00091078-875c1f73-0000166.jpg")


def test_real_bdd_round_trip_is_lossless(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "bdd100k" / "track" / "labels" / "00091078-875c1f73.json"
    recs = list(scalabel.read(str(src)))
    scalabel.write(recs, str(tmp_path / "out.json"))
    assert _no_time(scalabel.read(str(tmp_path / "out.json"))) == _no_time(recs)
    raw = json.loads(src.read_text())
    out = json.loads((tmp_path / "out.json").read_text())
    assert [lb["box2d"] for f in out for lb in f["labels"]] == [lb["box2d"] for f in raw for lb in f["labels"]]
    assert [lb["rle"] for f in out for lb in f["labels"]] == [lb["rle"] for f in raw for lb in f["labels"]]


def test_inclusive_pixel_option_converts_both_ways(tmp_path: Path) -> None:
    p = tmp_path / "f.json"
    p.write_text(
        json.dumps(
            [
                {
                    "name": "x.jpg",
                    "labels": [{"id": "1", "category": "car", "box2d": {"x1": 0, "y1": 0, "x2": 9, "y2": 19}}],
                }
            ]
        )
    )
    rec = next(scalabel.read(str(p), inclusive_pixels=True))
    assert rec.labels[0].box is not None and rec.labels[0].box.xyxy == (0, 0, 10, 20)
    scalabel.write([rec], str(tmp_path / "o.json"), inclusive_pixels=True)
    assert json.loads((tmp_path / "o.json").read_text())[0]["labels"][0]["box2d"] == {
        "x1": 0,
        "y1": 0,
        "x2": 9,
        "y2": 19,
    }


def test_golden_write_and_round_trip(tmp_path: Path) -> None:
    recs = sample_records()
    summary = scalabel.write(recs, str(tmp_path / "s.json"))
    assert summary.frames == 3 and summary.labels == 7
    check_golden("scalabel.json", (tmp_path / "s.json").read_text(encoding="utf-8"))
    back = list(scalabel.read(str(tmp_path / "s.json")))
    for a, b in zip(recs, back, strict=True):
        assert [(x.category, x.box, x.polygon, x.mask, x.box3d, x.score) for x in a.labels] == [
            (x.category, x.box, x.polygon, x.mask, x.box3d, x.score) for x in b.labels
        ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ('{"name": 1', "not valid JSON"),
        ('[{"labels": []}]', "must be an object with a 'name'"),
        ('[{"name": "a", "labels": [{"category": "car", "box2d": {"x1": 5, "y1": 0, "x2": 1, "y2": 1}}]}]', "x1 <= x2"),
        ('[{"name": "a", "labels": [{"box2d": {"x1": 0, "y1": 0, "x2": 1, "y2": 1}}]}]', "needs a 'category'"),
        ('[{"name": "a", "labels": []}', "truncated JSON array"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(FormatError, match=message):
        list(scalabel.read(str(p)))


@pytest.mark.slow
def test_huge_file_is_streamed_not_loaded(tmp_path: Path) -> None:
    frame = {
        "name": "",
        "labels": [
            {"id": str(i), "category": "car", "score": 0.5, "box2d": {"x1": i, "y1": 1, "x2": i + 10, "y2": 20}}
            for i in range(20)
        ],
    }
    p = tmp_path / "big.json"
    n = 2000
    with open(p, "w") as f:
        f.write("[")
        for i in range(n):
            frame["name"] = f"frame-{i:06d}.jpg"
            f.write(("," if i else "") + json.dumps(frame))
        f.write("]")
    size = p.stat().st_size
    assert size > 3_000_000
    count, labels, peak = peak_bytes_while_reading("scalabel", p)
    assert (count, labels) == (n, 20 * n)
    assert peak < size / 3, f"peak {peak} bytes while reading a {size}-byte file: not streamed"
