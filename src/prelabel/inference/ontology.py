"""The label-time ontology: a team's own class names on pre-labels, and only the classes it asked for.

:class:`OntologyDetector` wraps any detector. Its model classes go through a class map (``--class-map kitti`` is
the shipped ``coco80-to-kitti``; ``bdd``, ``nuscenes`` and ``driving`` likewise, or a JSON file), then an optional
``keep`` list (``--classes car,truck``) selects target classes; everything else is dropped before a label exists.
When the map sends several model classes to one name (KITTI: truck and bus -> Truck) or the model calls one object
both car and truck, the copies are duplicates a reviewer would have to delete: boxes that overlap a better-scored
kept box by IoU >= ``dedupe_iou`` are removed (``same-class`` only, or across all classes with ``dedupe="any"``).
``min_scores`` sets a score threshold per target class (the presets' thresholds), ``min_score`` the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from prelabel.core.classmap import ClassMap
from prelabel.core.detections import Detections
from prelabel.core.geometry.boxes2d import overlap
from prelabel.errors import UnknownNameError
from prelabel.models.base import Detector

ALIASES = {"kitti": "coco80-to-kitti", "bdd": "coco80-to-bdd", "nuscenes": "coco80-to-nuscenes"}
ALIASES["driving"] = "coco80-to-driving"
DEDUPE = ("same-class", "any", "none")


def load_class_map(name_or_path: str) -> ClassMap:
    """``kitti`` | ``bdd`` | ``nuscenes`` | ``driving`` | a shipped map's name | a JSON file."""
    return ClassMap.load(ALIASES.get(name_or_path, name_or_path))


def parse_classes(text: str | Sequence[str] | None) -> list[str] | None:
    """``"car, truck"`` or ``["car", "truck"]`` -> ``["car", "truck"]``; empty -> None."""
    if text is None:
        return None
    items = text.split(",") if isinstance(text, str) else [c for part in text for c in str(part).split(",")]
    out = [c.strip() for c in items if c.strip()]
    return out or None


def dedupe(dets: Detections, iou: float, agnostic: bool) -> Detections:
    """Greedy, best score first: drop a box overlapping an already kept box (same class unless ``agnostic``)."""
    if len(dets) < 2:
        return dets
    order = np.argsort(-dets.scores, kind="stable")
    ious = overlap(dets.xyxy[order], dets.xyxy[order], "iou")
    cls = dets.class_ids[order]
    keep: list[int] = []
    for i in range(len(order)):
        dup = [k for k in keep if ious[i, k] >= iou and (agnostic or cls[i] == cls[k])]
        if not dup:
            keep.append(i)
    return dets[order[np.asarray(keep, dtype=np.int64)]]


def vocabulary(
    source: Sequence[str], class_map: ClassMap | None, keep: Sequence[str] | None
) -> tuple[list[str | None], list[str]]:
    """(each source class's target name or None, the target classes in order); unknown ``keep`` names raise."""
    mapped = [class_map.map(c) if class_map is not None else c for c in source]
    vocab = list(dict.fromkeys(m for m in mapped if m is not None))
    if keep:
        unknown = [k for k in keep if k not in vocab]
        if unknown:
            what = f"class (after class map {class_map.name})" if class_map is not None else "class of this model"
            raise UnknownNameError(what, unknown[0], vocab)
        vocab = [v for v in vocab if v in keep]
    return mapped, vocab


class OntologyDetector:
    """A detector whose classes are the ontology's: mapped, selected, de-duplicated. Itself a Detector."""

    def __init__(
        self,
        detector: Detector,
        *,
        class_map: str | ClassMap | None = None,
        keep: Sequence[str] | None = None,
        dedupe_iou: float = 0.7,
        dedupe_mode: str = "same-class",
        min_scores: Mapping[str, float] | None = None,
        min_score: float = 0.0,
    ) -> None:
        if dedupe_mode not in DEDUPE:
            raise UnknownNameError("dedupe mode", dedupe_mode, DEDUPE)
        self.detector = detector
        self.model_id = detector.model_id
        self.version = detector.version
        cmap = load_class_map(class_map) if isinstance(class_map, str) else class_map
        self.class_map = cmap
        mapped, vocab = vocabulary(list(detector.classes), cmap, keep)
        self.classes: tuple[str, ...] = tuple(vocab)
        index = {name: i for i, name in enumerate(vocab)}
        self._lookup: npt.NDArray[np.int64] = np.array(
            [index.get(m, -1) if m is not None else -1 for m in mapped], dtype=np.int64
        )
        self.dedupe_iou = float(dedupe_iou)
        self.dedupe_mode = dedupe_mode
        per_class = dict(min_scores or {})
        self._min: npt.NDArray[np.float32] = np.array(
            [per_class.get(c, min_score) for c in self.classes], dtype=np.float32
        )

    @property
    def source(self) -> str:
        return self.detector.source

    @property
    def setting(self) -> str:
        return getattr(self.detector, "setting", "")

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        return self.apply(self.detector.detect(image))

    def apply(self, dets: Detections) -> Detections:
        """Map, select, threshold (per class) and de-duplicate one frame's detections of the wrapped model."""
        if not len(dets):
            return dets
        inside = (dets.class_ids >= 0) & (dets.class_ids < len(self._lookup))
        new = np.where(inside, self._lookup[np.clip(dets.class_ids, 0, len(self._lookup) - 1)], -1)
        ok = new >= 0
        ok[ok] &= dets.scores[ok] >= self._min[new[ok]]
        kept = dets[ok]
        kept.class_ids = new[ok]
        if self.dedupe_mode == "none" or not len(kept):
            return kept
        return dedupe(kept, self.dedupe_iou, agnostic=self.dedupe_mode == "any")
