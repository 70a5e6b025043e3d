"""Horizontal-flip test-time augmentation for any detector, and the weighted box merge it uses.

:class:`FlipTTADetector` runs its detector on the frame and on the mirrored frame, maps the mirrored boxes back,
and merges the two passes class by class with :func:`weighted_merge`: boxes that overlap (IoU above a threshold)
are averaged, weighted by score, and the merged score is the summed score divided by the number of passes (at most
1), so a box seen in only one view is down-weighted rather than kept at full confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.detections import Detections
from prelabel.core.geometry.boxes2d import greedy_cluster
from prelabel.models.base import Detector, DetectorWrapper, prepare_input, run_prepared


def weighted_merge(parts: Sequence[Detections], iou_threshold: float = 0.55, passes: int | None = None) -> Detections:
    """Class-aware weighted box fusion of detections from ``passes`` views of one frame (default: ``len(parts)``).

    Clusters are formed greedily from the best-scored box down
    (:func:`~prelabel.core.geometry.boxes2d.greedy_cluster`); a box joins the cluster of its class whose fused
    box it overlaps most, if by more than ``iou_threshold``. Each cluster gives one box: the score-weighted mean
    of its members' coordinates, scored ``sum(member scores) / passes``, capped at 1 (one view may put two boxes
    in a cluster, so the sum can exceed the number of passes). A box seen in one view of two keeps half its score.
    """
    n_passes = passes or max(len(parts), 1)
    dets = Detections.merge(parts)
    if len(dets) == 0:
        return Detections.empty()
    cl = greedy_cluster(dets.xyxy, dets.scores.astype(np.float64), iou_threshold=iou_threshold, groups=dets.class_ids)
    fused = [min(float(dets.scores[np.asarray(m)].sum()) / n_passes, 1.0) for m in cl.members]
    return Detections(
        xyxy=cl.boxes.astype(np.float32),
        scores=np.asarray(fused, dtype=np.float32),
        class_ids=np.asarray([int(dets.class_ids[m[0]]) for m in cl.members], dtype=np.int64),
        data={"support": np.asarray([len(m) for m in cl.members], dtype=np.int64)},
    )


def flip_boxes(xyxy: npt.NDArray[np.floating], width: int) -> npt.NDArray[np.float32]:
    """Mirror ``xyxy`` boxes about the vertical centre line of an image ``width`` pixels wide."""
    out = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
    out[:, 0] = width - xyxy[:, 2]
    out[:, 2] = width - xyxy[:, 0]
    return out


class FlipTTADetector(DetectorWrapper):
    """Wraps any :class:`~prelabel.models.base.Detector`; itself a Detector (same model id, version, classes)."""

    def __init__(self, detector: Detector, *, iou_threshold: float = 0.55, min_score: float = 0.0) -> None:
        super().__init__(detector)
        self.iou_threshold = float(iou_threshold)
        self.min_score = float(min_score)

    @property
    def setting(self) -> str:
        inner = getattr(self.detector, "setting", "")
        return f"{inner}+tta" if inner else "tta"

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        return self.run(self.prepare(image))

    def prepare(self, image: npt.NDArray[np.uint8]) -> FlipPrepared:
        h, w = image.shape[:2]
        mirrored = np.ascontiguousarray(image[:, ::-1])
        return FlipPrepared(w, h, prepare_input(self.detector, image), prepare_input(self.detector, mirrored))

    def run(self, prepared: FlipPrepared) -> Detections:
        w, h = prepared.width, prepared.height
        plain = run_prepared(self.detector, prepared.plain)
        mirrored = run_prepared(self.detector, prepared.mirrored)
        back = Detections(flip_boxes(mirrored.xyxy, w), mirrored.scores, mirrored.class_ids)
        plain = Detections(plain.xyxy, plain.scores, plain.class_ids)
        merged = weighted_merge([plain, back], self.iou_threshold, passes=2)
        return merged[merged.scores >= self.min_score].clip(w, h)


@dataclass(frozen=True)
class FlipPrepared:
    """A frame prepared for :class:`FlipTTADetector`: its size and the inner detector's inputs for both views."""

    width: int
    height: int
    plain: Any
    mirrored: Any
