"""The predictor: loads a model once, maps frames to :class:`FrameRecord` s. The same class runs in the local
runner, the async service's workers and Ray Data (``__init__`` loads, ``__call__`` predicts)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.detections import Detections
from prelabel.core.labels import Frame, FrameRecord
from prelabel.errors import PrelabelError
from prelabel.models.base import Detector, prepare_input, run_prepared, takes_encoded
from prelabel.sources.images import load_image

ImageLoader = Callable[[Frame], npt.NDArray[np.uint8]]


@dataclass
class PreparedFrame:
    """A frame ready for the model: the frame (with its size), the detector's prepared input, and the image when
    masks need it."""

    frame: Frame
    input: Any
    image: npt.NDArray[np.uint8] | None = None


class Predictor:
    def __init__(
        self,
        model: str | Detector,
        *,
        cache: str | None = None,
        job: str | None = None,
        loader: ImageLoader = load_image,
        tiled: bool = False,
        tta: bool = False,
        masks: str | None = None,
        classes: Sequence[str] | str | None = None,
        class_map: str | None = None,
        dedupe: str = "same-class",
        preset: str | None = None,
        **options: Any,
    ) -> None:
        """``tta``: horizontal-flip test-time augmentation; ``tiled``: overlapping tiles plus the full frame
        (``prelabel.refine``); ``masks="sam"``: a MobileSAM mask for every box (``prelabel.models.sam``);
        ``masks="native"``: the model's own instance masks (segmentation models). ``class_map`` (``kitti``, ``bdd``,
        ``nuscenes``, ``driving`` or a JSON file) and ``classes`` (names to keep) set the labels' ontology
        (``prelabel.inference.ontology``); for an ONNX file without class names, ``classes`` names its outputs.
        ``device``: ``cpu`` | ``cuda[:N]`` | ``tensorrt`` | ``openvino`` (ONNX models and MobileSAM).
        ``preset``: ``fast`` | ``balanced`` | ``best`` (``prelabel.inference.presets``); ``model`` is then only
        the name a job shows, and ``min_score`` replaces the preset's per-class thresholds."""
        from prelabel.inference.ontology import parse_classes

        keep = parse_classes(classes)
        native = masks == "native"
        if native and (tiled or tta):
            raise PrelabelError(
                "--masks native takes the masks of one full-frame pass; with --tiled or --tta use --masks sam"
            )
        if preset:
            from prelabel.inference.presets import build_preset

            ms = options.pop("min_score", None)
            model = build_preset(preset, cache, classes=keep, class_map=class_map, min_score=ms, **options)
            class_map, keep = None, None  # the preset's ontology already applied them
        elif isinstance(model, str):
            from prelabel.models.loader import load_detector

            if native:
                options["native_masks"] = True
            if keep and model.endswith(".onnx"):
                options["classes"] = keep  # names for a file without them; a filter when the file has names
            model = load_detector(model, cache, **options)
        if tta:
            from prelabel.refine.tta import FlipTTADetector

            model = FlipTTADetector(model)
        if tiled:
            from prelabel.refine.tiling import TiledDetector

            model = TiledDetector(model)
        if class_map or (keep and tuple(keep) != tuple(model.classes)):
            from prelabel.inference.ontology import OntologyDetector

            model = OntologyDetector(model, class_map=class_map, keep=keep, dedupe_mode=dedupe)
        self.masker = None
        if masks and not native:
            from prelabel.models.sam import load_masker

            self.masker = load_masker(masks, cache, threads=options.get("threads"), device=options.get("device"))
        self.detector = model
        self.job = job
        self.loader = loader
        # how the labels were made beyond the model itself, recorded on every label (attributes.inference)
        self.settings = "+".join(
            name
            for name, on in (
                (f"preset:{preset}", bool(preset)),
                ("tiled", tiled),
                ("tta", tta),
                (f"masks:{masks}", bool(masks)),
            )
            if on
        )
        self.device = str(options.get("device") or "cpu")

    @property
    def takes_encoded(self) -> bool:
        """True when the model reads the image bytes itself (``detect_encoded``, see
        :class:`prelabel.models.base.EncodedDetector`) and nothing else here needs pixels (no masker; tiling, TTA
        and ontology wrappers take pixels): :meth:`predict_encoded` then runs without decoding."""
        return self.masker is None and takes_encoded(self.detector)

    def predict_image(self, frame: Frame, image: npt.NDArray[np.uint8]) -> FrameRecord:
        return self.predict_prepared(self.prepare(frame, image))

    def prepare(self, frame: Frame, image: npt.NDArray[np.uint8]) -> PreparedFrame:
        """The per-frame work before the model runs (the detector's ``prepare``: resize, letterbox, normalise; see
        ``prelabel.models.base``), which the bulk pipeline does on its decoding thread. The image itself is kept
        only when masks need it."""
        h, w = image.shape[:2]
        frame = frame.model_copy(update={"width": w, "height": h})
        keep = image if self.masker is not None else None
        return PreparedFrame(frame, prepare_input(self.detector, image), keep)

    def predict_prepared(self, prepared: PreparedFrame) -> FrameRecord:
        """The record for a frame :meth:`prepare` made: exactly :meth:`predict_image`'s."""
        dets = run_prepared(self.detector, prepared.input)
        if self.masker is not None and len(dets) and prepared.image is not None:
            dets.masks = self.masker.masks(prepared.image, dets.xyxy)
        return self._record(prepared.frame, dets)

    def predict_encoded(self, frame: Frame, data: bytes, size: tuple[int, int]) -> FrameRecord:
        """The record for an image given as its file's bytes, ``size`` = (width, height) from its header
        (:func:`prelabel.sources.images.header_size`); only when :attr:`takes_encoded`."""
        frame = frame.model_copy(update={"width": size[0], "height": size[1]})
        return self._record(frame, self.detector.detect_encoded(data))  # type: ignore[attr-defined]

    def _record(self, frame: Frame, dets: Detections) -> FrameRecord:
        labels = dets.to_labels(frame.id, self.detector.source, self.detector.classes)
        if self.settings:
            for label in labels:
                label.attributes["inference"] = self.settings
        return FrameRecord(frame=frame, labels=labels, job=self.job)

    def predict_frame(self, frame: Frame) -> FrameRecord:
        """Never raises for a bad frame: the record says failed, with the reason."""
        try:
            return self.predict_image(frame, self.loader(frame))
        except PrelabelError as e:
            return FrameRecord(frame=frame, status="failed", error=str(e), job=self.job)
        except Exception as e:  # a model or decoder bug on one frame must not stop a bulk run
            return FrameRecord(frame=frame, status="failed", error=f"{type(e).__name__}: {e}", job=self.job)

    def __call__(self, frames: Sequence[Frame]) -> list[FrameRecord]:
        return [self.predict_frame(f) for f in frames]
