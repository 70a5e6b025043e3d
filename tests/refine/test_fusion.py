"""Fusion: hand-built tables with known answers, and real SSD outputs on KITTI."""

from __future__ import annotations

import numpy as np
import pytest

from prelabel.core.labels import Box2D, Frame, FrameRecord, Label
from prelabel.errors import PrelabelError, UnknownNameError
from prelabel.quality.evaluate import evaluate, kitti_config
from prelabel.refine.fusion import cluster_boxes, fuse_records


def _set(
    model: str, frames: dict[str, list[tuple[str, tuple[float, float, float, float], float]]]
) -> list[FrameRecord]:
    return [
        FrameRecord(
            frame=Frame(id=fid, uri=f"/x/{fid}.png"),
            labels=[
                Label(id=f"{model}-{fid}-{i}", category=c, source=f"model:{model}@1", score=s, box=Box2D.from_xyxy(b))
                for i, (c, b, s) in enumerate(labels)
            ],
        )
        for fid, labels in frames.items()
    ]


A = _set("a", {"f": [("car", (0, 0, 10, 10), 0.9), ("person", (50, 50, 60, 80), 0.6)]})
B = _set("b", {"f": [("car", (2, 0, 12, 10), 0.6), ("truck", (100, 100, 140, 130), 0.8)]})
C = _set("c", {"f": [("car", (1, 0, 11, 10), 0.3)]})


def test_wbf_averages_boxes_and_keeps_provenance() -> None:
    out = fuse_records([A, B], method="wbf", iou_threshold=0.5)
    labels = {lab.category: lab for lab in out[0].labels}
    car = labels["car"]
    # score-weighted mean of x1: (0*0.9 + 2*0.6) / 1.5 = 0.8; score = (0.9 + 0.6) / 2 models
    assert car.box is not None and car.box.x1 == pytest.approx(0.8) and car.box.x2 == pytest.approx(10.8)
    assert car.score == pytest.approx(0.75)
    assert car.source == "fused"
    assert car.attributes["fused_from"] == ["model:a@1", "model:b@1"] and car.attributes["agreement"] == 2
    assert sorted(car.attributes["members"]) == ["a-f-0", "b-f-0"]
    # a box only one model found keeps its box, with its score halved (the other model gave 0)
    assert labels["truck"].score == pytest.approx(0.4) and labels["truck"].attributes["agreement"] == 1
    assert [lab.score for lab in out[0].labels] == sorted((lab.score for lab in out[0].labels), reverse=True)


def test_weights_and_class_maps() -> None:
    out = fuse_records([A, B], method="wbf", weights=[1, 3], class_maps=[None, {"truck": "car"}], iou_threshold=0.5)
    cats = sorted(lab.category for lab in out[0].labels)
    assert cats == ["car", "car", "person"]
    car = max((lab for lab in out[0].labels if lab.category == "car"), key=lambda lab: lab.attributes["agreement"])
    assert car.score == pytest.approx((0.9 * 1 + 0.6 * 3) / 4)
    dropped = fuse_records([A, B], class_maps=[lambda c: None if c == "person" else c, None])
    assert "person" not in {lab.category for lab in dropped[0].labels}


def test_nms_keeps_the_leader_and_vote_needs_a_majority() -> None:
    nms = fuse_records([A, B, C], method="nms", iou_threshold=0.5)
    car = next(lab for lab in nms[0].labels if lab.category == "car")
    assert car.box is not None and car.box.xyxy == (0, 0, 10, 10) and car.score == pytest.approx(0.9)
    assert car.attributes["agreement"] == 3
    vote = fuse_records([A, B, C], method="vote", iou_threshold=0.5)
    assert [lab.category for lab in vote[0].labels] == ["car"]  # person and truck had one vote of three
    assert len(fuse_records([A, B, C], method="vote", min_votes=1)[0].labels) == 3


def test_cluster_one_model_counts_once() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 9.5], [0, 0, 10, 10]], dtype=float)
    cl = cluster_boxes(boxes, np.array([0.9, 0.8, 0.5]), np.array([0, 0, 1]), weights=[1, 1], iou_threshold=0.5)
    assert len(cl) == 1 and cl[0].score == pytest.approx((0.9 + 0.5) / 2)


