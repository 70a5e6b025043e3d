"""Tiled inference: the grid, cut-box handling, and real recall gains of the default SSD on KITTI frames."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from prelabel.core.detections import Detections
from prelabel.core.geometry.boxes2d import overlap as iou_matrix
from prelabel.errors import UnknownNameError
from prelabel.models.base import Detector
from prelabel.refine.tiling import Tile, TiledDetector, coverage, cut_flags, suppress_cut_boxes, tile_grid
from tests.helpers.kitti import group_mask, load_rgb, recall

FRAMES = [f"{i:06d}" for i in range(20)]


@pytest.mark.parametrize(
    ("size", "tile", "overlap", "n_tiles"),
    [
        ((1242, 375), None, 0.25, 5),  # KITTI: one row of 375 px squares
        ((1280, 720), None, 0.25, 3),
        ((1600, 900), 512, 0.2, 4 * 2),
        ((300, 200), None, 0.25, 2),
        ((200, 200), None, 0.25, 1),  # square frame: the tile is the frame
        ((640, 480), 1000, 0.25, 1),  # tile bigger than the frame: clipped to the frame
    ],
)
def test_tile_grid_covers_the_frame_with_overlap(
    size: tuple[int, int], tile: int | None, overlap: float, n_tiles: int
) -> None:
    w, h = size
    tiles = tile_grid(w, h, tile, overlap)
    assert len(tiles) == n_tiles
    covered = np.zeros((h, w), dtype=bool)
    for t in tiles:
        assert 0 <= t.x0 < t.x1 <= w and 0 <= t.y0 < t.y1 <= h
        covered[t.y0 : t.y1, t.x0 : t.x1] = True
    assert covered.all()
    row = sorted({(t.x0, t.x1) for t in tiles})
    for (a0, a1), (b0, _) in itertools.pairwise(row):
        assert a1 - b0 >= int(overlap * (a1 - a0)) - 1  # neighbours overlap by at least the asked share


@pytest.mark.parametrize(
    ("w", "h", "tile", "overlap", "message"),
    [
        (0, 375, None, 0.25, "image size must be positive"),
        (1242, 375, None, 1.0, "overlap must be in"),
        (1242, 375, None, -0.1, "overlap must be in"),
    ],
)
def test_tile_grid_rejects_bad_arguments(w: int, h: int, tile: int | None, overlap: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tile_grid(w, h, tile, overlap)


def test_unknown_merge_lists_the_options(ssd: Detector) -> None:
    with pytest.raises(UnknownNameError, match="nms, wbf"):
        TiledDetector(ssd, merge="mean")


def test_cut_flags_only_for_inner_edges() -> None:
    tile = Tile(300, 0, 675, 375)  # inner left and right edges; top and bottom are the frame's border
    boxes = np.array(
        [
            [300, 100, 350, 200],  # touches the inner left edge
            [600, 100, 675, 200],  # touches the inner right edge
            [400, 0, 450, 375],  # touches top and bottom: frame borders, not cuts
            [400, 100, 450, 200],  # inside
        ],
        dtype=np.float32,
    )
    assert cut_flags(boxes, tile, 1242, 375, margin=3).tolist() == [True, True, False, False]


def test_cut_box_covered_by_a_whole_box_is_dropped_else_down_weighted() -> None:
    dets = Detections(
        xyxy=np.array([[100, 100, 300, 200], [200, 100, 300, 200], [500, 100, 560, 150], [200, 100, 300, 200]]),
        scores=np.array([0.6, 0.9, 0.8, 0.9]),
        class_ids=np.array([2, 2, 2, 0]),
    )
    is_cut = np.array([False, True, True, True])
    origin = np.array([-1, 1, 2, 1])  # full frame, tile 1, tile 2, tile 1
    out = suppress_cut_boxes(dets, is_cut, origin, cover=0.6, cut_weight=0.5)
    # the cut car half inside the full-frame car is gone; the lone cut car keeps half its score;
    # the cut person (another class) is not covered by the car and is only down-weighted
    assert out.xyxy.tolist() == [[100, 100, 300, 200], [500, 100, 560, 150], [200, 100, 300, 200]]
    assert np.allclose(out.scores, [0.6, 0.4, 0.45])
    with pytest.raises(ValueError, match="must have length 4"):
        suppress_cut_boxes(dets, is_cut[:2], origin)


def test_coverage_is_intersection_over_the_first_box() -> None:
    cov = coverage(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 20, 20], [5, 0, 15, 10]]))
    assert np.allclose(cov, [[1.0, 0.5]])


@pytest.fixture(scope="module")
def kitti_runs(ssd: Detector, kitti: Path) -> dict[str, dict[str, Detections]]:
    """The default SSD full frame, tiled, and tiled without cut handling on 20 real KITTI frames (one tiled pass
    per frame; the full-frame boxes are its own, the two merges are applied to the same raw boxes)."""
    tiled = TiledDetector(ssd)
    naive = TiledDetector(ssd, cut_weight=1.0, cover=2.0)  # cut boxes kept as they are
    wbf = TiledDetector(ssd, merge="wbf")
    runs: dict[str, dict[str, Detections]] = {"full": {}, "tiled": {}, "naive": {}, "wbf": {}}
    for stem in FRAMES:
        image = load_rgb(kitti, stem)
        h, w = image.shape[:2]
        raw = tiled.detect_raw(image)
        runs["full"][stem] = raw.full_frame()
        runs["tiled"][stem] = tiled.merge_raw(raw, w, h)
        runs["naive"][stem] = naive.merge_raw(raw, w, h)
        runs["wbf"][stem] = wbf.merge_raw(raw, w, h)
    return runs


def test_detect_is_detect_raw_then_merge(ssd: Detector, kitti: Path) -> None:
    image = load_rgb(kitti, "000008")  # large cars across tile borders
    tiled = TiledDetector(ssd)
    direct = tiled.detect(image)
    raw = tiled.detect_raw(image)
    assert raw.is_cut.any() and set(raw.origin.tolist()) >= {-1, 0}
    merged = tiled.merge_raw(raw, image.shape[1], image.shape[0])
    assert np.allclose(direct.xyxy, merged.xyxy) and np.allclose(direct.scores, merged.scores)
    assert np.allclose(raw.full_frame().xyxy, ssd.detect(image).xyxy)


def test_tiled_detector_is_a_detector(ssd: Detector) -> None:
    tiled = TiledDetector(ssd)
    assert isinstance(tiled, Detector)
    assert (tiled.model_id, tiled.version, tiled.source) == (ssd.model_id, ssd.version, ssd.source)


@pytest.mark.parametrize("group", ["vehicle", "pedestrian"])
def test_tiled_recall_beats_full_frame_on_kitti(
    kitti_runs: dict[str, dict[str, Detections]], kitti: Path, ssd: Detector, group: str
) -> None:
    full_found, n_gt = recall(kitti_runs["full"], kitti, list(ssd.classes), group)
    tiled_found, n_gt2 = recall(kitti_runs["tiled"], kitti, list(ssd.classes), group)
    assert n_gt == n_gt2 and n_gt >= 10
    # measured on all 30 frames: vehicles 32 -> 51 of 57, pedestrians 3 -> 9 of 12
    assert tiled_found > full_found
    assert tiled_found / n_gt >= 0.6


def test_wbf_merge_also_beats_full_frame(
    kitti_runs: dict[str, dict[str, Detections]], kitti: Path, ssd: Detector
) -> None:
    classes = list(ssd.classes)
    for group in ("vehicle", "pedestrian"):
        assert (
            recall(kitti_runs["wbf"], kitti, classes, group)[0] > recall(kitti_runs["full"], kitti, classes, group)[0]
        )
    for dets in kitti_runs["wbf"].values():  # fused boxes stay in the frame with valid scores
        assert len(dets) and (dets.xyxy[:, [0, 1]] >= 0).all() and (dets.xyxy[:, 2] <= 1242 + 1).all()
        assert ((dets.scores > 0) & (dets.scores <= 1)).all()


def test_tiled_boxes_stay_inside_the_frame(kitti_runs: dict[str, dict[str, Detections]]) -> None:
    for dets in kitti_runs["tiled"].values():
        assert len(dets) and (dets.xyxy[:, 0] >= 0).all() and (dets.xyxy[:, 2] <= 1242 + 1).all()
        assert ((dets.scores > 0) & (dets.scores <= 1)).all()


def _fragments(runs: dict[str, Detections], kitti: Path, classes: list[str], min_score: float) -> int:
    """Vehicle boxes that are a piece of a real vehicle: >= 80 % inside a ground-truth box, IoU < 0.5 with all."""
    from tests.helpers.kitti import ground_truth

    n = 0
    for stem, dets in runs.items():
        gt = ground_truth(kitti, stem, "vehicle")
        sel = group_mask(dets, classes, "vehicle") & (dets.scores >= min_score)
        boxes = dets.xyxy[sel]
        if len(gt) and len(boxes):
            n += int(((iou_matrix(boxes, gt).max(1) < 0.5) & (coverage(boxes, gt).max(1) > 0.8)).sum())
    return n


def test_cut_handling_removes_high_scoring_partial_boxes(
    kitti_runs: dict[str, dict[str, Detections]], kitti: Path, ssd: Detector
) -> None:
    classes = list(ssd.classes)
    naive = _fragments(kitti_runs["naive"], kitti, classes, 0.5)
    handled = _fragments(kitti_runs["tiled"], kitti, classes, 0.5)
    assert naive >= 5  # without handling, tiles leave confident partial cars
    assert handled < naive / 2
    # and recall does not suffer for it
    assert (
        recall(kitti_runs["tiled"], kitti, classes, "vehicle")[0]
        >= recall(kitti_runs["naive"], kitti, classes, "vehicle")[0] - 1
    )
