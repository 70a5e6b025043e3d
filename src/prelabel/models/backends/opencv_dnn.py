"""What the OpenCV DNN backends (Darknet, TensorFlow graphs) share: CPU only, no mask output, a thread count."""

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
