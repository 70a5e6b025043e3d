"""Real model outputs on the 30 KITTI frames, computed once per session, and the KITTI ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from prelabel.core.labels import FrameRecord


@pytest.fixture(scope="session")
def ssd_kitti(kitti: Path) -> list[FrameRecord]:
    """The default SSD on every KITTI frame, scores down to 0.05 (AP needs the low-scored tail too)."""
    from prelabel.inference.predictor import Predictor
    from prelabel.sources.images import image_frames

    predictor = Predictor("ssd-mobilenet-v2-coco", min_score=0.05, threads=2)
    return predictor(image_frames(str(kitti / "image_2")))


@pytest.fixture(scope="session")
def ssd_kitti_file(ssd_kitti: list[FrameRecord], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from prelabel.labelfile import write_records

    p = tmp_path_factory.mktemp("ssd") / "ssd_kitti.jsonl"
    write_records(p, ssd_kitti)
    return p


@pytest.fixture(scope="session")
def nanodet_kitti(kitti: Path) -> list[FrameRecord]:
    """NanoDet-m (a second, different zoo detector) on every KITTI frame, scores down to 0.05."""
    from prelabel.inference.predictor import Predictor
    from prelabel.sources.images import image_frames

    predictor = Predictor("nanodet-m-coco", min_score=0.05, threads=2)
    return predictor(image_frames(str(kitti / "image_2")))
