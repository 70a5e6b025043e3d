"""Composing on label sets (``compose_set``) makes exactly the labels the records path makes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prelabel.core.labelset import LabelSet
from prelabel.quality.inputs import load_records
from prelabel.refine.compose import compose_labels, compose_set, load_rules

BDD_RIDERS: list[dict[str, Any]] = [
    {"parts": ["rider", ["bicycle"]], "into": "cyclist", "keep_parts": "discount"},
    {"parts": ["rider", ["motorcycle"]], "into": "motorcyclist", "keep_parts": "discount"},
]


@pytest.mark.parametrize(
    "rules",
    [
        BDD_RIDERS,
        [{**r, "keep_parts": ["remove", "keep"], "geometry": "first"} for r in BDD_RIDERS],
        [{**r, "keep_parts": "remove", "score": "product"} for r in BDD_RIDERS]
        + [{"parts": ["pedestrian", ["bicycle"]], "into": "cyclist", "geometry": "second"}],
    ],
)
def test_compose_set_equals_compose_labels_on_bdd_detections(shared_data: Path, rules: list[dict[str, Any]]) -> None:
    preds = load_records(shared_data / "scalabel_eval" / "eval" / "det" / "bbox_predictions.json")
    rule_list = load_rules(rules)
    made = 0
    for r in preds:
        want = compose_labels(r.labels, rule_list, r.frame.id)
        got = compose_set(LabelSet.from_labels(r.labels), rule_list, r.frame.id).to_labels()
        assert [lab.model_dump() for lab in got] == [lab.model_dump() for lab in want]
        made += sum(lab.category in ("cyclist", "motorcyclist") for lab in want)
    assert made >= 10  # the rules fire on these frames
