"""One frame's labels as parallel arrays: the form every hot path (fusion, tiling merge, eval, routing, compose)
works on, instead of one pydantic object per box.

:class:`Label` records stay the file format and are validated where data is read in; :meth:`LabelSet.from_labels`
turns a frame's records into columns once, and :meth:`LabelSet.to_labels` turns columns back into records.
Row ``i`` of every column is label ``i``. Units and axes are those of :class:`~prelabel.core.labels.Label`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.labels import Box2D, Label, Mask, ReviewState, checked_box, checked_label, parse_source
from prelabel.errors import FormatError

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
Bools = npt.NDArray[np.bool_]
Objects = npt.NDArray[np.object_]

REVIEW_STATES: tuple[str, ...] = tuple(s.value for s in ReviewState)  # review codes index this
_REVIEW_CODE = {s: i for i, s in enumerate(REVIEW_STATES)}
_REVIEW_STATE = tuple(ReviewState(s) for s in REVIEW_STATES)


def object_column(values: list[Any]) -> Objects:
    """A column of Python objects (ids, sources, track ids), one per value: (N,) object array."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


@dataclass(eq=False)
class LabelSet:
    """Labels of one frame in columns (``N`` rows). Checked on construction: every column has ``N`` rows."""

    xyxy: F64  # (N, 4) absolute pixels; the polygon's bounds where a label has a polygon but no box; NaN: neither
    scores: F64  # (N,) in [0, 1]; NaN for a label without a score (a person's)
    class_codes: I32  # (N,) index into ``categories``
    categories: tuple[str, ...]
    ids: Objects  # (N,) str
    sources: Objects  # (N,) str, e.g. model:ssd@1
    review: I8  # (N,) index into REVIEW_STATES
    track_ids: Objects  # (N,) str or None
    has_box: Bools  # (N,) True where the label has a Box2D (not only polygon bounds)
    masks: list[Mask | None] = field(default_factory=list)  # N entries
    attributes: list[dict[str, Any]] = field(default_factory=list)  # N entries
    origins: list[Label | None] = field(default_factory=list)  # the record a row was read from (polygon, box3d)

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.xyxy = np.asarray(self.xyxy, dtype=np.float64)
        if n == 0 and self.xyxy.size == 0:
            self.xyxy = self.xyxy.reshape(0, 4)
        self.scores = np.asarray(self.scores, dtype=np.float64)
        self.class_codes = np.asarray(self.class_codes, dtype=np.int32)
        self.review = np.asarray(self.review, dtype=np.int8)
        self.has_box = np.asarray(self.has_box, dtype=bool)
        self.categories = tuple(self.categories)
        if not self.masks:
            self.masks = [None] * n
        if not self.attributes:
            self.attributes = [{} for _ in range(n)]
        if not self.origins:
            self.origins = [None] * n
        for name, shape in (
            ("xyxy", (n, 4)),
            ("scores", (n,)),
            ("class_codes", (n,)),
            ("sources", (n,)),
            ("review", (n,)),
            ("track_ids", (n,)),
            ("has_box", (n,)),
        ):
            got = np.shape(getattr(self, name))
            if got != shape:
                raise FormatError("label set", f"{name}: expected shape {shape} for {n} labels; got {got}")
        for name in ("masks", "attributes", "origins"):
            got_n = len(getattr(self, name))
            if got_n != n:
                raise FormatError("label set", f"{name}: expected {n} entries, one per label; got {got_n}")
        if n:
            if self.class_codes.min() < 0 or self.class_codes.max() >= len(self.categories):
                raise FormatError(
                    "label set",
                    f"class_codes must index categories (0..{len(self.categories) - 1}); "
                    f"got {int(self.class_codes.min())}..{int(self.class_codes.max())}",
                )
            if self.review.min() < 0 or self.review.max() >= len(REVIEW_STATES):
                raise FormatError("label set", f"review codes must index {list(REVIEW_STATES)}")
            s = self.scores[~np.isnan(self.scores)]
            if s.size and (s.min() < 0.0 or s.max() > 1.0):
                raise FormatError("label set", f"scores must lie in [0, 1] (NaN: no score); got {s.min()}..{s.max()}")

    # ------------------------------------------------------------ construction

    @classmethod
    def of_checked(
        cls,
        *,
        xyxy: F64,
        scores: F64,
        class_codes: I32,
        categories: tuple[str, ...],
        ids: Objects,
        sources: Objects,
        review: I8,
        track_ids: Objects,
        has_box: Bools,
        masks: list[Mask | None],
        attributes: list[dict[str, Any]],
        origins: list[Label | None],
    ) -> LabelSet:
        """A set from columns already checked (validated records, or rows of checked sets), each of its dtype and
        length, without checking them again: the hot paths' constructor. ``LabelSet(...)`` checks."""
        ls = object.__new__(cls)
        ls.__dict__.update(
            xyxy=xyxy, scores=scores, class_codes=class_codes, categories=categories, ids=ids, sources=sources,
            review=review, track_ids=track_ids, has_box=has_box, masks=masks, attributes=attributes, origins=origins,
        )  # fmt: skip
        return ls

    @classmethod
    def empty(cls, categories: Sequence[str] = ()) -> LabelSet:
        z = np.zeros(0)
        return cls(
            np.zeros((0, 4)), z, np.zeros(0, np.int32), tuple(categories), object_column([]), object_column([]),
            np.zeros(0, np.int8), object_column([]), np.zeros(0, bool),
        )  # fmt: skip

    @classmethod
    def from_labels(cls, labels: Sequence[Label], categories: Sequence[str] = ()) -> LabelSet:
        """Columns of validated records. ``categories`` fixes the first codes; other categories follow in order of
        first appearance."""
        n = len(labels)
        cats: dict[str, int] = {c: i for i, c in enumerate(categories)}
        nan = float("nan")
        maybe = [lab.box for lab in labels]
        has_list = [b is not None for b in maybe]
        if all(has_list):
            box_list: list[Box2D] = maybe  # type: ignore[assignment]
            has = np.ones(n, dtype=bool)
        else:  # polygon bounds, or NaN where a label has neither
            none4 = Box2D.model_construct(x1=nan, y1=nan, x2=nan, y2=nan)
            box_list = [
                b if b is not None else lab.polygon.bounds() if lab.polygon is not None else none4
                for b, lab in zip(maybe, labels, strict=True)
            ]
            has = np.asarray(has_list, dtype=bool)
        xyxy = np.empty((n, 4))
        xyxy[:, 0] = [b.x1 for b in box_list]
        xyxy[:, 1] = [b.y1 for b in box_list]
        xyxy[:, 2] = [b.x2 for b in box_list]
        xyxy[:, 3] = [b.y2 for b in box_list]
        code_list = []
        for lab in labels:
            code = cats.get(lab.category)
            if code is None:
                code = cats[lab.category] = len(cats)
            code_list.append(code)
        review_code = _REVIEW_CODE
        # the records are validated: their columns are built without checking them again
        return cls.of_checked(
            xyxy=xyxy,
            scores=np.asarray([nan if lab.score is None else lab.score for lab in labels], dtype=np.float64),
            class_codes=np.asarray(code_list, dtype=np.int32),
            categories=tuple(cats),
            ids=object_column([lab.id for lab in labels]),
            sources=object_column([lab.source for lab in labels]),
            review=np.asarray([review_code[lab.review] for lab in labels], dtype=np.int8),
            track_ids=object_column([lab.track_id for lab in labels]),
            has_box=has,
            masks=[lab.mask for lab in labels],
            attributes=[lab.attributes for lab in labels],
            origins=list(labels),
        )

    @classmethod
    def concat(cls, sets: Sequence[LabelSet]) -> LabelSet:
        """The rows of several sets, one after the other (categories merged in order of first appearance)."""
        if not sets:
            return cls.empty()
        cats: dict[str, int] = {}
        codes = []
        for s in sets:
            remap = np.asarray([cats.setdefault(c, len(cats)) for c in s.categories], dtype=np.int32)
            codes.append(remap[s.class_codes] if len(s) else np.zeros(0, np.int32))
        return cls(
            xyxy=np.concatenate([s.xyxy for s in sets]).reshape(-1, 4),
            scores=np.concatenate([s.scores for s in sets]),
            class_codes=np.concatenate(codes),
            categories=tuple(cats),
            ids=np.concatenate([s.ids for s in sets]),
            sources=np.concatenate([s.sources for s in sets]),
            review=np.concatenate([s.review for s in sets]),
            track_ids=np.concatenate([s.track_ids for s in sets]),
            has_box=np.concatenate([s.has_box for s in sets]),
            masks=[m for s in sets for m in s.masks],
            attributes=[a for s in sets for a in s.attributes],
            origins=[o for s in sets for o in s.origins],
        )

    # ------------------------------------------------------------ access

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, keep: npt.ArrayLike) -> LabelSet:
        """The rows a boolean mask (length N) or an index array selects, in that order."""
        k = np.asarray(keep)
        if k.dtype == bool:
            if k.shape != (len(self),):
                raise FormatError("label set", f"boolean filter: expected shape ({len(self)},); got {k.shape}")
            idx = np.flatnonzero(k)
        else:
            idx = k.astype(np.int64).reshape(-1)
        rows = idx.tolist()
        return LabelSet(
            xyxy=self.xyxy[idx],
            scores=self.scores[idx],
            class_codes=self.class_codes[idx],
            categories=self.categories,
            ids=self.ids[idx],
            sources=self.sources[idx],
            review=self.review[idx],
            track_ids=self.track_ids[idx],
            has_box=self.has_box[idx],
            masks=[self.masks[i] for i in rows],
            attributes=[self.attributes[i] for i in rows],
            origins=[self.origins[i] for i in rows],
        )

    @property
    def names(self) -> Objects:
        """The category name of each row, (N,)."""
        return object_column(list(self.categories))[self.class_codes]

    @property
    def has_geometry2d(self) -> Bools:
        """Rows with a box or polygon bounds (a finite ``xyxy``)."""
        return np.asarray(np.isfinite(self.xyxy).all(axis=1), dtype=bool)

    def scores_or(self, default: float = 1.0) -> F64:
        """Scores with ``default`` where a label has none."""
        return np.where(np.isnan(self.scores), default, self.scores)

    def map_categories(self, fn: Callable[[str], str | None]) -> LabelSet:
        """Categories renamed by ``fn`` (called once per category, not per label); rows mapped to None dropped."""
        mapped = [fn(c) for c in self.categories]
        cats: dict[str, int] = {}
        remap = np.asarray([-1 if m is None else cats.setdefault(m, len(cats)) for m in mapped], dtype=np.int32)
        codes = remap[self.class_codes] if len(self) else np.zeros(0, np.int32)
        keep = codes >= 0
        out = self[keep] if not keep.all() else self[np.arange(len(self))]
        out.class_codes = codes[keep]
        out.categories = tuple(cats)
        return out

    # ------------------------------------------------------------ back to records

    def to_labels(self) -> list[Label]:
        """Validated :class:`Label` records (polygons and 3D boxes kept from the records the rows were read from).

        The rows are checked as columns, once per set (:meth:`check_rows`: what :class:`Label` checks box by box),
        so each record is built without validating it again."""
        self.check_rows()
        names = self.categories
        review = [_REVIEW_STATE[r] for r in self.review.tolist()]
        out: list[Label] = []
        for (x1, y1, x2, y2), s, has, code, rv, lid, src, tid, mask, attrs, origin in zip(
            self.xyxy.tolist(), self.scores.tolist(), self.has_box.tolist(), self.class_codes.tolist(), review,
            self.ids.tolist(), self.sources.tolist(), self.track_ids.tolist(), self.masks, self.attributes,
            self.origins, strict=True,
        ):  # fmt: skip
            out.append(
                checked_label(
                    str(lid),
                    names[code],
                    str(src),
                    None if s != s else s,  # NaN: no score
                    checked_box(x1, y1, x2, y2) if has else None,
                    dict(attrs),
                    review=rv,
                    mask=mask,
                    polygon=None if origin is None else origin.polygon,
                    box3d=None if origin is None else origin.box3d,
                    track_id=tid,
                )
            )
        return out

    def check_rows(self) -> None:
        """What :class:`Label` requires of each row, checked as columns: boxes finite with x1 <= x2 and y1 <= y2,
        known sources, non-empty ids and categories, text track ids, a geometry on every row."""
        n = len(self)
        if not n:
            return
        boxes = self.xyxy[self.has_box]
        if boxes.size and (
            not np.isfinite(boxes).all() or (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any()
        ):
            bad = int(np.flatnonzero(self.has_box)[0])
            raise FormatError("label set", f"boxes must be finite xyxy with x1 <= x2 and y1 <= y2; row {bad} or later")
        for src in set(self.sources.tolist()):
            try:
                parse_source(src)
            except (ValueError, TypeError, AttributeError) as e:
                raise FormatError("label set", str(e)) from None
        if not all(isinstance(i, str) and i for i in self.ids.tolist()):
            raise FormatError("label set", "every label id must be non-empty text")
        if not all(self.categories[c] for c in set(self.class_codes.tolist())):
            raise FormatError("label set", "every category must be non-empty text")
        if not all(t is None or isinstance(t, str) for t in self.track_ids.tolist()):
            raise FormatError("label set", "track ids must be text or None")
        for i, (has, mask, origin) in enumerate(zip(self.has_box.tolist(), self.masks, self.origins, strict=True)):
            if not has and mask is None and (origin is None or (origin.polygon is None and origin.box3d is None)):
                raise FormatError(
                    "label set",
                    f"label {self.ids[i]} has no geometry; expected at least one of box, mask, polygon, box3d",
                )
