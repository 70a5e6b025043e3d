"""Horizontal-flip test-time augmentation for any detector, and the weighted box merge it uses.

:class:`FlipTTADetector` runs its detector on the frame and on the mirrored frame, maps the mirrored boxes back,
and merges the two passes class by class with :func:`weighted_merge`: boxes that overlap (IoU above a threshold)
are averaged, weighted by score, and the merged score is the summed score divided by the number of passes, so a box
seen in only one view is down-weighted rather than kept at full confidence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from prelabel.core.boxes import iou_matrix
from prelabel.core.detections import Detections
from prelabel.models.base import Detector


def weighted_merge(parts: Sequence[Detections], iou_threshold: float = 0.55, passes: int | None = None) -> Detections:
    """Class-aware weighted box fusion of detections from ``passes`` views of one frame (default: ``len(parts)``).

    Clusters are formed greedily from the best-scored box down; a box joins the first cluster of its class whose
    fused box it overlaps by more than ``iou_threshold``. Each cluster gives one box: the score-weighted mean of its
    members' coordinates, scored ``sum(scores) / passes`` (capped at the best member's score times the number of
    members, so it never exceeds 1).
    """
    n_passes = passes or max(len(parts), 1)
    dets = Detections.merge(parts)
    if len(dets) == 0:
        return Detections.empty()
    order = np.argsort(-dets.scores, kind="stable")
    fused_xyxy: list[npt.NDArray[np.float64]] = []
    members: list[list[int]] = []
    cluster_cls: list[int] = []
    for i in order:
        cid = int(dets.class_ids[i])
        best, best_iou = -1, iou_threshold
        cands = [k for k, c in enumerate(cluster_cls) if c == cid]
        if cands:
            ious = iou_matrix(dets.xyxy[i : i + 1], np.asarray([fused_xyxy[k] for k in cands]))[0]
            j = int(np.argmax(ious))
            if ious[j] > best_iou:
                best = cands[j]
        if best < 0:
            fused_xyxy.append(dets.xyxy[i].astype(np.float64))
            members.append([int(i)])
            cluster_cls.append(cid)
        else:
            members[best].append(int(i))
            idx = np.asarray(members[best])
            w = dets.scores[idx].astype(np.float64)
            fused_xyxy[best] = (dets.xyxy[idx].astype(np.float64) * w[:, None]).sum(0) / max(w.sum(), 1e-9)
    scores = np.asarray([min(float(dets.scores[m].sum()) / n_passes, 1.0) for m in members], dtype=np.float32)
    return Detections(
        xyxy=np.asarray(fused_xyxy, dtype=np.float32),
        scores=scores,
        class_ids=np.asarray(cluster_cls, dtype=np.int64),
        data={"support": np.asarray([len(m) for m in members], dtype=np.int64)},
    )


def flip_boxes(xyxy: npt.NDArray[np.floating], width: int) -> npt.NDArray[np.float32]:
    """Mirror ``xyxy`` boxes about the vertical centre line of an image ``width`` pixels wide."""
    out = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
    out[:, 0] = width - xyxy[:, 2]
    out[:, 2] = width - xyxy[:, 0]
    return out


class FlipTTADetector:
    """Wraps any :class:`~prelabel.models.base.Detector`; itself a Detector (same model id, version, classes)."""

    def __init__(self, detector: Detector, *, iou_threshold: float = 0.55, min_score: float = 0.0) -> None:
        self.detector = detector
        self.model_id = detector.model_id
        self.version = detector.version
        self.classes = detector.classes
        self.iou_threshold = float(iou_threshold)
        self.min_score = float(min_score)

    @property
    def source(self) -> str:
        return self.detector.source

    @property
    def setting(self) -> str:
        inner = getattr(self.detector, "setting", "")
        return f"{inner}+tta" if inner else "tta"

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        h, w = image.shape[:2]
        plain = self.detector.detect(image)
        mirrored = self.detector.detect(np.ascontiguousarray(image[:, ::-1]))
        back = Detections(flip_boxes(mirrored.xyxy, w), mirrored.scores, mirrored.class_ids)
        plain = Detections(plain.xyxy, plain.scores, plain.class_ids)
        merged = weighted_merge([plain, back], self.iou_threshold, passes=2)
        return merged[merged.scores >= self.min_score].clip(w, h)
