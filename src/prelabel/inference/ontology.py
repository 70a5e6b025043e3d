"""The label-time ontology: a team's own class names on pre-labels, and only the classes it asked for.

:class:`OntologyDetector` wraps any detector. Its model classes go through a class map (``--class-map kitti`` is
the shipped ``coco80-to-kitti``; ``bdd``, ``nuscenes`` and ``driving`` likewise, or a JSON file), then an optional
``keep`` list (``--classes car,truck``) selects target classes; everything else is dropped before a label exists.
When the map sends several model classes to one name (KITTI: truck and bus -> Truck) or the model calls one object
both car and truck, the copies are duplicates a reviewer would have to delete: boxes that overlap a better-scored
kept box by IoU >= ``dedupe_iou`` are removed (``same-class`` only, or across all classes with ``dedupe="any"``).
``min_scores`` sets a score threshold per target class (the presets' thresholds), ``min_score`` the rest.

One implementation for every place a team names its classes: ``prelabel label`` (the Predictor wraps its model in
an :class:`OntologyDetector`), the service (a model's ``options.ontology``: :func:`split_options`,
:meth:`Ontology.check`, :meth:`Ontology.wrap`, in the worker's model loading) and ``prelabel fuse``
(:func:`load_class_map` for each input, :meth:`Ontology.apply_records` on the fused labels).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.classmap import ClassMap, builtin_names
from prelabel.core.detections import Detections
from prelabel.core.geometry.boxes2d import overlap
from prelabel.core.labels import FrameRecord
from prelabel.errors import FormatError, UnknownNameError
from prelabel.models.base import Detector, DetectorWrapper, prepare_input, run_prepared

ALIASES = {"kitti": "coco80-to-kitti", "bdd": "coco80-to-bdd", "nuscenes": "coco80-to-nuscenes"}
ALIASES["driving"] = "coco80-to-driving"
ALIASES.update({"coco-to-kitti": "coco80-to-kitti", "coco-to-bdd": "coco80-to-bdd"})  # older spellings
ONTOLOGY_KEY = "ontology"  # a service model's options: {"ontology": {"class_map": ..., "classes": [...]}}
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


def dedupe_index(
    xyxy: npt.NDArray[np.floating],
    scores: npt.NDArray[np.floating],
    cls: npt.NDArray[np.integer],
    iou: float,
    agnostic: bool,
) -> npt.NDArray[np.int64]:
    """Indices kept by greedy de-duplication, best score first: a box overlapping an already kept box by IoU >=
    ``iou`` (same class unless ``agnostic``) is dropped."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    if len(order) < 2:
        return order.astype(np.int64)
    ious = overlap(np.asarray(xyxy)[order], np.asarray(xyxy)[order], "iou")
    c = np.asarray(cls)[order]
    keep: list[int] = []
    for i in range(len(order)):
        if not any(ious[i, k] >= iou and (agnostic or c[i] == c[k]) for k in keep):
            keep.append(i)
    return order[np.asarray(keep, dtype=np.int64)].astype(np.int64)


def dedupe(dets: Detections, iou: float, agnostic: bool) -> Detections:
    """Greedy, best score first: drop a box overlapping an already kept box (same class unless ``agnostic``)."""
    if len(dets) < 2:
        return dets
    return dets[dedupe_index(dets.xyxy, dets.scores, dets.class_ids, iou, agnostic)]


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


class OntologyDetector(DetectorWrapper):
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
        super().__init__(detector)
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
    def setting(self) -> str:
        return getattr(self.detector, "setting", "")

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        return self.apply(self.detector.detect(image))

    def prepare(self, image: npt.NDArray[np.uint8]) -> Any:
        return prepare_input(self.detector, image)

    def run(self, prepared: Any) -> Detections:
        return self.apply(run_prepared(self.detector, prepared))

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


