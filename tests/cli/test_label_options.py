"""`prelabel label` with the model options of issue 14, end to end through the installed command on real KITTI
frames: a class map, native masks, a plain .onnx export, a refused device, bad combinations."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from prelabel.labelfile import read_records
from tests.helpers.cli import prelabel

FRAMES = ["000001", "000008"]


@pytest.fixture()
def frames(kitti_frames: Callable[..., Path]) -> Path:
    return kitti_frames(*FRAMES)


def test_class_map_kitti_writes_kitti_names_only(frames: Path, tmp_path: Path) -> None:
    out = tmp_path / "kitti.jsonl"
    r = prelabel("label", str(frames), "--model", "yolo11n-coco", "--class-map", "kitti", "--out", str(out))
    assert r.returncode == 0, r.stderr
    cats = {lab.category for rec in read_records(out) for lab in rec.labels}
    assert "Car" in cats and cats <= {"Car", "Pedestrian", "Cyclist", "Truck", "Tram"}


def test_native_masks_are_written_as_rle(frames: Path, tmp_path: Path) -> None:
    out = tmp_path / "masks.jsonl"
    r = prelabel("label", str(frames), "--model", "yolo11n-seg-coco", "--masks", "native", "--out", str(out))
    assert r.returncode == 0, r.stderr
    labels = [lab for rec in read_records(out) for lab in rec.labels]
    assert labels and all(lab.mask is not None and list(lab.mask.size) == [375, 1242] for lab in labels)
    assert all(lab.attributes["inference"] == "masks:native" for lab in labels)


def test_plain_onnx_export_labels_without_flags(frames: Path, tmp_path: Path) -> None:
    from prelabel.models.loader import prepare_entry
    from prelabel.models.zoo import get_entry

    onnx = tmp_path / "my-detector.onnx"
    shutil.copy(prepare_entry(get_entry("yolo11n-coco"))["model"], onnx)
    out = tmp_path / "own.jsonl"
    r = prelabel("label", str(frames), "--model", str(onnx), "--out", str(out))
    assert r.returncode == 0, r.stderr
    labels = [lab for rec in read_records(out) for lab in rec.labels]
    assert any(lab.category == "car" for lab in labels)
    assert all(lab.source.startswith("model:my-detector@sha256-") for lab in labels)


def test_bad_options_fail_before_a_job_exists(frames: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {"PRELABEL_STATE": str(state)}
    out = str(tmp_path / "o.jsonl")
    cases = [
        (["--model", "yolo11n-coco", "--device", "cuda"], "needs ONNX Runtime's CUDAExecutionProvider"),
        (["--model", "yolo11n-coco", "--device", "gpu"], "unknown device 'gpu'"),
        (["--model", "yolo11n-coco", "--masks", "native"], "--masks native needs a segmentation model"),
        (["--model", "yolo11n-seg-coco", "--masks", "native", "--tiled"], "--masks native takes the masks of one"),
        (["--model", "yolo11n-coco", "--class-map", "kitti", "--classes", "car"], "expected one of: Car, Cyclist"),
        (["--model", "yolo11n-coco", "--class-map", "mars"], "unknown class map 'mars'"),
        (["--preset", "fastest"], "unknown preset 'fastest'"),
        (["--model", "yolo11n-coco", "--preset", "fast"], "give --model or --preset, not both"),
        (["--model", str(tmp_path / "none.onnx")], "ONNX model file not found"),
        (["--model", "centerface"], "centerface is a faces model (for prelabel anonymise), not a labeller"),
    ]
    for args, message in cases:
        r = prelabel("label", str(frames), *args, "--out", out, env=env)
        assert r.returncode == 2 and message in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert not state.exists() or not any(state.iterdir())
