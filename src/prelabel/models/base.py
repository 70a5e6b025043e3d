"""What every detector backend provides, and the optional split of :meth:`Detector.detect` into two steps.

A detector may also offer ``prepare(image) -> prepared`` (the per-image work before the model runs: resize,
letterbox, normalise into the network's layout) and ``run(prepared) -> Detections`` (the model and its
postprocessing), with ``run(prepare(image))`` giving exactly ``detect(image)``. The bulk pipeline prepares each
frame on its decoding thread so that the inference thread only runs the model (:func:`prepare_input`,
:func:`run_prepared`). A detector without the pair needs nothing: its "prepared" input is the image itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from prelabel.core.detections import Detections


@runtime_checkable
class Detector(Protocol):
    """Loads its model once (in ``__init__``); maps one RGB uint8 image (H, W, 3) to detections in its pixels."""

    @property
    def model_id(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def classes(self) -> Sequence[str]: ...

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections: ...

    @property
    def source(self) -> str:
        """Provenance written on every label: ``model:<id>@<version>``."""
        ...


class DetectorWrapper:
    """A detector built around another (tiling, flip TTA, an ontology): it keeps the wrapped one as ``detector``,
    with its identity (``model_id``, ``version``, ``classes``) and its provenance (``source``), so its labels say
    which model made them. A wrapper that changes the classes sets ``classes`` after this ``__init__``."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.model_id = detector.model_id
        self.version = detector.version
        self.classes: Sequence[str] = detector.classes

    @property
    def source(self) -> str:
        return self.detector.source


@runtime_checkable
class EncodedDetector(Detector, Protocol):
    """A detector that reads the image file itself: ``detect_encoded`` gets the input's bytes as stored (PNG,
    JPEG, ...), not decoded pixels, and returns boxes in the image's own pixels. For a model that decodes with its
    own library, on its own device, or needs no pixels at all; the service's workers then skip their decode
    (:meth:`prelabel.inference.predictor.Predictor.predict_encoded`). ``detect`` is still required (bulk jobs and
    wrappers such as tiling hand it RGB pixels)."""

    def detect_encoded(self, data: bytes) -> Detections: ...


def takes_encoded(detector: object) -> bool:
    """Whether ``detector`` has ``detect_encoded`` (see :class:`EncodedDetector`)."""
    return callable(getattr(detector, "detect_encoded", None))


def detect_many(detector: Detector, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
    """Detections for several images: the detector's own ``detect_batch`` when it has one (a model with a dynamic
    batch runs them in as few passes as its ``batch`` option allows), else one ``detect`` per image."""
    batch = getattr(detector, "detect_batch", None)
    if callable(batch):
        return list(batch(images))
    return [detector.detect(im) for im in images]


def splits(detector: Detector) -> bool:
    """Whether ``detector`` offers the ``prepare``/``run`` pair."""
    return callable(getattr(detector, "prepare", None)) and callable(getattr(detector, "run", None))


def prepare_input(detector: Detector, image: npt.NDArray[np.uint8]) -> Any:
    """``detector.prepare(image)`` for a detector that splits :meth:`~Detector.detect`, else the image itself."""
    return detector.prepare(image) if splits(detector) else image  # type: ignore[attr-defined]


def run_prepared(detector: Detector, prepared: Any) -> Detections:
    """Detections for what :func:`prepare_input` returned: ``detector.run(prepared)``, else ``detect``."""
    return detector.run(prepared) if splits(detector) else detector.detect(prepared)  # type: ignore[attr-defined]


def run_many(detector: Detector, prepared: Sequence[Any]) -> list[Detections]:
    """:func:`run_prepared` for several inputs: the detector's own ``run_batch`` when it has one, as
    :func:`detect_many` uses ``detect_batch`` (the same detections as one call each)."""
    if not splits(detector):
        return detect_many(detector, prepared)
    batch = getattr(detector, "run_batch", None)
    if callable(batch):
        return list(batch(prepared))
    return [detector.run(p) for p in prepared]  # type: ignore[attr-defined]
