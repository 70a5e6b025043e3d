"""What the OpenCV DNN backends (Darknet, TensorFlow graphs) share: CPU only, no mask output, a thread count, and
the options and identity of :class:`OpenCVDetector`."""

from __future__ import annotations

from typing import Any

from prelabel.errors import PrelabelError
from prelabel.models.backends.providers import require_cpu
from prelabel.models.zoo import ModelEntry


def opencv_for(entry: ModelEntry, runtime: str, *, device: str | None, native_masks: bool, threads: int | None) -> Any:
    """The ``cv2`` module, ready for a model of ``entry`` run by OpenCV DNN (``runtime`` names it in errors).

    OpenCV DNN runs here on CPU only (another ``device`` is an error) and these models have no mask output
    (``native_masks`` is an error that names the models that have one); ``threads`` sets OpenCV's thread count.
    """
    import cv2

    require_cpu(device, entry.id, runtime)
    if native_masks:
        raise PrelabelError(f"--masks native: model {entry.id} has no mask output; use yolo11n-seg-coco or --masks sam")
    if threads:
        cv2.setNumThreads(int(threads))
    return cv2


class OpenCVDetector:
    """The part every OpenCV DNN detector shares: ``cv2`` made ready by :func:`opencv_for` (``self._cv2``), the
    model's identity (``model_id``, ``version``, ``classes``, ``source``) and ``min_score``. A backend sets
    ``runtime`` (named in errors), takes its own options and passes the rest (``min_score``, ``threads``,
    ``device``, ``native_masks``) to this ``__init__``; options no backend knows are ignored."""

    runtime = "OpenCV DNN"

    def __init__(
        self,
        entry: ModelEntry,
        *,
        min_score: float = 0.25,
        threads: int | None = None,
        device: str | None = None,
        native_masks: bool = False,
        **_: Any,
    ) -> None:
        self._cv2 = opencv_for(entry, self.runtime, device=device, native_masks=native_masks, threads=threads)
        self.model_id = entry.id
        self.version = entry.version
        self.classes = entry.class_names
        self.min_score = float(min_score)

    @property
    def source(self) -> str:
        return f"model:{self.model_id}@{self.version}"
