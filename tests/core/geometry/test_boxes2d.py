"""The one 2D box geometry module: hand-computed overlaps, NMS and clustering, and a cross-check with pycocotools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prelabel.core.geometry.boxes2d import (
    area,
    as_boxes,
    cxcywh_to_xyxy,
    greedy_cluster,
    greedy_cluster_rows,
    iou_pair,
    nms,
    overlap,
    tile_grid,
    xywh_to_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)
from prelabel.errors import UnknownNameError

A = [0, 0, 10, 10]  # area 100
B = [5, 0, 15, 10]  # area 100, overlaps A by 5 x 10 = 50
C = [0, 0, 20, 20]  # area 400, contains A
D = [30, 30, 40, 40]  # far away
Z = [5, 5, 5, 5]  # empty box


def test_conversions_round_trip_hand_values() -> None:
    b = np.array([[10, 20, 40, 60]], dtype=float)
    assert xyxy_to_xywh(b).tolist() == [[10, 20, 30, 40]]
    assert xyxy_to_cxcywh(b).tolist() == [[25, 40, 30, 40]]
    assert np.array_equal(xywh_to_xyxy(xyxy_to_xywh(b)), b)
    assert np.array_equal(cxcywh_to_xyxy(xyxy_to_cxcywh(b)), b)
    assert area([A, C, Z, [10, 10, 0, 0]]).tolist() == [100, 400, 0, 0]  # inverted box: area 0


def test_shape_errors_say_expected_and_got() -> None:
    with pytest.raises(ValueError, match=r"expected boxes of shape \(N, 4\); got shape \(2, 3\)"):
        as_boxes(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"crowd: expected one flag per box of b, shape \(2,\); got \(3,\)"):
        overlap([A], [A, B], "crowd", crowd=[True, False, True])
    with pytest.raises(UnknownNameError, match="crowd, ioa, iou"):
        overlap([A], [B], "giou")


@pytest.mark.parametrize(
    ("a", "b", "metric", "expected"),
    [
        (A, A, "iou", 1.0),
        (A, B, "iou", 50 / 150),
        (A, C, "iou", 100 / 400),
        (A, D, "iou", 0.0),
        (A, Z, "iou", 0.0),
        (Z, Z, "iou", 0.0),  # zero union: 0, not NaN
        (A, B, "ioa", 50 / 100),
        (A, C, "ioa", 1.0),  # A lies wholly inside C
        (C, A, "ioa", 100 / 400),
        (Z, A, "ioa", 0.0),
        (A, C, "crowd", 1.0),  # against a crowd box: intersection over A's area
        (C, A, "crowd", 100 / 400),
    ],
)
def test_overlap_hand_values(a: list[int], b: list[int], metric: str, expected: float) -> None:
    got = overlap([a], [b], metric)
    assert got.shape == (1, 1) and got[0, 0] == pytest.approx(expected)
    if metric == "iou":
        assert iou_pair(a, b) == pytest.approx(expected)


def test_overlap_matrix_shapes_and_crowd_mix() -> None:
    assert overlap(np.zeros((0, 4)), [A, B]).shape == (0, 2)
    assert overlap([A, B, C], np.zeros((0, 4))).shape == (3, 0)
    m = overlap([A, B], [C, A], "crowd", crowd=[True, False])
    assert np.allclose(m, [[1.0, 1.0], [1.0, 50 / 150]])  # B lies inside crowd box C


@pytest.mark.parametrize(
    ("boxes", "scores", "classes", "thr", "kept"),
    [
        ([A, B, D], [0.9, 0.8, 0.7], None, 0.3, [0, 2]),  # IoU(A, B) = 1/3 > 0.3: B suppressed
        ([A, B, D], [0.9, 0.8, 0.7], None, 0.5, [0, 1, 2]),  # 1/3 <= 0.5: kept
        ([A, B, D], [0.5, 0.8, 0.7], None, 0.3, [1, 2]),  # best first: B suppresses A
        ([A, B, D], [0.9, 0.8, 0.7], [0, 1, 0], 0.3, [0, 1, 2]),  # class-aware: A and B never compete
        ([A, A, A], [0.5, 0.5, 0.5], None, 0.5, [0]),  # ties: input order
        ([C, A, [15, 0, 25, 10]], [0.9, 0.8, 0.7], None, 0.2, [0, 2]),  # IoU(C, A) = .25 > .2; 50/450 kept
        ([], [], None, 0.5, []),
    ],
)
def test_nms_hand_values(
    boxes: list[list[int]], scores: list[float], classes: list[int] | None, thr: float, kept: list[int]
) -> None:
    assert nms(np.asarray(boxes, float).reshape(-1, 4), np.asarray(scores), thr, classes).tolist() == kept


def test_nms_class_aware_with_negative_coordinates() -> None:
    boxes = np.array([[-50, -50, -40, -40], [-50, -50, -40, -40]], float)
    assert nms(boxes, np.array([0.9, 0.8]), 0.5, np.array([3, 7])).tolist() == [0, 1]
    assert nms(boxes, np.array([0.9, 0.8]), 0.5).tolist() == [0]


def test_greedy_cluster_mean_reference() -> None:
    # A (0.9) starts a cluster; B overlaps A by 1/3 > 0.3 and joins; the mean is weighted 0.9 : 0.3
    cl = greedy_cluster([A, B, D], [0.9, 0.3, 0.5], iou_threshold=0.3)
    assert cl.members == [[0, 1], [2]]
    assert cl.boxes[0] == pytest.approx([1.25, 0, 11.25, 10])
    assert cl.boxes[1].tolist() == D
    # strict threshold: exactly at it does not join, unless inclusive
    assert len(greedy_cluster([A, B], [0.9, 0.3], iou_threshold=1 / 3)) == 2
    assert len(greedy_cluster([A, B], [0.9, 0.3], iou_threshold=1 / 3, inclusive=True)) == 1


def test_greedy_cluster_groups_leader_and_weights() -> None:
    assert greedy_cluster([A, A], [0.9, 0.8], iou_threshold=0.5, groups=[0, 1]).members == [[0], [1]]
    lead = greedy_cluster([A, B, [2, 0, 12, 10]], [0.9, 0.8, 0.7], iou_threshold=0.3, reference="leader")
    assert lead.members == [[0, 1, 2]] and lead.boxes.tolist() == [A]
    plain = greedy_cluster([A, B], [0.9, 0.3], iou_threshold=0.3, weights=[1, 1])
    assert plain.boxes[0] == pytest.approx([2.5, 0, 12.5, 10])


def test_greedy_cluster_batches_one_box_per_batch_per_cluster() -> None:
    # batch 0 makes two clusters; batch 1's two boxes both overlap cluster 0 best: only the better one joins it
    boxes = [A, D, [1, 0, 11, 10], [0, 0, 10, 11]]
    cl = greedy_cluster(boxes, [1, 1, 1, 1], iou_threshold=0.5, batches=[0, 0, 1, 1], weights=[1, 1, 1, 1])
    assert cl.members == [[0, 3], [1], [2]]  # IoU(A, box 3) = 100/110 beats IoU(A, box 2) = 90/110


def _cluster_by_overlap(boxes, scores, thr, groups, reference, inclusive):  # type: ignore[no-untyped-def]
    """The clustering rule written out with overlap() per box: what greedy_cluster_rows must reproduce."""
    members: list[list[int]] = []
    refs: list[np.ndarray] = []
    for i in np.argsort(-np.asarray(scores), kind="stable").tolist():
        same = [k for k in range(len(members)) if groups[members[k][0]] == groups[i]]
        ious = overlap(np.asarray([boxes[i]]), np.asarray([refs[k] for k in same]).reshape(-1, 4))[0]
        k_best = same[int(np.argmax(ious))] if same else -1
        v = float(ious.max()) if same else -1.0
        if k_best >= 0 and (v >= thr if inclusive else v > thr):
            members[k_best].append(i)
            if reference == "mean":
                w = np.asarray([scores[m] for m in members[k_best]])
                refs[k_best] = (np.asarray([boxes[m] for m in members[k_best]]) * w[:, None]).sum(0) / w.sum()
            continue
        members.append([i])
        refs.append(np.asarray(boxes[i], float))
    return members, [r.tolist() for r in refs]


@pytest.mark.parametrize(("thr", "inclusive"), [(0.5, False), (0.3, True), (0.0, True), (0.0, False), (-0.1, False)])
@pytest.mark.parametrize("reference", ["mean", "leader"])
def test_greedy_cluster_rows_follows_the_rule(thr: float, inclusive: bool, reference: str) -> None:
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 300, (120, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 60, (120, 2))], axis=1).round(1)
    scores = rng.uniform(0.05, 1, 120).round(2)  # ties on purpose
    groups = rng.integers(0, 3, 120)
    members, refs = greedy_cluster_rows(
        boxes.tolist(), scores.tolist(), iou_threshold=thr, groups=groups.tolist(), reference=reference,  # type: ignore[arg-type]
        inclusive=inclusive,
    )  # fmt: skip
    want_members, want_refs = _cluster_by_overlap(boxes.tolist(), scores.tolist(), thr, groups, reference, inclusive)
    assert members == want_members
    assert np.allclose(refs, want_refs, rtol=0, atol=1e-9)
    if thr <= 0 and (inclusive or thr < 0):  # IoU 0 passes: every box joins its group's first cluster
        assert len(members) == 3
    arr = greedy_cluster(boxes, scores, iou_threshold=thr, groups=groups, reference=reference, inclusive=inclusive)  # type: ignore[arg-type]
    assert arr.members == members and arr.boxes.tolist() == refs


def test_tile_grid_hand_values() -> None:
    tiles = tile_grid(1242, 375)
    assert [(t.x0, t.x1) for t in tiles] == [(0, 375), (217, 592), (434, 809), (650, 1025), (867, 1242)]
    assert all((t.y0, t.y1) == (0, 375) for t in tiles)


def _coco_boxes(n: int, rng: np.random.Generator) -> np.ndarray:
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(0, 80, (n, 2))
    wh[::7] = 0.0  # some empty boxes
    return np.concatenate([xy, xy + wh], axis=1)


def test_box_overlap_matches_pycocotools() -> None:
    mask_api = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(7)
    dt, gt = _coco_boxes(40, rng), _coco_boxes(30, rng)
    crowd = rng.random(30) < 0.3
    theirs = mask_api.iou(xyxy_to_xywh(dt), xyxy_to_xywh(gt), crowd.astype(np.uint8))
    assert np.allclose(overlap(dt, gt, "crowd", crowd=crowd), theirs, atol=1e-12)
    plain = mask_api.iou(xyxy_to_xywh(dt), xyxy_to_xywh(gt), np.zeros(30, np.uint8))
    assert np.allclose(overlap(dt, gt), plain, atol=1e-12)


def test_box_overlap_matches_pycocotools_on_real_detections(shared_data: Path) -> None:
    mask_api = pytest.importorskip("pycocotools.mask")
    from prelabel.quality.inputs import load_records

    root = shared_data / "scalabel_eval" / "eval"
    pred = load_records(root / "det" / "bbox_predictions.json")[:20]
    gt = {r.frame.id: r for r in load_records(root / "box_track" / "track_sample_anns.json")}
    checked = 0
    for p in pred:
        g = gt.get(p.frame.id)
        if g is None or not p.labels or not g.labels:
            continue
        a = np.asarray([lab.box.xyxy for lab in p.labels if lab.box])
        b = np.asarray([lab.box.xyxy for lab in g.labels if lab.box])
        theirs = mask_api.iou(xyxy_to_xywh(a), xyxy_to_xywh(b), np.zeros(len(b), np.uint8))
        assert np.allclose(overlap(a, b), theirs, atol=1e-12)
        checked += 1
    assert checked >= 10
