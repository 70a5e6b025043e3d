"""Frame selection: perceptual hashes on real 10 Hz logs, uncertainty ranking on hand-built records."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import numpy as np
import pytest

from prelabel.core.labels import Box2D, Frame, FrameRecord, Label
from prelabel.quality.selection import dhash, frame_uncertainty, hamming, label_uncertainty, select_frames
from prelabel.sources.images import image_frames


def test_dhash_basics() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (120, 200, 3), dtype=np.uint8)
    h = dhash(img)
    assert hamming(h, dhash(img)) == 0
    assert hamming(h, dhash(np.clip(img.astype(int) + 10, 0, 255).astype(np.uint8))) < 20  # brighter: same
    assert hamming(h, dhash(img[:, ::-1])) > 80  # mirrored: a different picture
    assert 0 <= h < 1 << 256


def test_bdd_sequences_count_once_each(shared_data: Path) -> None:
    frames = image_frames(str(shared_data / "bdd100k" / "track" / "images"))
    assert len(frames) == 12
    sel = select_frames(frames, budget=12)
    assert sel.groups == 2 and len(sel.frames) == 2
    assert {f.split("/")[0] for f in sel.frames} == {"00091078-875c1f73", "b1c66a42-6f7d68ca"}


def test_consecutive_odometry_frames_are_never_both_chosen(shared_data: Path) -> None:
    frames = image_frames(str(shared_data / "kitti_odometry" / "KITTI_sequence_1" / "image_l"))
    assert len(frames) == 51
    sel = select_frames(frames, budget=51)
    idx = sorted(int(f.split("/")[-1]) for f in sel.frames)
    assert 5 <= len(idx) <= 30
    assert all(b - a > 1 for a, b in itertools.pairwise(idx))


def test_distinct_kitti_scenes_stay_apart(kitti: Path) -> None:
    sel = select_frames(image_frames(str(kitti / "image_2")), budget=30)
    assert len(sel.frames) >= 25


def _rec(fid: str, scores: list[float], agreement: list[int] | None = None) -> FrameRecord:
    labels = [
        Label(
            id=f"{fid}{i}",
            category="car",
            source="fused",
            score=s,
            box=Box2D(x1=0, y1=0, x2=5, y2=5),
            attributes={} if agreement is None else {"agreement": agreement[i], "fused_from": ["a", "b"]},
        )
        for i, s in enumerate(scores)
    ]
    return FrameRecord(frame=Frame(id=fid, uri=f"/x/{fid}.png"), labels=labels)


def _hasher(f: Frame) -> int:
    base = f.id.rstrip("'")  # "b'" is a near copy of "b"
    return int.from_bytes(hashlib.sha256(base.encode()).digest())


def test_uncertainty_ranks_and_near_copies_count_once() -> None:
    assert label_uncertainty(0.5) == 1.0 and label_uncertainty(1.0) == 0.0 and label_uncertainty(0.0) == 0.0
    sure = _rec("a", [0.99, 0.98])
    unsure = _rec("b", [0.5, 0.55, 0.45])
    copy = _rec("b'", [0.5, 0.55, 0.45])
    middling = _rec("c", [0.7])
    assert frame_uncertainty(unsure) == pytest.approx(2.8)
    sel = select_frames([sure, unsure, copy, middling], budget=3, hasher=_hasher)
    assert sel.frames == ["b", "c", "a"] and sel.duplicates_skipped == 1
    assert select_frames([sure, unsure, middling], budget=1, hasher=_hasher, exclude=["b"]).frames == ["c"]


def test_model_disagreement_adds_uncertainty() -> None:
    agreed = _rec("x", [0.9, 0.9], agreement=[2, 2])
    disputed = _rec("y", [0.9, 0.9], agreement=[1, 2])
    assert frame_uncertainty(disputed, n_models=2) == pytest.approx(frame_uncertainty(agreed, n_models=2) + 0.9)
    assert select_frames([agreed, disputed], budget=1, hasher=_hasher).frames == ["y"]
    failed = FrameRecord(frame=Frame(id="z", uri="/x/z.png"), status="failed", error="boom")
    assert select_frames([agreed, failed], budget=1, hasher=_hasher).frames == ["z"]
    with pytest.raises(ValueError, match="budget"):
        select_frames([agreed], budget=-1, hasher=_hasher)
