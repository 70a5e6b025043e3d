from __future__ import annotations

import json
from pathlib import Path

import pytest

from prelabel.core.vocab import COCO91_IDS
from prelabel.errors import FormatError
from prelabel.formats import coco

from .golden import check_golden
from .samples import boxes_of, sample_records


def test_reads_real_bdd_coco_export(shared_data: Path) -> None:
    path = shared_data / "bdd100k" / "detect" / "annotation_coco.json"
    raw = json.loads(path.read_text())
    recs = list(coco.read(str(path), image_root=str(shared_data / "bdd100k" / "detect" / "images")))
    assert len(recs) == 1 and len(recs[0].labels) == len(raw["annotations"])
    rec = recs[0]
    assert rec.frame.id == "913b47b8-3cf1b886" and (rec.frame.width, rec.frame.height) == (1280, 720)
    assert Path(rec.frame.uri).is_file()
    x, y, w, h = raw["annotations"][0]["bbox"]
    lb = rec.labels[0]
    assert lb.box is not None and lb.box.xyxy == (x, y, x + w, y + h)
    assert lb.polygon is not None and lb.polygon.rings[0][:2] == raw["annotations"][0]["segmentation"][0][:2]
    cats = {c["id"]: c["name"] for c in raw["categories"]}
    assert [lb.category for lb in rec.labels] == [cats[a["category_id"]] for a in raw["annotations"]]


def test_golden_dataset_and_round_trip(tmp_path: Path) -> None:
    recs = sample_records()
    out = tmp_path / "instances.json"
    summary = coco.write(recs, str(out))
    assert summary.frames == 3 and summary.labels == 7 and summary.dropped == {"3D boxes": 1}
    check_golden("coco_instances.json", out.read_text(encoding="utf-8"))
    data = json.loads(out.read_text())
    car = next(a for a in data["annotations"] if a["score"] == 0.875)
    assert car["bbox"] == [10, 20, 100.5, 60.25]  # xywh
    back = list(coco.read(str(out)))
    assert [r.frame.id for r in back] == ["a", "b", "c"]
    for a, b in zip(recs, back, strict=True):
        assert boxes_of(a) == boxes_of(b)
        assert b.frame.uri == a.frame.uri and (b.frame.width, b.frame.height) == (a.frame.width, a.frame.height)
        assert [(x.score, x.mask, x.polygon, x.attributes) for x in a.labels] == [
            (x.score, x.mask, x.polygon, x.attributes) for x in b.labels
        ]
        assert all(x.source == "import:coco" for x in b.labels)


def test_results_file_with_scores(tmp_path: Path) -> None:
    recs = sample_records(with_3d=False)
    recs[0].labels = [lb for lb in recs[0].labels if lb.category in ("car", "person", "truck", "bus")]
    ds = tmp_path / "ds.json"
    res = tmp_path / "results.json"
    coco.write(recs, str(ds))
    coco.write(recs, str(res), results=True)
    check_golden("coco_results.json", res.read_text(encoding="utf-8"))
    rows = json.loads(res.read_text())
    assert all(set(r) >= {"image_id", "category_id", "bbox", "score"} for r in rows)
    # COCO-80 names keep COCO's own category ids, so results match the official annotations
    assert {r["category_id"] for r in rows} == {COCO91_IDS[i] for i in (0, 2, 5, 7)}
    back = list(coco.read(str(res), images=str(ds)))
    assert [boxes_of(r) for r in back] == [boxes_of(r) for r in recs]
    assert sorted(lb.score for lb in back[0].labels) == sorted(lb.score for lb in recs[0].labels)  # type: ignore[type-var]
    # without the dataset: ids are image ids, categories COCO's 91-id names
    bare = list(coco.read(str(res)))
    assert bare[0].frame.id == "1" and {lb.category for lb in bare[0].labels} == {"car", "person", "truck", "bus"}


def test_given_category_list_drops_others(tmp_path: Path) -> None:
    s = coco.write(sample_records(), str(tmp_path / "c.json"), categories=["car"])
    assert s.labels == 2 and s.dropped["labels of categories outside the list (person)"] == 1
    cats = json.loads((tmp_path / "c.json").read_text())["categories"]
    assert cats == [{"id": 3, "name": "car", "supercategory": ""}]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {
                "images": [{"id": 1, "file_name": "a.jpg"}],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 9, "bbox": [0, 0, 1, 1]}],
                "categories": [{"id": 1, "name": "car"}],
            },
            "category_id 9",
        ),
        (
            {
                "images": [{"id": 1, "file_name": "a.jpg"}],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, -1, 1]}],
                "categories": [{"id": 1, "name": "car"}],
            },
            "width and height must be >= 0",
        ),
        (
            {
                "images": [{"id": 1, "file_name": "a.jpg"}],
                "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}],
                "categories": [{"id": 1, "name": "car"}],
            },
            "image_id 2, not in images",
        ),
        ({"images": []}, "expected a COCO dataset"),
    ],
)
def test_bad_datasets(tmp_path: Path, data: object, message: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(data))
    with pytest.raises(FormatError, match=message):
        list(coco.read(str(p)))
