from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from prelabel.core.labels import ReviewState
from prelabel.errors import FormatError
from prelabel.formats import labelstudio as ls
from prelabel.formats import nuscenes

from .golden import check_golden
from .samples import boxes_of, sample_records


def test_labelstudio_tasks_golden_and_percent_coordinates(tmp_path: Path) -> None:
    recs = sample_records()
    out = tmp_path / "tasks.json"
    s = ls.write(recs, str(out))
    assert s.frames == 3 and s.labels == 7
    check_golden("labelstudio/tasks.json", out.read_text(encoding="utf-8"))
    tasks = json.loads(out.read_text())
    a = tasks[0]
    assert a["data"] == {"image": "/data/images/a.png", "prelabel_frame_id": "a", "width": 640, "height": 480}
    (pred,) = a["predictions"]
    assert pred["model_version"] == "model:ssd-mobilenet-v2-coco@1"
    car = pred["result"][0]
    assert car["type"] == "rectanglelabels" and car["id"] == "l-car"
    assert car["value"]["x"] == pytest.approx(10 / 640 * 100) and car["value"]["width"] == pytest.approx(
        100.5 / 640 * 100
    )
    assert a["annotations"][0]["result"][0]["value"]["rectanglelabels"] == ["Fußgänger 行人"]
    back = list(ls.read(str(out)))
    assert [boxes_of(r) for r in back] == [boxes_of(r) for r in recs]
    # the human label came back as an accepted annotation; with an annotation present the predictions it does
    # not contain count as rejected
    states = {lb.id: lb.review for lb in back[0].labels}
    assert states["l-unicode"] == ReviewState.ACCEPTED and states["l-car"] == ReviewState.REJECTED


EXPORT = [
    {
        "id": 7,
        "data": {"image": "/data/upload/1/5f1e2d-000001.png"},
        "predictions": [
            {
                "model_version": "model:ssd-mobilenet-v2-coco@1",
                "score": 0.7,
                "result": [
                    {
                        "id": "p1",
                        "type": "rectanglelabels",
                        "from_name": "label",
                        "to_name": "image",
                        "original_width": 1000,
                        "original_height": 500,
                        "score": 0.9,
                        "value": {
                            "x": 10,
                            "y": 20,
                            "width": 5,
                            "height": 10,
                            "rotation": 0,
                            "rectanglelabels": ["car"],
                        },
                    },
                    {
                        "id": "p2",
                        "type": "rectanglelabels",
                        "from_name": "label",
                        "to_name": "image",
                        "original_width": 1000,
                        "original_height": 500,
                        "score": 0.4,
                        "value": {
                            "x": 50,
                            "y": 50,
                            "width": 5,
                            "height": 10,
                            "rotation": 0,
                            "rectanglelabels": ["car"],
                        },
                    },
                    {
                        "id": "p3",
                        "type": "rectanglelabels",
                        "from_name": "label",
                        "to_name": "image",
                        "original_width": 1000,
                        "original_height": 500,
                        "score": 0.6,
                        "value": {
                            "x": 70,
                            "y": 10,
                            "width": 10,
                            "height": 10,
                            "rotation": 0,
                            "rectanglelabels": ["truck"],
                        },
                    },
                ],
            }
        ],
        "annotations": [
            {
                "id": 3,
                "completed_by": {"id": 1, "email": "ann@example.com"},
                "was_cancelled": False,
                "updated_at": "2026-01-01T00:00:00Z",
                "result": [
                    {
                        "id": "p1",
                        "type": "rectanglelabels",
                        "from_name": "label",
                        "to_name": "image",
                        "original_width": 1000,
                        "original_height": 500,
                        "value": {
                            "x": 10,
                            "y": 20,
                            "width": 5,
                            "height": 10,
                            "rotation": 0,
                            "rectanglelabels": ["car"],
                        },
                    },
                    {
                        "id": "p3",
                        "type": "rectanglelabels",
                        "from_name": "label",
                        "to_name": "image",
                        "original_width": 1000,
                        "original_height": 500,
                        "value": {
                            "x": 71,
                            "y": 10,
                            "width": 10,
                            "height": 10,
                            "rotation": 0,
                            "rectanglelabels": ["bus"],
                        },
                    },
                    {
                        "id": "new9",
                        "type": "polygonlabels",
                        "from_name": "poly",
                        "to_name": "image",
                        "original_width": 1000,
                        "original_height": 500,
                        "value": {"points": [[1, 1], [3, 1], [3, 4]], "polygonlabels": ["person"]},
                    },
                    {
                        "id": "b1",
                        "type": "brushlabels",
                        "from_name": "brush",
                        "to_name": "image",
                        "original_width": 1000,
                        "original_height": 500,
                        "value": {"format": "rle", "rle": [1, 2], "brushlabels": ["road"]},
                    },
                ],
            }
        ],
    },
    {"id": 8, "data": {"image": "s3://bucket/frames/000002.png"}, "predictions": [], "annotations": []},
]


