"""The threaded pipeline on mixed real inputs: image files, bag messages, a missing file, a failing sink."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from prelabel.core.labels import Frame, FrameRecord
from prelabel.inference.pipeline import PipelineOptions, run_pipeline
from prelabel.inference.predictor import Predictor
from prelabel.models.base import Detector
from prelabel.sources.frames import iter_frames, load_frame_image


@pytest.fixture(scope="module")
def predictor(ssd: Detector) -> Predictor:
    return Predictor(ssd, job="pipe-test", loader=load_frame_image)


def test_mixed_inputs_each_get_one_record_under_their_seq(predictor: Predictor, kitti: Path, rosbags: Path) -> None:
    bag = list(iter_frames(str(rosbags / "kitti_object_3f_sqlite3")))
    items: list[tuple[int, Frame]] = [
        (10, Frame(id="000001", uri=str(kitti / "image_2" / "000001.png"))),
        (11, bag[0]),
        (12, bag[1]),
        (13, Frame(id="gone", uri=str(kitti / "image_2" / "missing.png"))),
        (14, Frame(id="000002", uri=str(kitti / "image_2" / "000002.png"))),
        (15, bag[2]),
    ]
    batches: list[list[tuple[int, FrameRecord]]] = []
    seen: list[int] = []
    summary = run_pipeline(
        predictor,
        iter(items),
        batches.append,
        options=PipelineOptions(commit_every=2, queue_size=2),
        on_records=lambda recs: seen.append(len(recs)),
    )
    got = {seq: rec for batch in batches for seq, rec in batch}
    assert sorted(got) == [10, 11, 12, 13, 14, 15]
    assert all(len(b) <= 2 for b in batches) and sum(seen) == 6
    assert {seq: rec.frame.id for seq, rec in got.items()} == {seq: f.id for seq, f in items}
    assert got[13].status == "failed" and "not found" in (got[13].error or "")
    assert all(got[s].status == "ok" and got[s].labels for s in (10, 11, 12, 14, 15))
    assert got[11].frame.calibration is not None and got[11].frame.width == 1224  # size set from the pixels
    assert (summary.frames, summary.labelled, summary.failed) == (6, 5, 1)
    assert {rec.job for rec in got.values()} == {"pipe-test"}


def test_a_failing_sink_stops_the_run_with_its_error(predictor: Predictor, kitti: Path) -> None:
    items = [(i, Frame(id=p.stem, uri=str(p))) for i, p in enumerate(sorted((kitti / "image_2").glob("*.png"))[:6])]

    def sink(batch: list[tuple[int, FrameRecord]]) -> None:
        raise OSError("disk full")

    before = threading.active_count()
    with pytest.raises(OSError, match="disk full"):
        run_pipeline(predictor, iter(items), sink, options=PipelineOptions(commit_every=1))
    assert threading.active_count() <= before  # reader and inference threads ended
