"""One model reference syntax everywhere: the parser's table, a plain .onnx file, and python: detectors in
`prelabel label` (the same references the service takes)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from prelabel.errors import FormatError, InputNotFoundError, PrelabelError
from prelabel.labelfile import read_records
from prelabel.models.loader import check_model_ref, load_detector
from prelabel.models.refs import ModelRef, parse_model_ref
from prelabel.service.models import model_kind
from tests.helpers.cli import prelabel
from tests.models.conftest import const_model

REPO = Path(__file__).resolve().parents[2]
HEAD = np.array([[[20.0, 50.0], [16.0, 10.0], [20.0, 8.0], [10.0, 8.0], [0.9, 0.1], [0.0, 0.6]]], np.float32)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ssd-mobilenet-v2-coco", ModelRef("ssd-mobilenet-v2-coco", "zoo", "ssd-mobilenet-v2-coco")),
        ("nanodet-m-coco@1.0", ModelRef("nanodet-m-coco@1.0", "zoo", "nanodet-m-coco", "1.0")),
        ("team/ped@3", ModelRef("team/ped@3", "registry", "team/ped", "3")),
        ("team/ped", ModelRef("team/ped", "registry", "team/ped")),
        ("http://127.0.0.1:8080/endpoints/a", ModelRef("http://127.0.0.1:8080/endpoints/a", "endpoint", "http://127.0.0.1:8080/endpoints/a")),
        ("python:my.pkg:make", ModelRef("python:my.pkg:make", "python", "my.pkg", attr="make")),
        ("models/team/x.onnx", ModelRef("models/team/x.onnx", "onnx", "models/team/x.onnx")),
        ("/abs/Y.ONNX", ModelRef("/abs/Y.ONNX", "onnx", "/abs/Y.ONNX")),
    ],
)  # fmt: skip
def test_the_parser_table(text: str, expected: ModelRef) -> None:
    assert parse_model_ref(text) == expected


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("", PrelabelError, "model reference is empty; expected a zoo id"),
        ("python:only_module", PrelabelError, "expected python:package.module:factory"),
        ("python:a:b:c", PrelabelError, "expected python:package.module:factory"),
        ("http://", FormatError, "endpoint URL has no host"),
        ("Team/Bad Name@1", PrelabelError, "must look like team/name"),
    ],
)
def test_malformed_references_say_what_was_expected(text: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        parse_model_ref(text)


def test_the_service_names_the_same_kinds() -> None:
    assert [model_kind(r) for r in ("a", "t/n@1", "https://h/e", "python:m:f", "m.onnx")] == [
        "zoo", "private", "endpoint", "python", "onnx",
    ]  # fmt: skip


def test_check_without_loading(tmp_path: Path) -> None:
    assert check_model_ref("python:tests.models.conftest:const_model") == "python"  # found, not imported
    with pytest.raises(PrelabelError, match="cannot import no_such_module_here"):
        check_model_ref("python:no_such_module_here:make")
    with pytest.raises(InputNotFoundError, match="ONNX model file not found"):
        check_model_ref(str(tmp_path / "missing.onnx"))
    with pytest.raises(InputNotFoundError, match="ONNX model file not found"):
        check_model_ref(str(tmp_path / "missing.onnx"), options={"decoder": "yolov8"})
    with pytest.raises(PrelabelError, match="unknown model 'nope'"):
        check_model_ref("nope")


def test_a_plain_onnx_file_loads_with_its_decoder_and_classes(tmp_path: Path) -> None:
    path = const_model(tmp_path / "ped.onnx", {"out": HEAD}, [1, 3, 32, 64])
    with pytest.raises(PrelabelError, match="no class names in the file .*expected Ultralytics 'names' metadata"):
        load_detector(str(path))
    det = load_detector(str(path), decoder="yolov8", classes=["pedestrian", "cyclist"], resize="stretch")
    assert det.model_id == "ped" and det.version.startswith("sha256-")
    assert tuple(det.classes) == ("pedestrian", "cyclist")
    found = det.detect(np.zeros((64, 128, 3), np.uint8))
    assert sorted(det.classes[int(c)] for c in found.class_ids) == ["cyclist", "pedestrian"]


CUSTOM = """
from prelabel.models.loader import load_detector


class OnlyCars:
    def __init__(self, **options):
        self.inner = load_detector("ssd-mobilenet-v2-coco", **options)
        self.model_id, self.version, self.classes = "only-cars", "1", self.inner.classes
        self.source = "model:only-cars@1"

    def detect(self, image):
        found = self.inner.detect(image)
        import numpy as np

        return found[np.array([self.classes[int(c)] == "car" for c in found.class_ids], bool)]


def make(**options):
    return OnlyCars(**options)
"""


def test_python_detectors_work_in_prelabel_label(kitti_frames: Callable[..., Path], tmp_path: Path) -> None:
    frames = kitti_frames("000008")
    code = tmp_path / "code"
    code.mkdir()
    (code / "my_detectors.py").write_text(CUSTOM)
    env = {"PYTHONPATH": os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "labels.jsonl"
    r = prelabel("label", frames, "--model", "python:my_detectors:make", "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    (rec,) = read_records(out)
    assert rec.status == "ok" and rec.labels
    assert {lab.category for lab in rec.labels} == {"car"}
    assert {lab.source for lab in rec.labels} == {"model:only-cars@1"}
    r = prelabel("label", frames, "--model", "python:nowhere_mod:make", "--out", tmp_path / "x.jsonl", env=env)
    assert r.returncode == 2 and "cannot import nowhere_mod" in r.stderr and "Traceback" not in r.stderr
