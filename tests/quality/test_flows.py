"""The quality flows as library calls (what `prelabel eval/calibrate/route` run): presets and their checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from prelabel.errors import PrelabelError, UnknownNameError
from prelabel.quality.flows import PRESETS, eval_config, route_round


@pytest.mark.parametrize(
    ("gt_format", "preset", "used", "inclusive"),
    [("kitti", "auto", "kitti", False), ("bdd", "auto", "scalabel", True), ("coco", "auto", "coco", False),
     ("labels", "auto", "coco", False), ("coco", "scalabel", "scalabel", True)],
)  # fmt: skip
def test_auto_preset_follows_the_ground_truth_format(gt_format: str, preset: str, used: str, inclusive: bool) -> None:
    cfg, got = eval_config(gt_format, preset)
    assert got == used and cfg.inclusive_pixels is inclusive


def test_coco_predictions_on_kitti_get_the_shipped_class_map_unless_one_is_given() -> None:
    cfg, _ = eval_config("kitti", "auto", {"car", "person", "bicycle"}, {"Car", "Pedestrian"})
    assert callable(cfg.class_map) and cfg.class_map("car") == "Car" and cfg.class_map("bicycle") == "Cyclist"
    cfg, _ = eval_config("bdd", "auto", {"car", "person"}, {"car", "person", "rider"})
    assert cfg.class_map is None  # the predictions already use the ground truth's names
    cfg, _ = eval_config("bdd", "auto", {"car", "bicycle"}, {"car", "bike"})
    assert cfg.class_map is not None and cfg.class_map.__self__.name == "coco80-to-bdd"  # type: ignore[attr-defined]
    cfg, _ = eval_config("bdd", "auto", {"car"}, {"car", "bike"}, class_map="car=vehicle")
    assert callable(cfg.class_map) and cfg.class_map("car") == "vehicle"
    cfg, _ = eval_config("coco", "coco", {"car"}, {"car"}, classes=["car"], min_height=25, inclusive=True)
    assert cfg.classes == ["car"] and cfg.min_height == 25 and cfg.inclusive_pixels


def test_unknown_preset_and_route_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="unknown evaluation preset 'kiti'; expected one of: auto, coco"):
        eval_config("kitti", "kiti")
    assert PRESETS[0] == "auto"
    with pytest.raises(PrelabelError, match="exactly one of --thresholds FILE or --verified ANSWERS"):
        route_round("x.jsonl", tmp_path)
    with pytest.raises(PrelabelError, match="exactly one of"):
        route_round("x.jsonl", tmp_path, thresholds="t.json", verified="v.jsonl")
