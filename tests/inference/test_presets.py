"""The shipped presets on real KITTI frames: each builds from presets.json, labels in the driving ontology with
its per-class thresholds, and ``prelabel label`` without --model runs the best one; the ensemble behind a fused
preset is the fusion of its members' labels."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from prelabel.core.classmap import ClassMap
from prelabel.inference.predictor import Predictor
from prelabel.inference.presets import DEFAULT_PRESET, get_preset, presets
from prelabel.labelfile import read_records
from prelabel.sources.images import image_frames
from tests.helpers.cli import prelabel

DRIVING = set(ClassMap.load("coco80-to-driving").targets())


def test_three_presets_each_measured() -> None:
    assert set(presets()) == {"fast", "balanced", "best"} and DEFAULT_PRESET == "best"
    for p in presets().values():
        assert p["members"] and p["class_map"] == "driving" and "measured" in p
        assert set(p["min_scores"]) <= DRIVING


@pytest.mark.parametrize("name", ["fast", "balanced", "best"])
def test_preset_labels_kitti_in_the_driving_ontology(name: str, kitti: Path) -> None:
    p = get_preset(name)
    records = Predictor("unused", preset=name, threads=2)(image_frames(str(kitti / "image_2"))[8:10])
    labels = [lab for r in records for lab in r.labels]
    assert all(r.status == "ok" for r in records) and labels
    assert {lab.category for lab in labels} <= DRIVING and any(lab.category == "car" for lab in labels)
    for lab in labels:
        assert (lab.score or 0) >= p["min_scores"].get(lab.category, p["min_score"]) - 1e-6
        assert lab.attributes["inference"] == f"preset:{name}"


def test_ensemble_is_the_fusion_of_its_members(kitti: Path) -> None:
    from prelabel.core.labels import Frame, FrameRecord
    from prelabel.inference.ensemble import EnsembleDetector
    from prelabel.models import load_detector
    from prelabel.refine.fusion import fuse_records
    from prelabel.sources.images import load_image

    a = load_detector("yolo11n-coco", threads=2, min_score=0.1)
    b = load_detector("nanodet-m-coco", threads=2, min_score=0.1)
    image = load_image(image_frames(str(kitti / "image_2"))[8])
    ens = EnsembleDetector([a, b], name="t", iou_threshold=0.55)
    got = ens.detect(image)
    frame = Frame(id="f", uri="f.png")
    sets = [[FrameRecord(frame=frame, labels=d.detect(image).to_labels("f", d.source, d.classes))] for d in (a, b)]
    want = fuse_records(sets, iou_threshold=0.55)[0].labels
    assert len(got) == len(want) and ens.source == "model:t@yolo11n-coco+nanodet-m-coco"
    assert np.allclose(np.sort(got.scores), np.sort([lab.score for lab in want]), atol=1e-5)


def test_label_without_model_runs_the_best_preset(kitti_frames: Callable[..., Path], tmp_path: Path) -> None:
    frames = kitti_frames("000008")
    out = tmp_path / "best.jsonl"
    r = prelabel("label", frames, "--out", out, env={"PRELABEL_STATE": str(tmp_path / "state")})
    assert r.returncode == 0, r.stderr
    labels = [lab for rec in read_records(out) for lab in rec.labels]
    assert labels and all(lab.attributes["inference"] == "preset:best" for lab in labels)
    assert {lab.category for lab in labels} <= DRIVING
