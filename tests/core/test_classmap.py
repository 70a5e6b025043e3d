"""Class maps (``prelabel.core.classmap``): the built-in maps, maps from a file, and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prelabel.core.classmap import ClassMap, builtin_names
from prelabel.core.vocab import COCO80
from prelabel.errors import FormatError, InputNotFoundError, UnknownNameError
from prelabel.refine.compose import composite_names
from tests.formats.samples import sample_records


@pytest.mark.parametrize(
    ("name", "category", "expected"),
    [
        ("coco80-to-kitti", "car", "Car"),
        ("coco80-to-kitti", "person", "Pedestrian"),
        ("coco80-to-kitti", "bus", "Truck"),
        ("coco80-to-kitti", "kite", None),
        ("coco80-to-bdd", "person", "pedestrian"),
        ("coco80-to-bdd", "stop sign", "traffic sign"),
        ("coco80-to-bdd", "dog", None),
        ("merge-vehicles", "truck", "vehicle"),
        ("merge-vehicles", "bus", "vehicle"),
        ("merge-vehicles", "person", "person"),
        ("bdd-to-kitti", "rider", "Cyclist"),
        ("coco80-to-adas", "motorcycle", "two_wheeler"),
    ],
)
def test_builtin_maps(name: str, category: str, expected: str | None) -> None:
    assert ClassMap.load(name).map(category) == expected


def test_every_builtin_loads_and_coco_maps_use_coco_names() -> None:
    assert len(builtin_names()) >= 5
    for name in builtin_names():
        cm = ClassMap.load(name)
        assert cm.targets()
        if cm.source_vocab == "coco80":  # COCO names, and what prelabel compose makes of them (cyclist, rider)
            assert set(cm.mapping) <= set(COCO80) | composite_names(), name


def test_apply_renames_and_drops_without_changing_input() -> None:
    recs = sample_records()
    out = list(ClassMap.load("coco80-to-kitti").apply(recs))
    assert sorted(lb.category for lb in out[0].labels) == ["Car", "Car", "Pedestrian", "Truck", "Truck"]
    assert out[2].labels == []  # "Car" is not a COCO name
    assert recs[0].labels[0].category == "car"


def test_map_from_file_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "mine.json"
    p.write_text(json.dumps({"map": {"car": "auto", "kite": None}, "unmapped": "keep"}))
    cm = ClassMap.load(str(p))
    assert (cm.name, cm.map("car"), cm.map("kite"), cm.map("dog")) == ("mine", "auto", None, "dog")
    with pytest.raises(UnknownNameError, match="coco80-to-kitti"):
        ClassMap.load("no-such-map")
    with pytest.raises(InputNotFoundError):
        ClassMap.load(str(tmp_path / "missing.json"))
    p.write_text(json.dumps({"map": {"car": 3}}))
    with pytest.raises(FormatError, match="name or null"):
        ClassMap.load(str(p))
    p.write_text(json.dumps({"map": {}, "unmapped": "maybe"}))
    with pytest.raises(FormatError, match="'drop' or 'keep'"):
        ClassMap.load(str(p))
