"""Fusion on columnar label sets: hand-computed clusters, scores and provenance, no record per box."""

from __future__ import annotations

import numpy as np
import pytest

from prelabel.core.labels import Box2D, Label
from prelabel.core.labelset import LabelSet
from prelabel.refine.fusion import fuse_sets


def _set(model: str, rows: list[tuple[str, tuple[float, float, float, float], float]]) -> LabelSet:
    return LabelSet.from_labels(
        [
            Label(id=f"{model}{i}", category=c, source=f"model:{model}@1", score=s, box=Box2D.from_xyxy(b))
            for i, (c, b, s) in enumerate(rows)
        ]
    )


def test_fuse_sets_wbf_hand_values() -> None:
    a = _set("a", [("car", (0, 0, 10, 10), 0.8), ("person", (50, 50, 60, 70), 0.6)])
    b = _set("b", [("car", (2, 0, 12, 10), 0.4), ("bike", (50, 50, 60, 70), 0.9)])
    out = fuse_sets("f", [a, b, None], names=["a", "b", "c"], iou_threshold=0.5)
    # car: IoU 8/12 > 0.5, box weighted 0.8 : 0.4, score (0.8 + 0.4) / 3 models; the others alone: s / 3
    assert out.names.tolist() == ["car", "bike", "person"]  # best score first
    assert out.scores.tolist() == pytest.approx([0.4, 0.3, 0.2])
    assert np.allclose(out.xyxy[0], [0.67, 0, 10.67, 10])  # rounded to 0.01 px
    assert out.attributes[0] == {"fused_from": ["a", "b"], "agreement": 2, "members": ["a0", "b0"], "method": "wbf"}
    assert set(out.sources.tolist()) == {"fused"} and len(set(out.ids.tolist())) == 3
    assert [lab.category for lab in out.to_labels()] == ["car", "bike", "person"]


def test_fuse_sets_vote_and_class_maps() -> None:
    a = _set("a", [("car", (0, 0, 10, 10), 0.8), ("truck", (0, 0, 10, 10), 0.9)])
    b = _set("b", [("car", (1, 0, 11, 10), 0.7)])
    vehicles = [lambda c: "vehicle" if c in ("car", "truck") else None] * 2
    out = fuse_sets("f", [a, b], maps=vehicles, method="vote", votes=2, iou_threshold=0.5)
    assert out.names.tolist() == ["vehicle"] and out.attributes[0]["agreement"] == 2
    assert out.attributes[0]["members"] == ["a1", "a0", "b0"]  # best first; one model's two boxes count once
    assert out.scores[0] == pytest.approx((0.9 + 0.7) / 2)
    assert len(fuse_sets("f", [None, LabelSet.empty()])) == 0
