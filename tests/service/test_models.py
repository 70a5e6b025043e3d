"""A service model's ontology (``options.ontology``), checked when the model is created and applied by the worker
that loads it: a real detector on a real KITTI frame, in this process and through a real ``prelabel serve``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from prelabel.client import Client, ScalingPolicy, ServiceError
from prelabel.core.labels import Frame
from prelabel.errors import PrelabelError
from prelabel.inference.predictor import Predictor
from prelabel.service.launch import ServiceProcess
from prelabel.service.models import check_model, load_model
from tests.conftest import KITTI

ONTOLOGY = {"class_map": "kitti", "classes": ["Car", "Pedestrian"]}
FAST = ScalingPolicy(min_instances=0, max_instances=1, target_backlog_per_instance=3, scale_in_cooldown_s=1.0)


def test_check_model_checks_the_ontology_against_the_model() -> None:
    assert check_model("yolo11n-coco", {"ontology": ONTOLOGY}) == "zoo"
    with pytest.raises(PrelabelError, match=r"unknown class \(after class map coco80-to-kitti\) 'car'"):
        check_model("yolo11n-coco", {"ontology": {"class_map": "kitti", "classes": ["car"]}})
    with pytest.raises(PrelabelError, match="unknown shipped class map"):
        check_model("yolo11n-coco", {"ontology": {"class_map": "/etc/passwd"}})  # the service reads no given path


def test_the_worker_loads_the_model_in_its_ontology(kitti: Path) -> None:
    frame = Frame(id="000008", uri=str(kitti / "image_2" / "000008.png"))
    detector = load_model("yolo11n-coco", {"threads": 2, "ontology": ONTOLOGY})
    assert set(detector.classes) == {"Car", "Pedestrian"}
    got = Predictor(detector).predict_frame(frame)
    want = Predictor("yolo11n-coco", threads=2, class_map="kitti", classes=["Car", "Pedestrian"]).predict_frame(frame)
    assert got.labels and {lab.category for lab in got.labels} <= {"Car", "Pedestrian"}
    assert [(lab.category, lab.box) for lab in got.labels] == [(lab.category, lab.box) for lab in want.labels]


def test_an_endpoint_labels_in_the_models_ontology(client: Client, service: ServiceProcess, tmp_path: Path) -> None:
    info = client.create_model("y11-kitti", "yolo11n-coco", threads=1, ontology=ONTOLOGY)
    assert info.options["ontology"] == ONTOLOGY
    with pytest.raises(ServiceError, match=r"unknown class .*'Bus'"):
        client.create_model("y11-bad", "yolo11n-coco", ontology={"class_map": "kitti", "classes": ["Bus"]})
    client.create_endpoint_config("y11-kitti-cfg", "y11-kitti", output_path=str(tmp_path / "out"))
    client.create_endpoint("y11-kitti-ep", "y11-kitti-cfg", FAST)
    png = (KITTI / "image_2" / "000008.png").read_bytes()
    r = httpx.post(
        f"{service.url}/endpoints/y11-kitti-ep/invocations", content=png, headers={"content-type": "image/png"},
        timeout=120,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    cats = [lab["category"] for lab in r.json()["labels"]]
    assert "Car" in cats and set(cats) <= {"Car", "Pedestrian"}
    client.delete_endpoint("y11-kitti-ep")


def test_a_plain_onnx_file_is_a_model_of_kind_onnx_with_its_ontology(client: Client, tmp_path: Path) -> None:
    """An Ultralytics export under the service's roots, its classes read from the file, checked against the map."""
    import shutil

    from prelabel.models.loader import prepare_entry
    from prelabel.models.zoo import get_entry

    path = tmp_path / "y11.onnx"
    shutil.copy(prepare_entry(get_entry("yolo11n-coco"))["model"], path)
    info = client.create_model("y11-file", str(path), threads=1, ontology={"class_map": "bdd", "classes": "car"})
    assert info.kind == "onnx" and info.options["ontology"]["classes"] == "car"
    with pytest.raises(ServiceError, match=r"unknown class \(after class map coco80-to-bdd\) 'Car'"):
        client.create_model("y11-file2", str(path), ontology={"class_map": "bdd", "classes": ["Car"]})
