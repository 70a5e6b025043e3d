"""The label-time ontology on a real detector and real KITTI frames: class maps, kept classes, per-class
thresholds and the duplicates a class map creates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prelabel.core.detections import Detections
from prelabel.errors import UnknownNameError
from prelabel.inference.ontology import OntologyDetector, dedupe, parse_classes
from prelabel.inference.predictor import Predictor
from prelabel.sources.images import image_frames


@pytest.fixture(scope="module")
def yolo() -> Any:
    from prelabel.models import load_detector

    return load_detector("yolo11n-coco", threads=2, min_score=0.25)


def _frames(kitti: Path, n: int = 6) -> list[Any]:
    return image_frames(str(kitti / "image_2"))[:n]


def test_kitti_class_map_writes_kitti_names_only(yolo: Any, kitti: Path) -> None:
    records = Predictor(yolo, class_map="kitti")(_frames(kitti))
    cats = {lab.category for r in records for lab in r.labels}
    assert cats and cats <= {"Car", "Pedestrian", "Cyclist", "Truck", "Tram"} and "Car" in cats


def test_driving_ontology_has_no_household_objects(yolo: Any, kitti: Path) -> None:
    det = OntologyDetector(yolo, class_map="driving")
    assert "chair" not in det.classes and "tv" not in det.classes and "pedestrian" in det.classes
    records = Predictor(det)(_frames(kitti))
    cats = {lab.category for r in records for lab in r.labels}
    assert cats <= set(det.classes) and "car" in cats


def test_classes_keep_only_the_named_ones(yolo: Any, kitti: Path) -> None:
    records = Predictor(yolo, classes="car")(_frames(kitti))
    assert {lab.category for r in records for lab in r.labels} == {"car"}
    with pytest.raises(UnknownNameError, match=r"unknown class \(after class map coco80-to-kitti\) 'car'"):
        OntologyDetector(yolo, class_map="kitti", keep=["car"])


def test_per_class_thresholds(yolo: Any, kitti: Path) -> None:
    from prelabel.sources.images import load_image

    image = load_image(_frames(kitti)[1])
    base = OntologyDetector(yolo, class_map="driving").detect(image)
    strict = OntologyDetector(yolo, class_map="driving", min_scores={"car": 0.6}).detect(image)
    car = OntologyDetector(yolo, class_map="driving").classes.index("car")
    cars_base = base.scores[base.class_ids == car]
    cars_strict = strict.scores[strict.class_ids == car]
    assert len(cars_strict) == int((cars_base >= 0.6).sum()) and len(cars_base) > len(cars_strict)


def test_dedupe_merges_copies_a_class_map_creates() -> None:
    # truck and bus boxes on one object both become KITTI "Truck": one is a duplicate to delete
    d = Detections(np.array([[0, 0, 10, 10], [0, 0, 10, 9.5], [20, 20, 30, 30]]), [0.9, 0.6, 0.8], [0, 0, 1])
    kept = dedupe(d, 0.7, agnostic=False)
    assert kept.scores.tolist() == pytest.approx([0.9, 0.8])
    cross = Detections(np.array([[0, 0, 10, 10], [0, 0, 10, 9.5]]), [0.9, 0.6], [0, 1])
    assert len(dedupe(cross, 0.7, agnostic=False)) == 2 and len(dedupe(cross, 0.7, agnostic=True)) == 1


def test_parse_classes() -> None:
    assert parse_classes(" car, truck ,") == ["car", "truck"]
    assert parse_classes(["car,bus", "person"]) == ["car", "bus", "person"]
    assert parse_classes("") is None


def test_settings_apply_alike_to_a_detector_and_to_written_labels(yolo: Any, kitti: Path) -> None:
    """One implementation: the service wraps its detector with Ontology.wrap, fuse filters written labels with
    Ontology.apply_records; both give the same KITTI labels as prelabel label --class-map kitti."""
    from prelabel.inference.ontology import Ontology, split_options

    backend, onto = split_options({"threads": 2, "ontology": {"class_map": "kitti", "classes": ["Car", "Pedestrian"]}})
    assert backend == {"threads": 2} and onto is not None and onto.classes == ("Car", "Pedestrian")
    frames = _frames(kitti, 4)
    wrapped = Predictor(onto.wrap(yolo))(frames)
    assert wrapped[0].labels and {lab.category for r in wrapped for lab in r.labels} <= {"Car", "Pedestrian"}
    written = onto.apply_records(Predictor(yolo)(frames))
    for a, b in zip(wrapped, written, strict=True):
        key = sorted((lab.category, lab.box.xyxy, round(lab.score or 0, 5)) for lab in a.labels)  # type: ignore[union-attr]
        assert key == sorted((lab.category, lab.box.xyxy, round(lab.score or 0, 5)) for lab in b.labels)  # type: ignore[union-attr]
    assert Ontology.from_value({}) is None and Ontology.from_value({"classes": "Car, Van"}).classes == ("Car", "Van")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("kitti", "expected an object"),
        ({"class_map": "kitti", "colour": 1}, "unknown key 'colour'"),
        ({"classes": [1, 2]}, "expected a list of class names"),
        ({"class_map": ""}, "expected a class map name or JSON file"),
        ({"class_map": "kitti", "dedupe": "some"}, "unknown ontology.dedupe mode 'some'"),
    ],
)
def test_malformed_ontology_settings_say_what_was_wrong(value: Any, message: str) -> None:
    from prelabel.errors import PrelabelError
    from prelabel.inference.ontology import Ontology

    with pytest.raises(PrelabelError, match=message):
        Ontology.from_value(value)


def test_ontology_check_knows_the_targets_and_refuses_files_where_asked(tmp_path: Path) -> None:
    from prelabel.core.vocab import COCO80
    from prelabel.inference.ontology import Ontology

    assert Ontology("kitti", ("Car",)).check(COCO80) == ["Car"]
    with pytest.raises(UnknownNameError, match=r"'car'; expected one of: .*Car"):
        Ontology("kitti", ("car",)).check(None)  # model classes unknown: the map's targets still are
    mine = tmp_path / "mine.json"
    mine.write_text('{"name": "mine", "map": {"car": "vehicle"}}')
    assert Ontology(str(mine)).check(COCO80) == ["vehicle"]
    with pytest.raises(UnknownNameError, match=r"unknown shipped class map \(files are not read here\)"):
        Ontology(str(mine)).check(COCO80, files=False)
