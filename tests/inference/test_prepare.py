"""The split detector API (``prepare`` then ``run``, ``prelabel.models.base``) gives exactly what ``detect`` gave:
on real KITTI frames, through every wrapper (ontology, fusion of several runs, tiling, flip TTA) and in the bulk
pipeline, where frames are prepared on the reading thread."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from prelabel.core.detections import Detections
from prelabel.core.labels import Frame, FrameRecord
from prelabel.inference.ensemble import EnsembleDetector
from prelabel.inference.ontology import OntologyDetector
from prelabel.inference.pipeline import PipelineOptions, run_pipeline
from prelabel.inference.predictor import Predictor
from prelabel.models.base import Detector, prepare_input, run_prepared, splits
from prelabel.refine.tiling import TiledDetector
from prelabel.refine.tta import FlipTTADetector
from prelabel.sources.images import load_image

FRAMES = ("000003", "000008")


class DetectOnly:
    """A real detector seen through ``detect`` alone, as a detector without ``prepare``/``run`` is."""

    def __init__(self, inner: Detector) -> None:
        self.inner = inner
        self.model_id, self.version, self.classes = inner.model_id, inner.version, inner.classes

    @property
    def source(self) -> str:
        return self.inner.source

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        return self.inner.detect(image)


class ThreadNotes:
    """A real splitting detector, noting which thread prepares and which runs."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id, self.version, self.classes = inner.model_id, inner.version, inner.classes
        self.prepared_on: set[str] = set()
        self.run_on: set[str] = set()

    @property
    def source(self) -> str:
        return self.inner.source

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        return self.run(self.prepare(image))

    def prepare(self, image: npt.NDArray[np.uint8]) -> Any:
        self.prepared_on.add(threading.current_thread().name)
        return self.inner.prepare(image)

    def run(self, prepared: Any) -> Detections:
        self.run_on.add(threading.current_thread().name)
        return self.inner.run(prepared)


@pytest.fixture(scope="module")
def nanodet() -> Any:
    from prelabel.models import load_detector

    return load_detector("nanodet-m-coco", threads=2, min_score=0.05)


@pytest.fixture(scope="module")
def images(kitti: Path) -> dict[str, npt.NDArray[np.uint8]]:
    return {f: load_image(Frame(id=f, uri=str(kitti / "image_2" / f"{f}.png"))) for f in FRAMES}


def same(a: Detections, b: Detections) -> bool:
    return (
        np.array_equal(a.xyxy, b.xyxy)
        and np.array_equal(a.scores, b.scores)
        and np.array_equal(a.class_ids, b.class_ids)
    )


def composed(leaf: Detector) -> Detector:
    """Every wrapper at once: the ontology over a fusion of a tiled run and a flip-TTA run."""
    members = [TiledDetector(leaf), FlipTTADetector(leaf)]
    return OntologyDetector(EnsembleDetector(members, name="both"), class_map="driving", min_score=0.3)


def test_an_onnx_detector_splits_and_its_two_steps_are_detect(nanodet: Any, images: dict[str, Any]) -> None:
    assert splits(nanodet) and not splits(DetectOnly(nanodet))
    for image in images.values():
        x, _ = nanodet.prepare(image)
        assert x.shape == (1, 3, 416, 416) and x.dtype == np.float32
        assert same(nanodet.run(nanodet.prepare(image)), nanodet.detect(image))
        assert len(nanodet.detect(image))


def test_a_detector_without_the_pair_is_prepared_as_its_image(nanodet: Any, images: dict[str, Any]) -> None:
    plain = DetectOnly(nanodet)
    image = images[FRAMES[0]]
    assert prepare_input(plain, image) is image
    assert same(run_prepared(plain, prepare_input(plain, image)), nanodet.detect(image))


def test_wrappers_give_the_same_boxes_prepared_or_in_one_call(nanodet: Any, images: dict[str, Any]) -> None:
    split, whole = composed(nanodet), composed(DetectOnly(nanodet))  # the same models; only `whole` never splits
    assert splits(split) and splits(whole)  # wrappers always offer the pair; the leaf decides what moves
    for image in images.values():
        want = whole.detect(image)
        assert len(want) and same(split.detect(image), want)
        assert same(split.run(split.prepare(image)), want)  # type: ignore[attr-defined]


@pytest.mark.parametrize("on_reader", [True, False])
def test_the_pipeline_prepares_ahead_on_the_reading_thread_with_identical_records(
    nanodet: Any, kitti: Path, on_reader: bool
) -> None:
    notes = ThreadNotes(nanodet)
    predictor = Predictor(OntologyDetector(notes, class_map="driving", min_score=0.3), job="prep", tiled=True)
    paths = sorted((kitti / "image_2").glob("*.png"))[:6]
    items = [(i, Frame(id=p.stem, uri=str(p))) for i, p in enumerate(paths)]
    got: list[tuple[int, FrameRecord]] = []
    run_pipeline(predictor, items, got.extend, options=PipelineOptions(prepare=on_reader))
    # a tiled frame takes far longer to infer than to decode: the reader gets ahead and prepares the later frames;
    # the first goes as decoded (inference was waiting) and the inference thread prepares it
    assert notes.prepared_on == ({"prelabel-read", "prelabel-infer"} if on_reader else {"prelabel-infer"})
    assert notes.run_on == {"prelabel-infer"}
    assert sorted(seq for seq, _ in got) == list(range(len(items)))
    for seq, record in got:
        frame = items[seq][1]
        want = predictor.predict_image(frame, load_image(frame))  # the one-call path, on this thread
        assert record.status == "ok"
        ignore = {"labels", "created_at"}
        assert record.model_dump(exclude=ignore) == want.model_dump(exclude=ignore)
        assert [lab.model_dump(exclude={"id"}) for lab in record.labels] == [
            lab.model_dump(exclude={"id"}) for lab in want.labels
        ]
