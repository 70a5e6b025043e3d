"""Several detectors on one frame, fused into one set of boxes (the presets' "fusion of several models").

:class:`EnsembleDetector` runs each member detector on the frame and fuses their boxes with
:func:`prelabel.refine.fusion.fuse_records` (weighted box fusion by default), class by class. Members must share
one class list (the zoo's COCO-80 detectors do). It is itself a Detector, so tiling, the ontology and masks wrap it
like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.detections import Detections
from prelabel.core.labels import Frame, FrameRecord
from prelabel.errors import PrelabelError
from prelabel.models.base import Detector, prepare_input, run_prepared


class EnsembleDetector:
    def __init__(
        self,
        members: Sequence[Detector],
        *,
        name: str = "ensemble",
        method: str = "wbf",
        iou_threshold: float = 0.55,
        skip_score: float = 0.0,
        weights: Sequence[float] | None = None,
        score_mode: str = "mean",
    ) -> None:
        if not members:
            raise PrelabelError("an ensemble needs at least one detector")
        classes = tuple(members[0].classes)
        for m in members[1:]:
            if tuple(m.classes) != classes:
                raise PrelabelError(
                    f"ensemble members must share one class list; {m.model_id} has {len(m.classes)} classes, "
                    f"{members[0].model_id} has {len(classes)}"
                )
        self.members = list(members)
        self.model_id = name
        # labels say model:<name>@<members> (a label source holds one '@'); each member's version is in the zoo
        self.version = "+".join(m.model_id for m in members)
        self.classes = classes
        self._index = {c: i for i, c in enumerate(classes)}
        self.fusion: dict[str, Any] = {
            "method": method,
            "iou_threshold": float(iou_threshold),
            "skip_score": float(skip_score),
            "weights": list(weights) if weights is not None else None,
            "score_mode": score_mode,
        }

    @property
    def source(self) -> str:
        return f"model:{self.model_id}@{self.version}"

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        return self.run(self.prepare(image))

    def prepare(self, image: npt.NDArray[np.uint8]) -> tuple[int, int, list[Any]]:
        """The frame's width and height, and each member's input for it."""
        h, w = image.shape[:2]
        return w, h, [prepare_input(m, image) for m in self.members]

    def run(self, prepared: tuple[int, int, list[Any]]) -> Detections:
        from prelabel.refine.fusion import fuse_records

        w, h, inputs = prepared
        frame = Frame(id="frame", uri="memory://frame", width=w, height=h)
        sets = []
        for m, x in zip(self.members, inputs, strict=True):
            dets = run_prepared(m, x)
            sets.append([FrameRecord(frame=frame, labels=dets.to_labels("frame", m.source, self.classes))])
        names = [f"m{k}" for k in range(len(self.members))]
        fused = fuse_records(sets, names=names, **self.fusion)[0].labels
        if not fused:
            return Detections.empty()
        boxes = [lab.box.xyxy for lab in fused if lab.box is not None]
        return Detections(
            np.asarray(boxes, dtype=np.float32),
            np.asarray([lab.score or 0.0 for lab in fused], dtype=np.float32),
            np.asarray([self._index[lab.category] for lab in fused], dtype=np.int64),
        ).clip(w, h)
