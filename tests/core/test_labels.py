"""The data model: validation errors say what was expected and what was got; JSON round trips are lossless."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from prelabel.core import Box2D, Box3D, Frame, FrameRecord, Label, Mask, Polygon, ReviewState, parse_source
from prelabel.core.detections import Detections

SRC = "model:ssd-mobilenet-v2-coco@2018.03.29"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x1": 10, "y1": 5, "x2": 4, "y2": 9}, "x1 <= x2"),
        ({"x1": 0, "y1": 5, "x2": 4, "y2": 1}, "y1 <= y2"),
        ({"x1": float("nan"), "y1": 0, "x2": 4, "y2": 1}, "finite"),
        ({"x1": 0, "y1": 0, "x2": float("inf"), "y2": 1}, "finite"),
    ],
)
def test_box_rejects(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Box2D(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"category": "car", "source": SRC}, "no geometry"),
        ({"category": "car", "source": "ssd", "box": Box2D(x1=0, y1=0, x2=1, y2=1)}, "model:<id>@<version>"),
        ({"category": "car", "source": SRC, "score": 1.5, "box": Box2D(x1=0, y1=0, x2=1, y2=1)}, r"\[0, 1\]"),
        ({"category": "", "source": SRC, "box": Box2D(x1=0, y1=0, x2=1, y2=1)}, "at least 1 character"),
        (
            {"category": "car", "source": SRC, "review": "maybe", "box": Box2D(x1=0, y1=0, x2=1, y2=1)},
            "pending",
        ),
    ],
)
def test_label_rejects(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Label(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": (2, 2), "counts": [1, 2]}, "expected height\\*width = 4"),
        ({"size": (0, 2), "counts": [0]}, "positive"),
    ],
)
def test_mask_rejects(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Mask(**kwargs)


def test_polygon_and_box3d_reject() -> None:
    with pytest.raises(ValidationError, match="at least 3 points"):
        Polygon(rings=[[0, 0, 1, 1]])
    with pytest.raises(ValidationError, match="length must be >= 0"):
        Box3D(x=0, y=0, z=0, length=-1, width=1, height=1, yaw=0)


def test_frame_record_rejects_duplicate_ids_and_reasonless_failures() -> None:
    frame = Frame(id="000001", uri="/x.png")
    lab = Label(id="a", category="car", source=SRC, box=Box2D(x1=0, y1=0, x2=1, y2=1))
    with pytest.raises(ValidationError, match="unique"):
        FrameRecord(frame=frame, labels=[lab, lab])
    with pytest.raises(ValidationError, match="error reason"):
        FrameRecord(frame=frame, status="failed")


def test_sources_parse() -> None:
    assert parse_source(SRC) == {"kind": "model", "model": "ssd-mobilenet-v2-coco", "version": "2018.03.29"}
    assert parse_source("human:alice") == {"kind": "human", "worker": "alice"}
    assert parse_source("fused") == {"kind": "fused"}


def test_record_json_round_trip_with_every_geometry() -> None:
    mask = np.zeros((6, 8), dtype=bool)
    mask[1:4, 2:7] = True
    rec = FrameRecord(
        frame=Frame(id="seq/000001", uri="s3://bucket/f.png", width=8, height=6, sensor="cam", timestamp_ns=17),
        labels=[
            Label(
                category="car",
                source=SRC,
                score=0.875,
                box=Box2D(x1=2, y1=1, x2=7, y2=4),
                mask=Mask.from_array(mask),
                polygon=Polygon(rings=[[2, 1, 7, 1, 7, 4]]),
                box3d=Box3D(x=1.5, y=-2, z=0.8, length=4.2, width=1.8, height=1.5, yaw=0.3, frame="velodyne"),
                review=ReviewState.ADJUSTED,
                attributes={"occluded": 1, "note": "Straße"},
            )
        ],
        job="job-1",
    )
    line = rec.to_json()
    assert "\n" not in line
    back = FrameRecord.from_json(line)
    assert back == rec
    assert np.array_equal(back.labels[0].mask.to_array(), mask)  # type: ignore[union-attr]
    assert json.loads(line)["labels"][0]["box"] == {"x1": 2.0, "y1": 1.0, "x2": 7.0, "y2": 4.0}


def test_detections_validate_shapes_and_make_stable_ids() -> None:
    with pytest.raises(ValueError, match=r"scores must have shape \(2,\)"):
        Detections(np.zeros((2, 4)), np.zeros(3), np.zeros(2))
    dets = Detections(np.array([[0, 0, 10, 10], [5, 5, 20, 30]]), np.array([0.4, 0.9]), np.array([2, 0]))
    assert len(dets[dets.scores > 0.5]) == 1
    a = dets.to_labels("f1", SRC, ["person", "bicycle", "car"])
    b = dets.to_labels("f1", SRC, ["person", "bicycle", "car"])
    assert [lab.id for lab in a] == [lab.id for lab in b]
    assert [lab.category for lab in a] == ["person", "car"]  # best score first
    with pytest.raises(ValueError, match="outside the model's 2 classes"):
        dets.to_labels("f1", SRC, ["person", "bicycle"])


def test_checked_model_makes_what_model_construct_makes() -> None:
    from prelabel.core.labels import checked_model

    box = checked_model(Box2D, {"x1": 1.0, "y1": 2.0, "x2": 3.0, "y2": 4.0})
    assert box == Box2D(x1=1.0, y1=2.0, x2=3.0, y2=4.0)
    values = {
        "id": "a", "category": "car", "source": SRC, "score": 0.5, "review": ReviewState.PENDING, "box": box,
        "mask": None, "polygon": None, "box3d": None, "track_id": None, "attributes": {"k": 1},
    }  # fmt: skip
    want = Label.model_construct(**values)
    got = checked_model(Label, dict(values))
    assert got == want and got.model_dump() == want.model_dump()
    assert got.model_fields_set == want.model_fields_set == set(values)
    assert got == Label(**values)  # the same values validated
    stated = {"id", "category", "source", "box"}
    partial = checked_model(Label, dict(values), stated)
    assert partial.model_fields_set == stated and partial.model_dump(exclude_unset=True).keys() == stated
    partial.score = 0.7  # assignment still validates, and marks only this model's field as set
    assert "score" in partial.model_fields_set and "score" not in stated
    with pytest.raises(ValidationError, match=r"\[0, 1\]"):
        partial.score = 2.0


def test_checked_models_with_every_field_share_one_name_set_safely() -> None:
    from prelabel.core.labels import checked_model

    a = checked_model(Box2D, {"x1": 0.0, "y1": 0.0, "x2": 1.0, "y2": 1.0})
    b = checked_model(Box2D, {"x1": 0.0, "y1": 0.0, "x2": 2.0, "y2": 2.0})
    a.x2 = 3.0  # validated assignment; the name is already in the shared set
    assert a.x2 == 3.0 and b.x2 == 2.0
    assert a.model_fields_set == b.model_fields_set == {"x1", "y1", "x2", "y2"}
    c = b.model_copy(update={"x2": 4.0})
    assert c.model_fields_set == b.model_fields_set and c.model_fields_set is not b.model_fields_set


def test_updated_is_model_copy_with_update() -> None:
    from prelabel.core.labels import updated

    lab = Label(id="a", category="car", source=SRC, score=0.5, box=Box2D(x1=0, y1=0, x2=1, y2=1))
    for update in ({"score": 0.25}, {"attributes": {"route": "auto"}}):
        want, got = lab.model_copy(update=update), updated(lab, update)
        assert got == want and got.model_dump() == want.model_dump()
        assert got.model_fields_set == want.model_fields_set and got.model_fields_set is not lab.model_fields_set
    assert lab.score == 0.5 and lab.attributes == {}  # the original is left as it was