@dataclass(frozen=True)
class Ontology:
    """A team's ontology as settings: a class map (name or JSON file) and the target classes to keep."""

    class_map: str | None = None
    classes: tuple[str, ...] | None = None
    dedupe_mode: str = "same-class"
    dedupe_iou: float = 0.7

    @classmethod
    def from_value(cls, value: Any, what: str = "ontology") -> Ontology | None:
        """``{"class_map": "kitti", "classes": ["Car", "Pedestrian"]}`` (either key optional; ``classes`` may be
        one comma-separated string) -> an Ontology, None for an empty one; a malformed value is a FormatError."""
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise FormatError(what, f'expected an object {{"class_map": NAME, "classes": [NAME, ...]}}; got {value!r}')
        unknown = sorted(set(value) - {"class_map", "classes", "dedupe"})
        if unknown:
            raise FormatError(what, f"unknown key {unknown[0]!r}; expected class_map, classes, dedupe")
        cmap = value.get("class_map")
        if cmap is not None and (not isinstance(cmap, str) or not cmap.strip()):
            raise FormatError(f"{what}.class_map", f"expected a class map name or JSON file; got {cmap!r}")
        raw = value.get("classes")
        names_ok = isinstance(raw, str) or (isinstance(raw, list) and all(isinstance(c, str) for c in raw))
        if raw is not None and not names_ok:
            raise FormatError(f"{what}.classes", f"expected a list of class names; got {raw!r}")
        mode = value.get("dedupe", "same-class")
        if mode not in DEDUPE:
            raise UnknownNameError(f"{what}.dedupe mode", str(mode), DEDUPE)
        keep = parse_classes(raw)
        if cmap is None and keep is None:
            return None
        return cls(class_map=cmap.strip() if cmap else None, classes=tuple(keep) if keep else None, dedupe_mode=mode)

    def load_map(self) -> ClassMap | None:
        return load_class_map(self.class_map) if self.class_map else None

    def check(self, model_classes: Sequence[str] | None = None, *, files: bool = True) -> list[str] | None:
        """Load the class map now (an unknown one fails here) and, when the model's classes are known, check the
        kept names against the classes the map gives; returns the target classes (None when unknown).
        ``files=False`` (the service) accepts only shipped class maps, never a path to read."""
        if not files and self.class_map and ALIASES.get(self.class_map, self.class_map) not in builtin_names():
            raise UnknownNameError("shipped class map (files are not read here)", self.class_map,
                                   sorted([*ALIASES, *builtin_names()]))  # fmt: skip
        cmap = self.load_map()
        if model_classes is None:
            if self.classes and cmap is not None and cmap.unmapped == "drop":
                targets = set(cmap.targets())
                unknown = [c for c in self.classes if c not in targets]
                if unknown:
                    raise UnknownNameError(f"class (after class map {cmap.name})", unknown[0], sorted(targets))
            return None
        return vocabulary(list(model_classes), cmap, self.classes)[1]

    def wrap(self, detector: Detector) -> Detector:
        """``detector`` with this ontology's class names: an :class:`OntologyDetector`."""
        return OntologyDetector(
            detector,
            class_map=self.load_map(),
            keep=self.classes,
            dedupe_mode=self.dedupe_mode,
            dedupe_iou=self.dedupe_iou,
        )

    def apply_records(self, records: Iterable[FrameRecord]) -> list[FrameRecord]:
        """Labels already written (a labels file, fused labels): categories through the class map, only the kept
        classes, then de-duplication as :meth:`OntologyDetector.apply`; every other field of a kept label stays."""
        cmap = self.load_map()
        keep = set(self.classes) if self.classes else None
        out = []
        for rec in records:
            labels = []
            for lab in rec.labels:
                name = cmap.map(lab.category) if cmap is not None else lab.category
                if name is None or (keep is not None and name not in keep):
                    continue
                labels.append(lab if name == lab.category else lab.model_copy(update={"category": name}))
            boxed = [i for i, lab in enumerate(labels) if lab.box is not None]
            if self.dedupe_mode != "none" and len(boxed) > 1:
                codes = {c: k for k, c in enumerate(dict.fromkeys(labels[i].category for i in boxed))}
                kept = dedupe_index(
                    np.asarray([labels[i].box.xyxy for i in boxed], dtype=np.float64),  # type: ignore[union-attr]
                    np.asarray([labels[i].score if labels[i].score is not None else 1.0 for i in boxed]),
                    np.asarray([codes[labels[i].category] for i in boxed], dtype=np.int64),
                    self.dedupe_iou,
                    agnostic=self.dedupe_mode == "any",
                )
                drop = set(boxed) - {boxed[int(k)] for k in kept}
                labels = [lab for i, lab in enumerate(labels) if i not in drop]
            out.append(rec.model_copy(update={"labels": labels}))
        return out


def split_options(options: Mapping[str, Any] | None, what: str = "options") -> tuple[dict[str, Any], Ontology | None]:
    """(the backend's options, the ontology) from a service model's ``options``: ``ontology`` is not a backend
    option (the ONNX backend's own ``class_map`` renumbers model outputs; it is not the ontology)."""
    opts = dict(options or {})
    return opts, Ontology.from_value(opts.pop(ONTOLOGY_KEY, None), f"{what}.{ONTOLOGY_KEY}")