def test_missing_and_failed_frames() -> None:
    b2 = [*B, FrameRecord(frame=Frame(id="g", uri="/x/g.png"), status="failed", error="decode error")]
    out = {r.frame.id: r for r in fuse_records([A, b2])}
    assert out["g"].status == "failed" and "decode error" in (out["g"].error or "")
    a2 = _set("a", {"h": [("car", (0, 0, 5, 5), 0.5)]})
    out2 = {r.frame.id: r for r in fuse_records([a2, B])}
    assert out2["h"].frame.meta["fusion_missing"] == ["model:b@1"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"method": "mean"}, UnknownNameError),
        ({"weights": [1.0]}, PrelabelError),
        ({"weights": [1.0, -1.0]}, PrelabelError),
        ({"class_maps": [None]}, PrelabelError),
    ],
)
def test_bad_arguments(kwargs: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        fuse_records([A, B], **kwargs)


def test_fusing_real_outputs_with_an_identical_set_changes_nothing(ssd_kitti: list[FrameRecord], kitti_gt) -> None:  # type: ignore[no-untyped-def]
    """Real SSD boxes on KITTI fused with a copy: every box found by both, same boxes, same scores, same AP.

    (The detector's own NMS leaves same-class boxes overlapping well under IoU 0.75, so a 0.75 threshold never
    merges two different boxes of one model.)"""
    copy = [
        r.model_copy(
            update={
                "labels": [lab.model_copy(update={"id": lab.id + "c", "source": "model:copy@1"}) for lab in r.labels]
            }
        )
        for r in ssd_kitti
    ]
    fused = fuse_records([ssd_kitti, copy], method="wbf", iou_threshold=0.75)
    assert sum(len(r.labels) for r in fused) == sum(len(r.labels) for r in ssd_kitti) > 500
    assert all(lab.attributes["agreement"] == 2 for r in fused for lab in r.labels)
    for a, f in zip(ssd_kitti, fused, strict=True):
        got = sorted((lab.category, lab.score, lab.box.xyxy) for lab in f.labels if lab.box)
        want = sorted((lab.category, lab.score, lab.box.xyxy) for lab in a.labels if lab.box)
        assert [g[:2] for g in got] == [w[:2] for w in want]
        assert np.allclose([g[2] for g in got], [w[2] for w in want], atol=0.01)
    cfg = kitti_config()
    assert evaluate(fused, kitti_gt, cfg).summary() == pytest.approx(evaluate(ssd_kitti, kitti_gt, cfg).summary())


def test_score_modes() -> None:
    # car: model a 0.9, model b 0.6 -> mean 0.75, max 0.9, noisy-or 1 - 0.1 * 0.4 = 0.96
    got = {
        mode: next(lab.score for lab in fuse_records([A, B], score_mode=mode)[0].labels if lab.category == "car")
        for mode in ("mean", "max", "noisy-or")
    }
    assert got == pytest.approx({"mean": 0.75, "max": 0.9, "noisy-or": 0.96})
    with pytest.raises(UnknownNameError):
        fuse_records([A, B], score_mode="median")


def test_two_real_detectors_agreement_means_precision(ssd_kitti, nanodet_kitti, kitti_gt) -> None:  # type: ignore[no-untyped-def]
    """SSD and NanoDet on KITTI, fused: boxes both models found are far more often right than boxes one found,
    and the fusion beats the weaker model."""
    from prelabel.quality.calibration import samples_from_ground_truth

    fused = fuse_records([ssd_kitti, nanodet_kitti], method="wbf")
    sources = {ssd_kitti[0].labels[0].source, nanodet_kitti[0].labels[0].source}
    agreement = {}
    for rec in fused:
        for lab in rec.labels:
            assert set(lab.attributes["fused_from"]) <= sources
            assert lab.attributes["agreement"] == len(lab.attributes["fused_from"])
            agreement[(rec.frame.id, lab.id)] = lab.attributes["agreement"]
    verdicts = samples_from_ground_truth(fused, kitti_gt, kitti_config())
    precision = {}
    for k in (1, 2):
        got = [v.correct for v in verdicts if agreement[(v.frame_id, v.label_id)] == k]
        assert len(got) >= 20
        precision[k] = sum(got) / len(got)
    assert precision[2] >= 0.3 and precision[1] <= 0.1, precision
    cfg = kitti_config()
    ssd_car = evaluate(ssd_kitti, kitti_gt, cfg).ap("Car", 0.5)
    fused_car = evaluate(fused, kitti_gt, cfg).ap("Car", 0.5)
    assert ssd_car is not None and fused_car is not None and fused_car > ssd_car
