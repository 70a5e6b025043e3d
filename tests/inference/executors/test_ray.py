"""A real bulk job on Ray Data (local Ray on 127.0.0.1, started by the project's code)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from prelabel.labelfile import read_records
from tests.helpers.cli import prelabel

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def test_ray_executor_labels_like_the_local_one(kitti_frames: Callable[..., Path], tmp_path: Path) -> None:
    frames = kitti_frames("000001", "000002", "000003", "000004", "000005", "000008")
    (frames / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    env = {"PRELABEL_STATE": str(tmp_path / "state")}

    r = prelabel(
        "label",
        str(frames),
        "--model",
        "ssd-mobilenet-v2-coco",
        "--out",
        str(tmp_path / "ray.jsonl"),
        "--executor",
        "ray",
        env=env,
    )
    assert r.returncode == 1, r.stderr  # one frame failed, recorded; the job went on
    assert "frames: 7  labelled: 6  failed: 1" in r.stdout
    on_ray = read_records(tmp_path / "ray.jsonl")

    r = prelabel(
        "label", str(frames), "--model", "ssd-mobilenet-v2-coco", "--out", str(tmp_path / "local.jsonl"), env=env
    )
    assert r.returncode == 1, r.stderr
    local = read_records(tmp_path / "local.jsonl")

    assert [x.frame.id for x in on_ray] == [x.frame.id for x in local]
    failed = [x for x in on_ray if x.status == "failed"]
    assert [x.frame.id for x in failed] == ["broken"] and "not a decodable image" in (failed[0].error or "")
    for a, b in zip(on_ray, local, strict=True):
        assert [(lab.category, lab.box) for lab in a.labels] == [(lab.category, lab.box) for lab in b.labels]
    assert sum(len(x.labels) for x in on_ray) > 10
