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


@pytest.mark.parametrize("method", ["wbf", "nms", "vote"])
def test_fuse_records_equals_fuse_sets_on_bdd_detections(shared_data, method: str) -> None:  # type: ignore[no-untyped-def]
    """fuse_records pools straight from records and builds records from rows; fuse_sets works on label sets: the
    same fused labels, field by field."""
    from prelabel.quality.inputs import load_records
    from prelabel.refine.fusion import fuse_records

    a = load_records(shared_data / "scalabel_eval" / "eval" / "det" / "bbox_predictions.json")[:40]
    rng = np.random.default_rng(3)
    b = []
    for r in a:  # a second model: boxes moved a little, scores scaled, the last box dropped
        labels = [
            lab.model_copy(
                update={
                    "id": lab.id + "b",
                    "source": "model:other@1",
                    "score": round(float(lab.score or 1.0) * rng.uniform(0.7, 1.0), 4),
                    "box": Box2D.from_xyxy(np.asarray(lab.box.xyxy) + rng.normal(0, 2, 4).clip(-3, 3) * [1, 1, 0, 0]),
                }
            )
            for lab in r.labels[:-1]
        ]
        b.append(r.model_copy(update={"labels": labels}))
    maps = [{"bus": "truck"}, None]
    fused = fuse_records([a, b], method=method, names=["a", "b"], class_maps=maps, skip_score=0.1, min_votes=2)
    for rec, ra, rb in zip(fused, a, b, strict=True):
        sets = [LabelSet.from_labels(ra.labels), LabelSet.from_labels(rb.labels)]
        fn = [lambda c: {"bus": "truck"}.get(c, c), lambda c: c]
        want = fuse_sets(rec.frame.id, sets, maps=fn, names=["a", "b"], method=method, skip_score=0.1, votes=2)
        assert [lab.model_dump() for lab in rec.labels] == [lab.model_dump() for lab in want.to_labels()]
    assert sum(len(r.labels) for r in fused) > 200


def test_fusion_class_map_must_answer_a_name_or_none() -> None:
    from prelabel.errors import FormatError

    a = _set("a", [("car", (0, 0, 10, 10), 0.8)])
    with pytest.raises(FormatError, match="maps 'car' to ''"):
        fuse_sets("f", [a], maps=[lambda c: ""])
