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
