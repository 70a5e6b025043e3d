"""The private registry in a folder and on a real S3-protocol server: register, list, resolve, load through
``load_detector('team/name@version')``, immutable versions, remove, and refusal of a tampered cached copy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prelabel.errors import InputNotFoundError, IntegrityError, OutputExistsError, UnknownNameError
from prelabel.models import load_detector
from prelabel.models.fetch import file_path
from prelabel.models.registry import Registry, RegistryError
from tests.models.conftest import const_model

IMAGE = np.zeros((32, 64, 3), np.uint8)
# yolov8 head (4 + 2 classes, 2 candidates): a pedestrian at 0.9 and a cyclist at 0.6, in net pixels (64 x 32)
HEAD = np.array([[[20.0, 50.0], [16.0, 10.0], [20.0, 8.0], [10.0, 8.0], [0.9, 0.1], [0.0, 0.6]]], np.float32)


@pytest.fixture()
def onnx_file(tmp_path: Path) -> Path:
    return const_model(tmp_path / "ped.onnx", {"out": HEAD}, [1, 3, 32, 64])


@pytest.fixture()
def classes_txt(tmp_path: Path) -> Path:
    p = tmp_path / "classes.txt"
    p.write_text("pedestrian\ncyclist\n")
    return p


def _register(reg: Registry, onnx_file: Path, classes_txt: Path, version: str) -> None:
    reg.register(
        onnx_file, name="team/ped-detector", version=version, decoder="yolov8", classes=str(classes_txt),
        options={"resize": "stretch"},
    )  # fmt: skip


def test_folder_registry_round_trip(tmp_path: Path, onnx_file: Path, classes_txt: Path) -> None:
    reg = Registry(str(tmp_path / "registry"))
    _register(reg, onnx_file, classes_txt, "3")
    _register(reg, onnx_file, classes_txt, "10")
    assert [f"{e.id}@{e.version}" for e in reg.entries()] == ["team/ped-detector@10", "team/ped-detector@3"]
    assert reg.versions("team/ped-detector") == ["3", "10"]
    entry = reg.resolve("team/ped-detector")  # newest version
    assert entry.version == "10" and entry.input_size == [64, 32] and entry.options["layout"] == "nchw"
    assert entry.class_names == ("pedestrian", "cyclist")

    cache = tmp_path / "cache"
    det = load_detector("team/ped-detector@3", cache, registry=reg.root, min_score=0.5)
    assert det.source == "model:team/ped-detector@3"
    dets = det.detect(IMAGE)
    assert dets.xyxy.tolist() == [[10.0, 11.0, 30.0, 21.0], [46.0, 6.0, 54.0, 14.0]]
    assert [det.classes[c] for c in dets.class_ids] == ["pedestrian", "cyclist"]

    with pytest.raises(OutputExistsError, match="team/ped-detector@3 .*versions are immutable"):
        _register(reg, onnx_file, classes_txt, "3")

    cached = file_path(reg.resolve("team/ped-detector@3"), "model", cache)
    cached.write_bytes(cached.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match="sha256 mismatch for cached team/ped-detector@3 model"):
        load_detector("team/ped-detector@3", cache, registry=reg.root)

    reg.remove("team/ped-detector@3")
    assert reg.versions("team/ped-detector") == ["10"]
    with pytest.raises(UnknownNameError, match=r"'team/ped-detector@3'; expected one of: team/ped-detector@10"):
        reg.resolve("team/ped-detector@3")


def test_registry_from_environment_and_bad_input(
    tmp_path: Path, onnx_file: Path, classes_txt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRELABEL_REGISTRY", raising=False)
    with pytest.raises(RegistryError, match="no model registry given: pass --registry"):
        Registry.open()
    monkeypatch.setenv("PRELABEL_REGISTRY", str(tmp_path / "reg"))
    reg = Registry.open()
    with pytest.raises(RegistryError, match="must look like team/name"):
        reg.register(onnx_file, name="Ped Detector", version="1", decoder="yolov8", classes=str(classes_txt))
    with pytest.raises(UnknownNameError, match="unknown decoder 'yolo11'; expected one of: centernet"):
        reg.register(onnx_file, name="team/ped", version="1", decoder="yolo11", classes=str(classes_txt))
    not_onnx = tmp_path / "notes.onnx"
    not_onnx.write_bytes(b"this is not a model")
    with pytest.raises(RegistryError, match="is not a readable ONNX model"):
        reg.register(not_onnx, name="team/ped", version="1", decoder="yolov8", classes=str(classes_txt))
    _register(reg, onnx_file, classes_txt, "1")
    det = load_detector("team/ped-detector@1", tmp_path / "cache", min_score=0.5)  # registry from the environment
    assert len(det.detect(IMAGE)) == 2


@pytest.mark.s3
def test_s3_registry(s3_server: str, tmp_path: Path, onnx_file: Path, classes_txt: Path) -> None:
    import s3fs

    s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}).mkdir("models-bucket")
    reg = Registry("s3://models-bucket/registry")
    _register(reg, onnx_file, classes_txt, "3")
    assert [f"{e.id}@{e.version}" for e in reg.entries()] == ["team/ped-detector@3"]
    assert reg.resolve("team/ped-detector@3").files["model"].source == (
        "s3://models-bucket/registry/team/ped-detector/3/model.onnx"
    )
    det = load_detector("team/ped-detector@3", tmp_path / "cache", registry=reg.root, min_score=0.5)
    assert det.detect(IMAGE).xyxy.tolist() == [[10.0, 11.0, 30.0, 21.0], [46.0, 6.0, 54.0, 14.0]]
    with pytest.raises(OutputExistsError):
        _register(reg, onnx_file, classes_txt, "3")
    reg.remove("team/ped-detector@3")
    assert reg.entries() == []


def test_a_missing_onnx_file_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # an .onnx path is a model reference of its own (prelabel.models.onnx_file), no registry involved
    monkeypatch.delenv("PRELABEL_REGISTRY", raising=False)
    with pytest.raises(InputNotFoundError, match=r"ONNX model file not found: ped.onnx"):
        load_detector("./ped.onnx")
