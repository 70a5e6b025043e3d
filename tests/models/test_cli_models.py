"""`prelabel models ...` and `prelabel label --model <registry ref>` end to end through the installed command."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from prelabel.labelfile import read_records
from tests.helpers.cli import prelabel
from tests.models.conftest import const_model

HEAD = np.array([[[20.0, 50.0], [16.0, 10.0], [20.0, 8.0], [10.0, 8.0], [0.9, 0.1], [0.0, 0.6]]], np.float32)


def test_register_list_info_label_remove(tmp_path: Path, kitti_frames: Callable[..., Path]) -> None:
    onnx_file = const_model(tmp_path / "ped.onnx", {"out": HEAD}, [1, 3, 32, 64])
    (tmp_path / "classes.txt").write_text("pedestrian\ncyclist\n")
    env = {"PRELABEL_REGISTRY": str(tmp_path / "registry"), "PRELABEL_CACHE": str(tmp_path / "cache")}
    args = ["--name", "team/ped-detector", "--decoder", "yolov8", "--classes", str(tmp_path / "classes.txt")]
    r = prelabel("models", "register", str(onnx_file), *args, "--version", "3", "-O", "resize=stretch", env=env)
    assert r.returncode == 0, r.stderr
    assert "registered team/ped-detector@3 (2 classes, decoder yolov8)" in r.stdout
    r = prelabel("models", "register", str(onnx_file), *args, "--version", "3", env=env)
    assert r.returncode == 2 and "versions are immutable" in r.stderr

    r = prelabel("models", "list", env=env)
    assert r.returncode == 0, r.stderr
    assert "nanodet-m-coco" in r.stdout and "team/ped-detector" in r.stdout and "2 classes" in r.stdout
    r = prelabel("models", "info", "team/ped-detector@3", env=env)
    info = json.loads(r.stdout)
    assert info["decoder"] == "yolov8" and info["classes"] == ["pedestrian", "cyclist"]

    frames = kitti_frames("000001")
    out = tmp_path / "labels.jsonl"
    r = prelabel(
        "label", str(frames), "--model", "team/ped-detector@3", "--out", str(out), "--min-score", "0.5", env=env
    )
    assert r.returncode == 0, r.stderr
    (rec,) = read_records(out)
    assert {lab.category for lab in rec.labels} == {"pedestrian", "cyclist"}
    assert {lab.source for lab in rec.labels} == {"model:team/ped-detector@3"}
    # the net's 64x32 pixels stretched back over the 1242x375 frame
    ped = next(lab for lab in rec.labels if lab.category == "pedestrian").box
    assert ped is not None
    assert (ped.x1, ped.x2) == pytest.approx((10 * 1242 / 64, 30 * 1242 / 64), abs=0.01)

    r = prelabel("models", "remove", "team/ped-detector@3", "--yes", env=env)
    assert r.returncode == 0 and "removed team/ped-detector@3" in r.stdout
    r = prelabel("models", "info", "team/ped-detector@3", env=env)
    assert r.returncode == 2 and "unknown registry model" in r.stderr


def test_unknown_model_and_missing_registry_are_one_line_errors(tmp_path: Path) -> None:
    env = {"PRELABEL_REGISTRY": ""}
    r = prelabel("models", "info", "team/nothing@1", env=env)
    assert r.returncode == 2 and "no model registry given" in r.stderr and "Traceback" not in r.stderr
    r = prelabel("models", "pull", "yolo9000", env=env)
    assert r.returncode == 2 and "unknown model 'yolo9000'; expected one of:" in r.stderr


def test_pull_verify_and_a_tampered_cache_refused(tmp_path: Path, kitti: Path) -> None:
    onnx_file = const_model(tmp_path / "ped.onnx", {"out": HEAD}, [1, 3, 32, 64])
    env = {"PRELABEL_REGISTRY": str(tmp_path / "registry"), "PRELABEL_CACHE": str(tmp_path / "cache")}
    r = prelabel("models", "register", str(onnx_file), "--name", "team/ped", "--version", "1", "--decoder", "yolov8",
                 "--classes", "coco80", "--input-size", "64x32", env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = prelabel("models", "pull", "team/ped@1", env=env)
    assert r.returncode == 0 and "team/ped@1 model:" in r.stdout and "verified" in r.stdout
    cached = next((tmp_path / "cache" / "models").rglob("model-model.onnx"))
    assert prelabel("models", "verify", "team/ped@1", env=env).stdout.strip() == "team/ped@1 model: ok"
    cached.write_bytes(cached.read_bytes()[:-1] + b"\x07")
    r = prelabel("models", "verify", "team/ped@1", env=env)
    assert r.returncode == 1 and "team/ped@1 model: corrupt" in r.stdout
    r = prelabel("label", str(kitti / "image_2" / "000001.png"), "-m", "team/ped@1", "-o", str(tmp_path / "l.jsonl"),
                 env=env)  # fmt: skip
    assert r.returncode == 2
    assert "sha256 mismatch for cached team/ped@1 model (model-model.onnx)" in r.stderr and "refused" in r.stderr


def test_convert_tfjs_command(tmp_path: Path) -> None:
    from tests.models.test_tfjs_convert import tiny_tfjs

    src = tiny_tfjs(tmp_path)
    out = tmp_path / "tiny.onnx"
    r = prelabel("models", "convert-tfjs", str(src), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}" in r.stdout
    import onnx

    onnx.checker.check_model(onnx.load(str(out)))
    r = prelabel("models", "convert-tfjs", str(src), "-o", str(out))
    assert r.returncode == 2 and "output already exists" in r.stderr


def test_mobile_sam_is_zoo_data_listed_but_not_loadable_as_a_detector(tmp_path: Path) -> None:
    from prelabel.errors import PrelabelError
    from prelabel.models import get_entry, list_entries, load_detector
    from prelabel.models.sam.export import ENTRY

    assert get_entry("mobile-sam") == ENTRY and ENTRY.task == "segment-from-box"
    assert "mobile-sam" not in {e.id for e in list_entries(task="detect")}
    r = prelabel("models", "list", env={"PRELABEL_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    assert "mobile-sam" in r.stdout and "sam-mask" in r.stdout
    with pytest.raises(PrelabelError, match="mobile-sam@1.0 is a segment-from-box model, not a detector.*--masks sam"):
        load_detector("mobile-sam", cache=tmp_path / "cache")
