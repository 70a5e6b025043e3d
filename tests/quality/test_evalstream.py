"""The streamed evaluation of labels files (``quality.evalstream``) gives the in-memory evaluation's figures."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from prelabel.core.labels import FrameRecord
from prelabel.labelfile import iter_records, write_records
from prelabel.quality.evalstream import FrameKeys, evaluate_stream
from prelabel.quality.evaluate import EvalConfig, evaluate
from prelabel.quality.flows import evaluate_files
from prelabel.quality.inputs import load_records

CLASSES = ["pedestrian", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"]


def _scalabel(shared_data: Path) -> tuple[list[FrameRecord], list[FrameRecord]]:
    root = shared_data / "scalabel_eval" / "eval"
    return load_records(root / "det" / "bbox_predictions.json"), load_records(
        root / "box_track" / "track_sample_anns.json"
    )


def _figures(res: object) -> dict[str, float]:
    return {k: round(100 * (v or 0), 2) for k, v in res.summary().items()}  # type: ignore[attr-defined]


def test_prelabel_eval_on_labels_files_streams_to_scalabel_reference(shared_data: Path, tmp_path: Path) -> None:
    preds, gts = _scalabel(shared_data)
    write_records(tmp_path / "pred.jsonl", preds)
    write_records(tmp_path / "gt.jsonl", gts)
    run = evaluate_files(str(tmp_path / "pred.jsonl"), str(tmp_path / "gt.jsonl"), preset="scalabel", classes=CLASSES)
    assert run.result.outcomes == {}  # the streamed path: no per-label outcomes kept
    assert _figures(run.result) == {"AP": 34.03, "AP50": 55.32, "AP75": 34.94}  # Scalabel's own figures


@pytest.mark.parametrize("classes", [CLASSES, None])
def test_stream_equals_in_memory_in_any_order_and_block(
    shared_data: Path, tmp_path: Path, classes: list[str] | None
) -> None:
    preds, gts = _scalabel(shared_data)
    rng = random.Random(0)
    preds = preds[:150]  # 52 ground-truth frames without a prediction
    rng.shuffle(preds)  # far from the ground truth's order: predictions wait in memory
    extra = preds[0].model_copy(deep=True)
    extra.frame.id, extra.frame.uri = "not-in-gt", "not-in-gt.jpg"
    preds.append(extra)
    write_records(tmp_path / "pred.jsonl", preds)
    cfg = EvalConfig(classes=classes, inclusive_pixels=True)
    with pytest.warns(UserWarning, match="no ground truth"):
        ref = evaluate(preds, gts, cfg)
    keys = FrameKeys.scan(str(tmp_path / "pred.jsonl"))
    assert keys is not None
    for block in (1, 7, 4096):
        got = evaluate_stream(
            iter_records(tmp_path / "pred.jsonl"), gts, keys, FrameKeys.of_records(gts), cfg, block=block
        )
        assert list(got.curves) == list(ref.curves)
        for c in ref.curves:
            assert got.curves[c].n_gt == ref.curves[c].n_gt
            assert got.curves[c].n_det == ref.curves[c].n_det
            assert got.ap(c) == ref.ap(c)
            assert got.ap(c, 0.5) == ref.ap(c, 0.5)
        assert got.frames == ref.frames == len(gts)
        assert got.frames_without_predictions == ref.frames_without_predictions
        assert got.unmatched_prediction_frames == ref.unmatched_prediction_frames == ["not-in-gt"]


def test_two_predictions_for_one_frame_is_an_error(shared_data: Path, tmp_path: Path) -> None:
    preds, gts = _scalabel(shared_data)
    write_records(tmp_path / "pred.jsonl", [preds[0], preds[0]])
    write_records(tmp_path / "gt.jsonl", gts)
    with pytest.raises(ValueError, match="more than one prediction record"):
        evaluate_files(str(tmp_path / "pred.jsonl"), str(tmp_path / "gt.jsonl"))


def test_a_broken_line_falls_back_to_the_validated_read(tmp_path: Path) -> None:
    (tmp_path / "pred.jsonl").write_text('{"frame": 1}\n')
    assert FrameKeys.scan(str(tmp_path / "pred.jsonl")) is None
