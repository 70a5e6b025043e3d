"""The Predictor composes the tiling and TTA wrappers around its detector."""

from __future__ import annotations

from pathlib import Path

from prelabel.core.labels import Frame
from prelabel.inference.predictor import Predictor
from prelabel.models.base import Detector
from prelabel.refine.tiling import TiledDetector
from prelabel.refine.tta import FlipTTADetector
from prelabel.sources.images import image_frames


def test_predictor_tiled_and_tta_wrap_the_detector(ssd: Detector, kitti: Path) -> None:
    frames: list[Frame] = image_frames(str(kitti / "image_2" / "000001.png"))
    plain = Predictor(ssd)
    both = Predictor(ssd, tiled=True, tta=True)
    assert isinstance(both.detector, TiledDetector) and isinstance(both.detector.detector, FlipTTADetector)
    rec_plain, rec_both = plain(frames)[0], both(frames)[0]
    assert rec_plain.status == rec_both.status == "ok"
    assert len(rec_both.labels) > len(rec_plain.labels)
    assert {lab.source for lab in rec_both.labels} == {ssd.source}
    assert all(lab.mask is None for lab in rec_both.labels)