def test_labelstudio_export_merges_back_by_region_id(tmp_path: Path) -> None:
    p = tmp_path / "export.json"
    p.write_text(json.dumps(EXPORT))
    with pytest.warns(UserWarning, match="brushlabels"):
        first, second = list(ls.read(str(p)))
    assert first.frame.id == "5f1e2d-000001" and (first.frame.width, first.frame.height) == (1000, 500)
    by_id = {lb.id: lb for lb in first.labels}
    assert by_id["p1"].review == ReviewState.ACCEPTED and by_id["p1"].source.startswith("model:")
    assert by_id["p1"].score == 0.9 and by_id["p1"].box is not None
    assert by_id["p1"].box.xyxy == pytest.approx((100, 100, 150, 150))
    assert by_id["p3"].review == ReviewState.ADJUSTED and by_id["p3"].category == "bus"
    assert by_id["p3"].source == "human:ann@example.com" and by_id["p3"].score is None
    assert by_id["p2"].review == ReviewState.REJECTED
    assert by_id["new9"].polygon is not None and by_id["new9"].polygon.rings[0] == pytest.approx([10, 5, 30, 5, 30, 20])
    assert by_id["new9"].attributes["added_in_review"] is True
    assert second.frame.id == "000002" and second.labels == []


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"data": {}}, "no 'image'"),
        (
            {
                "data": {"image": "x.png"},
                "predictions": [
                    {
                        "result": [
                            {
                                "type": "rectanglelabels",
                                "value": {"x": 1, "y": 1, "width": 1, "height": 1, "rectanglelabels": ["car"]},
                            }
                        ]
                    }
                ],
            },
            "image size is unknown",
        ),
        (
            {
                "data": {"image": "x.png", "width": 10, "height": 10},
                "predictions": [
                    {"result": [{"type": "rectanglelabels", "value": {"x": 1, "y": 1, "width": 1, "height": 1}}]}
                ],
            },
            "no label",
        ),
        (
            {
                "data": {"image": "x.png", "width": 10, "height": 10},
                "predictions": [
                    {
                        "result": [
                            {
                                "type": "rectanglelabels",
                                "value": {"x": 1, "y": 1, "height": 1, "rectanglelabels": ["a"]},
                            }
                        ]
                    }
                ],
            },
            "numeric x, y, width, height",
        ),
    ],
)
def test_labelstudio_bad_tasks(tmp_path: Path, task: dict, message: str) -> None:
    p = tmp_path / "t.json"
    p.write_text(json.dumps([task]))
    with pytest.raises(FormatError, match=message):
        list(ls.read(str(p)))


def test_labeling_config_lists_the_classes() -> None:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(ls.labeling_config(["car", 'a "quoted" class']))
    rect = root.find("RectangleLabels")
    assert rect is not None and rect.get("name") == "label" and rect.get("toName") == "image"
    assert [el.get("value") for el in rect] == ["car", 'a "quoted" class']


def test_nuscenes_mmdet3d_info_2d_boxes(shared_data: Path) -> None:
    pkl = shared_data / "nuscenes" / "mmdet3d_demo" / "n015-2018-07-24-11-22-45+0800.pkl"
    with open(pkl, "rb") as f:
        raw = pickle.load(f)
    recs = list(nuscenes.read(str(pkl)))
    sample = raw["data_list"][0]
    assert len(recs) == 6 and {r.frame.sensor for r in recs} == set(sample["images"])
    front = next(r for r in recs if r.frame.sensor == "CAM_FRONT")
    insts = sample["cam_instances"]["CAM_FRONT"]
    assert len(front.labels) == len(insts) == 47
    assert front.labels[0].box is not None and front.labels[0].box.xyxy == pytest.approx(insts[0]["bbox"])
    cats = {v: k for k, v in raw["metainfo"]["categories"].items()}
    assert [lb.category for lb in front.labels] == [cats[i["bbox_label"]] for i in insts]
    assert Path(front.frame.uri).is_file() and (front.frame.width, front.frame.height) == (1600, 900)
    assert sum(len(r.labels) for r in recs) == sum(len(v) for v in sample["cam_instances"].values())


def test_nuscenes_vis4d_mini_val(shared_data: Path) -> None:
    pkl = shared_data / "nuscenes" / "vis4d" / "mini_val.pkl"
    recs = list(nuscenes.read(str(pkl)))
    assert len(recs) == 81 * 6
    front = recs[0]
    assert front.frame.sensor == "CAM_FRONT" and front.frame.width == 1600
    assert Path(front.frame.uri).is_file()
    assert front.frame.calibration is not None and front.frame.calibration.K[0][0] == pytest.approx(1252.8131)
    assert len(front.labels) == 14 and {lb.category for lb in front.labels} <= {"pedestrian", "car"}
    assert front.labels[0].track_id == "0"
    with pytest.raises(FormatError, match="read only"):
        nuscenes.write(recs, "x")
