"""Routing on label sets (``route_sets``, ``decide``) decides as the records path and the per-label rule do."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from prelabel.core.labels import FrameRecord
from prelabel.core.labelset import LabelSet
from prelabel.quality.calibration import Thresholds, calibrate, samples_from_ground_truth
from prelabel.quality.evaluate import EvalConfig
from prelabel.quality.inputs import load_records
from prelabel.quality.routing import route, route_sets

CLASSES = ["pedestrian", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"]


@pytest.fixture(scope="module")
def bdd(shared_data: Path) -> tuple[list[FrameRecord], Thresholds]:
    root = shared_data / "scalabel_eval" / "eval"
    preds = load_records(root / "det" / "bbox_predictions.json")
    gts = load_records(root / "box_track" / "track_sample_anns.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        samples = samples_from_ground_truth(preds, gts, EvalConfig(classes=CLASSES, inclusive_pixels=True))
    return preds, calibrate(samples, target_precision=0.9, min_support=10)


@pytest.mark.parametrize("drop_below", [0.0, 0.3])
def test_records_and_label_set_paths_route_as_the_per_label_rule(
    bdd: tuple[list[FrameRecord], Thresholds], drop_below: float
) -> None:
    preds, thr = bdd
    res = route(preds, thr, drop_below=drop_below)
    # the rule, label by label (prelabel 0.1's loop)
    want: dict[str, list[int]] = {}
    auto_ids, review_ids = [], []
    for r in preds:
        for lab in r.labels:
            score = 1.0 if lab.score is None else lab.score
            if score < drop_below:
                continue
            t = thr.threshold(lab.category)
            a = lab.score is None or (t is not None and score >= t)
            c = want.setdefault(lab.category, [0, 0, 0])
            c[0] += 1
            c[1 if a else 2] += 1
            (auto_ids if a else review_ids).append(lab.id)
    got = {k: [v.labels, v.auto, v.review] for k, v in res.per_class.items()}
    assert got == want and list(got) == list(want)  # same counts, classes in order of first appearance
    assert [lab.id for r in res.accepted for lab in r.labels] == auto_ids
    assert [lab.id for r in res.review for lab in r.labels] == review_ids
    assert {lab.attributes["route"] for r in res.review for lab in r.labels} == {"review"}
    assert 0 < res.labels_auto < sum(len(r.labels) for r in preds)
    sets = route_sets([LabelSet.from_labels(r.labels) for r in preds], thr, drop_below=drop_below)
    assert {k: [v.labels, v.auto, v.review] for k, v in sets.items()} == want
    assert {k: v.threshold for k, v in sets.items()} == {k: v.threshold for k, v in res.per_class.items()}
