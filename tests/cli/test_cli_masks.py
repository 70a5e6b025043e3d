"""`prelabel label --tiled --tta --masks sam` then `prelabel show`, through the installed command."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from prelabel.labelfile import read_records
from tests.helpers.cli import prelabel


def test_label_tiled_tta_with_masks_then_show(kitti_frames: Callable[..., Path], tmp_path: Path) -> None:
    frames = kitti_frames("000008")
    out = tmp_path / "labels.jsonl"
    r = prelabel(
        "label", str(frames), "--out", str(out), "--model", "ssd-mobilenet-v2-coco", "--tiled", "--tta",
        "--masks", "sam", "--state", str(tmp_path / "jobs"), "--min-score", "0.3",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    (record,) = read_records(out)
    assert record.status == "ok" and len(record.labels) >= 5
    assert all(lab.mask is not None and lab.mask.size == (375, 1242) for lab in record.labels)
    assert {lab.attributes["inference"] for lab in record.labels} == {"tiled+tta+masks:sam"}  # provenance
    cars = [lab for lab in record.labels if lab.category == "car"]
    assert cars and max(lab.mask.to_array().sum() for lab in cars if lab.mask) > 1000

    png = tmp_path / "000008.png"
    r = prelabel("show", str(out), "--frame", "000008", "-o", str(png))
    assert r.returncode == 0, r.stderr
    import cv2

    drawn, orig = cv2.imread(str(png)), cv2.imread(str(frames / "000008.png"))
    union = np.zeros(orig.shape[:2], dtype=bool)
    for lab in record.labels:
        assert lab.mask is not None
        union |= lab.mask.to_array()
    assert (drawn != orig).any(axis=2)[union].mean() > 0.9  # every mask is tinted in the overlay


def test_unknown_mask_model_is_one_clear_line(kitti: Path, tmp_path: Path) -> None:
    r = prelabel(
        "label", str(kitti / "image_2" / "000001.png"), "--out", str(tmp_path / "l.jsonl"), "--masks", "maskrcnn",
        "--state", str(tmp_path / "jobs"),
    )  # fmt: skip
    assert r.returncode == 2
    assert "unknown mask model 'maskrcnn'; expected one of: native, sam" in r.stdout + r.stderr
    assert not (tmp_path / "l.jsonl").exists()
