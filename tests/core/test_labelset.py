"""The columnar label set: built from records and back, validated, filtered, category maps once per category."""

from __future__ import annotations

import numpy as np
import pytest

from prelabel.core.labels import Box2D, Label, Mask, Polygon, ReviewState
from prelabel.core.labelset import LabelSet
from prelabel.errors import FormatError


def _labels() -> list[Label]:
    mask = Mask.from_array(np.eye(4, dtype=bool))
    return [
        Label(id="a", category="car", source="model:m@1", score=0.9, box=Box2D(x1=0, y1=0, x2=10, y2=5)),
        Label(
            id="b",
            category="person",
            source="human:ann",
            review=ReviewState.ADJUSTED,
            box=Box2D(x1=1, y1=2, x2=3, y2=4),
            mask=mask,
            track_id="t7",
            attributes={"occluded": True},
        ),
        Label(id="c", category="car", source="import:coco", score=0.2, polygon=Polygon(rings=[[0, 0, 4, 0, 4, 6]])),
        Label(id="d", category="bike", source="model:m@1", score=0.5, mask=mask),
    ]


def test_round_trip_keeps_every_field() -> None:
    labels = _labels()
    ls = LabelSet.from_labels(labels)
    assert len(ls) == 4 and ls.categories == ("car", "person", "bike")
    assert ls.class_codes.tolist() == [0, 1, 0, 2]
    assert ls.names.tolist() == ["car", "person", "car", "bike"]
    assert ls.has_box.tolist() == [True, True, False, False]
    assert ls.xyxy[2].tolist() == [0, 0, 4, 6]  # the polygon's bounds
    assert np.isnan(ls.xyxy[3]).all() and ls.has_geometry2d.tolist() == [True, True, True, False]
    assert np.isnan(ls.scores[1]) and ls.scores_or(1.0)[1] == 1.0
    assert ls.to_labels() == labels


def test_boolean_and_index_filtering() -> None:
    ls = LabelSet.from_labels(_labels())
    cars = ls[ls.names == "car"]
    assert cars.ids.tolist() == ["a", "c"] and cars.categories == ls.categories
    assert [lab.id for lab in ls[np.array([3, 0])].to_labels()] == ["d", "a"]
    with pytest.raises(FormatError, match=r"boolean filter: expected shape \(4,\); got \(3,\)"):
        ls[np.array([True, False, True])]


def test_map_categories_drops_none_and_merges() -> None:
    ls = LabelSet.from_labels(_labels())
    calls: list[str] = []

    def fn(c: str) -> str | None:
        calls.append(c)
        return {"car": "vehicle", "bike": "vehicle"}.get(c)

    m = ls.map_categories(fn)
    assert sorted(calls) == ["bike", "car", "person"]  # once per category, not per label
    assert m.ids.tolist() == ["a", "c", "d"] and m.names.tolist() == ["vehicle"] * 3 and m.categories == ("vehicle",)


def test_concat_merges_categories() -> None:
    a = LabelSet.from_labels(_labels()[:2])
    b = LabelSet.from_labels(_labels()[2:])
    both = LabelSet.concat([a, b])
    assert both.categories == ("car", "person", "bike") and both.names.tolist() == ["car", "person", "car", "bike"]
    assert len(LabelSet.concat([])) == 0 and len(LabelSet.empty()) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"xyxy": np.zeros((2, 4))}, r"xyxy: expected shape \(4, 4\) for 4 labels; got \(2, 4\)"),
        ({"scores": np.zeros(3)}, r"scores: expected shape \(4,\) for 4 labels; got \(3,\)"),
        ({"class_codes": np.array([0, 1, 0, 5])}, r"class_codes must index categories \(0..2\); got 0..5"),
        ({"scores": np.array([0.5, np.nan, 1.5, 0.1])}, r"scores must lie in \[0, 1\]"),
        ({"review": np.array([0, 0, 0, 9])}, "review codes must index"),
        ({"masks": [None]}, r"masks: expected 4 entries, one per label; got 1"),
    ],
)
def test_construction_checks_shapes(change: dict[str, object], message: str) -> None:
    ls = LabelSet.from_labels(_labels())
    fields = {k: getattr(ls, k) for k in ("xyxy", "scores", "class_codes", "categories", "ids", "sources")}
    fields |= {k: getattr(ls, k) for k in ("review", "track_ids", "has_box", "masks", "attributes", "origins")}
    fields.update(change)
    with pytest.raises(FormatError, match=message):
        LabelSet(**fields)  # type: ignore[arg-type]


def test_records_made_from_columns_are_the_validated_records() -> None:
    labels = _labels()
    back = LabelSet.from_labels(labels).to_labels()
    assert back == labels
    assert [b.model_dump_json() for b in back] == [a.model_dump_json() for a in labels]
    assert all(Label.model_validate(b.model_dump()) == b for b in back)  # each one passes Label's own checks
    back[1].attributes["occluded"] = False  # a record's attributes are its own, not the set's or the input's
    assert labels[1].attributes == {"occluded": True}


def _fields(ls: LabelSet) -> dict[str, object]:
    names = ("xyxy", "scores", "class_codes", "categories", "ids", "sources", "review", "track_ids", "has_box")
    return {k: getattr(ls, k) for k in (*names, "masks", "attributes", "origins")}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"xyxy": np.array([[0, 0, np.nan, 5], [1, 2, 3, 4], [0, 0, 4, 6], [0, 0, 1, 1.0]])}, "boxes must be finite"),
        ({"xyxy": np.array([[10, 0, 0, 5], [1, 2, 3, 4], [0, 0, 4, 6], [0, 0, 1, 1.0]])}, "x1 <= x2 and y1 <= y2"),
        ({"sources": np.array(["model:m@1", "robot", "import:coco", "fused"], dtype=object)}, "source must be"),
        ({"ids": np.array(["a", "", "c", "d"], dtype=object)}, "every label id must be non-empty text"),
        ({"track_ids": np.array([None, 7, None, None], dtype=object)}, "track ids must be text or None"),
        ({"masks": [None, None, None, None], "origins": [None] * 4}, "label c has no geometry"),
    ],
)
def test_to_labels_checks_the_rows_as_columns(change: dict[str, object], message: str) -> None:
    fields = _fields(LabelSet.from_labels(_labels()))
    fields.update(change)
    with pytest.raises(FormatError, match=message):
        LabelSet(**fields).to_labels()  # type: ignore[arg-type]
