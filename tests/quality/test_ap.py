"""The AP engine: Scalabel's published reference figures, and small tables with answers worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prelabel.core.geometry.boxes2d import overlap
from prelabel.core.labels import Box2D, Frame, FrameRecord, Label
from prelabel.quality.ap import accumulate, match_image
from prelabel.quality.evaluate import EvalConfig, evaluate
from prelabel.quality.inputs import load_records

SCALABEL_CLASSES = ["pedestrian", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"]


def test_matches_scalabel_reference(shared_data: Path) -> None:
    root = shared_data / "scalabel_eval" / "eval"
    gt = load_records(root / "box_track" / "track_sample_anns.json")
    pred = load_records(root / "det" / "bbox_predictions.json")
    res = evaluate(pred, gt, EvalConfig(classes=SCALABEL_CLASSES, inclusive_pixels=True))
    got = {k: round(100 * v, 2) for k, v in res.summary().items() if v is not None}
    assert got == {"AP": 34.03, "AP50": 55.32, "AP75": 34.94}
    assert round(100 * (res.ap("car") or 0), 2) == 66.14
    assert round(100 * (res.ap("pedestrian") or 0), 2) == 41.38
    # classes without ground truth have no AP and stay out of the mean (COCO's -1)
    assert res.ap("train") is None and res.ap("bicycle") is None
    assert res.curves["car"].n_gt > 2000


def _rec(fid: str, boxes: list[tuple[str, tuple[float, ...], float | None]], **attrs: object) -> FrameRecord:
    labels = [
        Label(
            id=f"{fid}-{i}",
            category=c,
            source="human:gt" if s is None else "model:m@1",
            score=s,
            box=Box2D.from_xyxy(b),
            attributes=dict(attrs) if c.startswith("crowd") else {},
        )
        for i, (c, b, s) in enumerate(boxes)
    ]
    return FrameRecord(frame=Frame(id=fid, uri=f"/x/{fid}.png"), labels=labels)


def test_perfect_and_half() -> None:
    gt = [_rec("a", [("car", (0, 0, 10, 10), None), ("car", (20, 0, 30, 10), None)])]
    perfect = [_rec("a", [("car", (0, 0, 10, 10), 0.9), ("car", (20, 0, 30, 10), 0.8)])]
    assert evaluate(perfect, gt).summary() == pytest.approx({"AP": 1.0, "AP50": 1.0, "AP75": 1.0})
    # one hit first, then a false positive: recall 0.5 reached at precision 1 -> 51 of 101 recall points
    half = [_rec("a", [("car", (0, 0, 10, 10), 0.9), ("car", (50, 50, 60, 60), 0.8)])]
    assert evaluate(half, gt).ap(iou=0.5) == pytest.approx(51 / 101)
    # the false positive first: precision 1/2 at recall 0.5
    fp_first = [_rec("a", [("car", (0, 0, 10, 10), 0.7), ("car", (50, 50, 60, 60), 0.8)])]
    assert evaluate(fp_first, gt).ap(iou=0.5) == pytest.approx(0.5 * 51 / 101)


def test_iou_thresholds_split_ap50_and_ap75() -> None:
    gt = [_rec("a", [("car", (0, 0, 10, 10), None)])]
    # IoU of (0,0,10,10) and (0,0,10,6) is 0.6: a hit at .50, .55, .60, a miss from .65 up
    pred = [_rec("a", [("car", (0, 0, 10, 6), 0.9)])]
    res = evaluate(pred, gt)
    assert res.ap(iou=0.5) == pytest.approx(1.0) and res.ap(iou=0.75) == 0.0
    assert res.ap() == pytest.approx(3 / 10)


def test_crowd_and_ignore_regions_absorb_detections() -> None:
    gt = [
        _rec("a", [("car", (0, 0, 10, 10), None), ("DontCare", (100, 0, 200, 100), None)]),
    ]
    pred = [
        _rec("a", [("car", (0, 0, 10, 10), 0.5), ("car", (110, 10, 120, 20), 0.9), ("car", (150, 50, 160, 60), 0.95)])
    ]
    res = evaluate(pred, gt)
    assert res.ap() == pytest.approx(1.0)  # both detections inside DontCare are neither hits nor false positives
    crowd_gt = [_rec("a", [("car", (0, 0, 10, 10), None), ("crowd", (100, 0, 200, 100), None)], crowd=True)]
    res2 = evaluate(pred, crowd_gt, EvalConfig(classes=["car"], gt_class_map={"crowd": "car"}))
    assert res2.ap() == pytest.approx(1.0) and res2.curves["car"].n_gt == 1


def test_min_height_and_neighbours() -> None:
    gt = [
        _rec("a", [("Car", (0, 0, 50, 10), None), ("Van", (100, 0, 150, 40), None), ("Car", (200, 0, 260, 40), None)])
    ]
    pred = [
        _rec("a", [("car", (100, 0, 150, 40), 0.9), ("car", (200, 0, 260, 40), 0.8), ("car", (300, 0, 340, 5), 0.99)])
    ]
    cfg = EvalConfig(classes=["Car"], class_map={"car": "Car"}, neighbours={"Car": ["Van"]}, min_height=25)
    res = evaluate(pred, gt, cfg)
    # the 10 px car is not counted, the van hit is not a false positive, the 5 px false positive is ignored
    assert res.curves["Car"].n_gt == 1 and res.ap() == pytest.approx(1.0)


def test_class_without_ground_truth_is_none_and_missing_frames_count() -> None:
    gt = [_rec("a", [("car", (0, 0, 10, 10), None)]), _rec("b", [("car", (0, 0, 10, 10), None)])]
    pred = [_rec("a", [("car", (0, 0, 10, 10), 0.9), ("bus", (0, 0, 10, 10), 0.9)]), _rec("zzz", [])]
    with pytest.warns(UserWarning, match="no ground truth"):
        res = evaluate(pred, gt)
    assert res.ap("bus") is None
    assert res.frames_without_predictions == ["b"] and res.unmatched_prediction_frames == ["zzz"]
    assert res.ap("car", 0.5) == pytest.approx(51 / 101)  # frame b's car is a miss
    assert res.ap() == res.ap("car")


def test_engine_arrays_directly() -> None:
    crowd = np.array([False, True])
    ov = overlap(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 20, 10], [0, 0, 100, 100]]), "crowd", crowd=crowd)
    assert ov[0, 0] == pytest.approx(0.5) and ov[0, 1] == pytest.approx(1.0)
    m = match_image(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [1, 1, 10, 10]]), np.array([0.2, 0.9]))
    # the better-scored detection takes the box; the other is a false positive
    assert m.det_index.tolist() == [1, 0] and m.matched[0].tolist() == [True, False]
    curve = accumulate("car", [m])
    assert curve.recall[0] == 1.0 and curve.n_det == 2
    empty = accumulate("car", [])
    assert empty.ap is None


def test_class_maps_from_the_command_line() -> None:
    from prelabel.errors import FormatError, UnknownNameError
    from prelabel.quality.classmaps import parse_class_map

    kitti = parse_class_map("coco80-to-kitti")
    assert kitti is not None and kitti("car") == "Car" and kitti("kite") is None
    alias = parse_class_map("coco-to-kitti")
    assert alias is not None and alias("person") == "Pedestrian"
    inline = parse_class_map("car=vehicle,truck=vehicle,kite=")
    assert inline is not None and (inline("car"), inline("kite"), inline("bus")) == ("vehicle", None, "bus")
    only = parse_class_map("car=Car,*=")
    assert only is not None and (only("car"), only("bus")) == ("Car", None)
    assert parse_class_map(None) is None
    with pytest.raises(FormatError):
        parse_class_map("car=Car,bus")
    with pytest.raises(UnknownNameError):
        parse_class_map("coco-to-mars")


@pytest.mark.parametrize(("fmt", "name"), [("coco", "gt.json"), ("groundtruth", "gt.manifest"), ("labels", "gt.jsonl")])
def test_ground_truth_in_other_formats_scores_the_same(
    fmt: str, name: str, ssd_kitti, kitti_gt, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """KITTI ground truth written as COCO / a Ground Truth manifest / a labels file, read back: same AP50."""
    from prelabel import formats
    from prelabel.quality.evaluate import kitti_config

    formats.write(fmt, kitti_gt, str(tmp_path / name))
    again = load_records(tmp_path / name)
    want = evaluate(ssd_kitti, kitti_gt, kitti_config()).ap(iou=0.5)
    got = evaluate(ssd_kitti, again, kitti_config()).ap(iou=0.5)
    assert want is not None and got == pytest.approx(want, abs=0.005)


def test_evaluate_sets_on_label_sets_matches_scalabel(shared_data: Path) -> None:
    from prelabel.core.labelset import LabelSet
    from prelabel.quality.evaluate import FramePair, evaluate_sets, pair_records

    root = shared_data / "scalabel_eval" / "eval"
    pairs, _ = pair_records(
        load_records(root / "det" / "bbox_predictions.json"),
        load_records(root / "box_track" / "track_sample_anns.json"),
    )
    frames = [
        FramePair(g.frame.id, None if p is None else LabelSet.from_labels(p.labels), LabelSet.from_labels(g.labels))
        for p, g in pairs
    ]
    res = evaluate_sets(frames, EvalConfig(classes=SCALABEL_CLASSES, inclusive_pixels=True))
    got = {k: round(100 * v, 2) for k, v in res.summary().items() if v is not None}
    assert got == {"AP": 34.03, "AP50": 55.32, "AP75": 34.94}


def test_records_and_label_sets_evaluate_alike_with_every_rule(shared_data: Path) -> None:
    """evaluate() feeds records straight into columns, evaluate_sets() label sets: the same curves and outcomes with
    class maps, ignore regions, neighbours, minimum height, crowd attributes, polygons and scoreless predictions."""
    from prelabel.core.labels import Polygon
    from prelabel.quality.evaluate import FramePair, evaluate_sets, pair_records

    root = shared_data / "scalabel_eval" / "eval"
    gt = load_records(root / "box_track" / "track_sample_anns.json")[:60]
    pred = load_records(root / "det" / "bbox_predictions.json")[:60:2]  # every other frame has no prediction
    g0, p0 = gt[0].labels, pred[0].labels
    gt[0] = gt[0].model_copy(
        update={
            "labels": [
                g0[0].model_copy(update={"attributes": {"crowd": True}}),
                g0[1].model_copy(update={"box": None, "polygon": Polygon(rings=[[10, 10, 90, 12, 50, 80]])}),
                *g0[2:],
            ]
        }
    )
    pred[0] = pred[0].model_copy(update={"labels": [p0[0].model_copy(update={"score": None}), *p0[1:]]})
    cfg = EvalConfig(
        class_map={"bus": "truck", "train": None},
        gt_class_map={"bus": "truck"},
        ignore_categories=("train", "motorcycle"),
        neighbours={"car": ("truck",), "pedestrian": ("rider",)},
        min_height=20.0,
        max_dets=10,
    )
    want = evaluate(pred, gt, cfg)
    pairs, _ = pair_records(pred, gt)
    frames = [FramePair.of(p, g) for p, g in pairs]
    got = evaluate_sets(frames, cfg)
    assert list(got.curves) == list(want.curves) and want.ap() is not None
    for c, w in want.curves.items():
        g = got.curves[c]
        assert (g.n_gt, g.n_det) == (w.n_gt, w.n_det)
        assert np.array_equal(g.precision, w.precision) and np.array_equal(g.score_at, w.score_at)
    assert got.outcomes == want.outcomes and len(want.outcomes) > 100
    assert (
        got.frames_without_predictions == want.frames_without_predictions and len(want.frames_without_predictions) == 30
    )
