"""Instance masks from box prompts with MobileSAM (exported once to ONNX, run in ONNX Runtime).

``load_masker("sam")`` gives an object with ``masks(image, xyxy) -> bool [N, H, W]``; the Predictor's
``masks="sam"`` option runs it on every frame's detections. Torch is needed only for the one-time export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from prelabel.errors import UnknownNameError

MASKERS = ("sam", "native")  # native: the detector's own masks (segmentation models; see the Predictor)


class Masker(Protocol):
    def masks(self, image: npt.NDArray[np.uint8], xyxy: npt.NDArray[np.floating]) -> npt.NDArray[np.bool_]: ...


def check_masker(name: str) -> None:
    """Raise :class:`UnknownNameError` (listing the options) unless ``name`` is a known mask model."""
    if name not in MASKERS:
        raise UnknownNameError("mask model", name, MASKERS)


def load_masker(name: str, cache: str | Path | None = None, **options: Any) -> Masker:
    """Load a box-to-mask model by name (``sam``: MobileSAM); options: ``threads``, ``device``."""
    check_masker(name)
    if name != "sam":
        raise UnknownNameError("box-to-mask model", name, ["sam"])
    from prelabel.models.sam.masker import SamMasker

    return SamMasker(cache, threads=options.get("threads") or 2, device=options.get("device"))
