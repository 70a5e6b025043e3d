"""Compose part labels into one object: a ``person`` riding a ``bicycle`` becomes one ``cyclist``.

COCO detectors see a rider and a bike as two boxes; KITTI labels one Cyclist box around both, and BDD100K labels
the person on a bike as ``rider`` (the bike keeps its own box). A :class:`ComposeRule` says, as data, which two
part classes make which composite, when two boxes are one object, what the composite's box and score are, and
whether the parts stay::

    {"parts": ["person", ["bicycle"]], "into": "cyclist", "min_overlap": 0.5, "min_vertical_overlap": 0.3,
     "max_height_ratio": 3.0, "geometry": "union", "score": "gmean", "keep_parts": "discount"}

The pairing test is what riding looks like in a picture, from the front, the back or the side. With A the first
part (the rider) and B the second (the vehicle):

- **Horizontal:** the boxes overlap horizontally by at least ``min_overlap`` of the *narrower* box's width. From
  behind, the bike lies within the rider's width; from the side, the rider lies within the bike's length.
- **Vertical:** A's top is above B's top (the rider sits up on the vehicle). A's bottom lies inside B's vertical
  extent, with a quarter of B's height of slack below it (the rider's feet are on the pedals, not on the road in
  front of the bike). A's lower part covers at least ``min_vertical_overlap`` of B's height.
- **Scale:** neither box is more than ``max_height_ratio`` times the other's height (a far bike behind a near
  pedestrian is no pair).

Among all pairs that pass, the best-scored composite is made first and each part joins at most one composite
(two persons and one bike give one cyclist and one person). The composite's box is the union of the parts
(``geometry="union"``), or one part's box (``"first"``, ``"second"``: BDD's rider box is the person alone). Its
score is the geometric mean of the parts' scores (``"gmean"``; or ``"product"``, ``"min"``, ``"mean"``). Its
attributes record ``composed_from`` (the part label ids), ``parts`` (their categories) and ``rule`` (the
composite's name). What happens to the parts (``keep_parts``: one mode, or one per part):

- ``"remove"`` (``false``): a person riding a bike is not also a pedestrian.
- ``"keep"`` (``true``): the part stays as it is (BDD keeps the bike's own box).
- ``"discount"``: the part stays, its score times (1 - the other part's score). Read as probabilities, that is
  "this part, and not the other one with it": a confident person next to a faint, probably false, motorcycle stays
  a confident pedestrian, while a person on a confident bike fades. Detections kept from score 0.05 hold many
  faint bikes around people, and removing the person for each of those loses real pedestrians.

Shipped rule sets (:data:`RULE_SETS`): ``cyclists`` (person + bicycle -> ``cyclist``, person + motorcycle ->
``motorcyclist``, union boxes, parts discounted: KITTI's Cyclist) and ``bdd-riders`` (the person on a bicycle or
motorcycle becomes ``rider`` with its own box; the person is discounted, the bike stays).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from prelabel.core.labels import (
    Box2D,
    FrameRecord,
    Label,
    checked_box,
    checked_label,
    make_label_id,
    updated,
)
from prelabel.core.labelset import LabelSet, object_column
from prelabel.errors import FormatError, InputNotFoundError, UnknownNameError
from prelabel.formats._common import parse_json_text

GEOMETRIES = ("union", "first", "second")
SCORES = ("gmean", "product", "min", "mean")
KEEP_MODES = ("remove", "keep", "discount")
FEET_SLACK = 0.25  # how far (in B's heights) A's bottom may reach below B's bottom

_BIKES_KITTI: list[dict[str, Any]] = [
    {"parts": ["person", ["bicycle"]], "into": "cyclist", "keep_parts": "discount"},
    {"parts": ["person", ["motorcycle"]], "into": "motorcyclist", "keep_parts": "discount"},
]
RULE_SETS: dict[str, list[dict[str, Any]]] = {
    "cyclists": _BIKES_KITTI,
    "bdd-riders": [
        {
            "parts": ["person", ["bicycle", "motorcycle"]],
            "into": "rider",
            "geometry": "first",
            "keep_parts": ["discount", "keep"],
        }
    ],
}
DEFAULT_RULES = "cyclists"


def composite_names() -> set[str]:
    """The categories the shipped rule sets make (``cyclist``, ``motorcyclist``, ``rider``)."""
    return {str(r["into"]) for rules in RULE_SETS.values() for r in rules}


@dataclass(frozen=True)
class ComposeRule:
    parts: tuple[frozenset[str], frozenset[str]]  # categories of A (rider) and B (vehicle)
    into: str
    min_overlap: float = 0.5
    min_vertical_overlap: float = 0.3
    max_height_ratio: float = 3.0
    geometry: str = "union"
    score: str = "gmean"
    keep_parts: tuple[str, str] = ("remove", "remove")  # per part: remove | keep | discount
    min_score: float = 0.0  # parts scored under this are not composed

    def __post_init__(self) -> None:
        where = f"compose rule into {self.into!r}"
        if self.geometry not in GEOMETRIES:
            raise UnknownNameError("compose geometry", self.geometry, GEOMETRIES)
        if self.score not in SCORES:
            raise UnknownNameError("compose score", self.score, SCORES)
        if not 0.0 <= self.min_overlap <= 1.0 or not 0.0 <= self.min_vertical_overlap <= 1.0:
            raise FormatError(where, "min_overlap and min_vertical_overlap must lie in [0, 1]")
        if not self.max_height_ratio >= 1.0:
            raise FormatError(where, f"max_height_ratio must be >= 1; got {self.max_height_ratio}")
        if not all(self.parts) or not self.into:
            raise FormatError(where, "each part needs at least one category, and 'into' a name")

    @classmethod
    def from_dict(cls, data: Any, where: str = "compose rule") -> ComposeRule:
        if not isinstance(data, Mapping):
            raise FormatError(where, f"a compose rule is a JSON object; got {type(data).__name__}")
        known = {
            "parts", "into", "min_overlap", "min_vertical_overlap", "max_height_ratio", "geometry", "score",
            "keep_parts", "min_score",
        }  # fmt: skip
        extra = sorted(set(data) - known)
        if extra:
            raise FormatError(where, f"unknown keys {extra}; a rule takes {sorted(known)}")
        parts = data.get("parts")
        if not isinstance(parts, list) or len(parts) != 2:
            raise FormatError(where, f"'parts' must list two categories (or lists of them); got {parts!r}")
        cats: list[frozenset[str]] = []
        for p in parts:
            names = [p] if isinstance(p, str) else p
            if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
                raise FormatError(where, f"a part is a category name or a list of them; got {p!r}")
            cats.append(frozenset(names))
        into = data.get("into")
        if not isinstance(into, str) or not into:
            raise FormatError(where, f"'into' must name the composite category; got {into!r}")
        keep = data.get("keep_parts", "remove")
        keeps = keep if isinstance(keep, list) and len(keep) == 2 else [keep, keep]
        try:
            keep_t = (_keep_mode(keeps[0]), _keep_mode(keeps[1]))
        except ValueError:
            raise FormatError(
                where,
                f"'keep_parts' is one of {list(KEEP_MODES)} (true = keep, false = remove), or one per part; "
                f"got {keep!r}",
            ) from None
        try:
            num = {
                k: float(data[k])
                for k in ("min_overlap", "min_vertical_overlap", "max_height_ratio", "min_score")
                if k in data
            }
        except (TypeError, ValueError) as e:
            raise FormatError(where, f"thresholds must be numbers: {e}") from None
        return cls(
            parts=(cats[0], cats[1]),
            into=into,
            geometry=str(data.get("geometry", "union")),
            score=str(data.get("score", "gmean")),
            keep_parts=keep_t,
            **num,
        )


def _keep_mode(v: Any) -> str:
    if isinstance(v, bool):
        return "keep" if v else "remove"
    if v in KEEP_MODES:
        return str(v)
    raise ValueError(v)


def load_rules(spec: str | Path | Sequence[Mapping[str, Any]] | None = None) -> list[ComposeRule]:
    """Rules from a shipped set's name (:data:`RULE_SETS`; default ``cyclists``), a JSON file (a list of rules or
    ``{"rules": [...]}``), or a list of rule dicts."""
    if spec is None:
        spec = DEFAULT_RULES
    if not isinstance(spec, (str, Path)):
        return [ComposeRule.from_dict(r, f"compose rule {i}") for i, r in enumerate(spec)]
    text = str(spec)
    if text in RULE_SETS:
        return load_rules(RULE_SETS[text])
    p = Path(text)
    if not p.suffix and not p.exists():
        raise UnknownNameError("compose rule set", text, sorted(RULE_SETS))
    if not p.is_file():
        raise InputNotFoundError(text, what="compose rules file")
    data = parse_json_text(p.read_bytes(), text)
    rules = data.get("rules") if isinstance(data, dict) else data
    if not isinstance(rules, list) or not rules:
        raise FormatError(text, 'expected a list of compose rules, or {"rules": [...]}, with at least one rule')
    return [ComposeRule.from_dict(r, f"{text}: rule {i}") for i, r in enumerate(rules)]


def pairs_with(a: Box2D, b: Box2D, rule: ComposeRule) -> bool:
    """Whether A (the rider) and B (the vehicle) are one object under ``rule`` (see the module docstring)."""
    return _pairs(a.xyxy, b.xyxy, rule)


def _pairs(a: Sequence[float], b: Sequence[float], rule: ComposeRule) -> bool:
    """:func:`pairs_with` on xyxy tuples, in plain Python floats: a frame has a few riders and vehicles, where
    numpy calls cost more than they save."""
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    wa, wb, ha, hb = ax2 - ax1, bx2 - bx1, ay2 - ay1, by2 - by1
    if not min(wa, wb, ha, hb) > 0:  # also refuses NaN
        return False
    if min(ax2, bx2) - max(ax1, bx1) < rule.min_overlap * min(wa, wb):
        return False
    if not (ay1 < by1 < ay2 <= by2 + FEET_SLACK * hb):
        return False
    if min(ay2, by2) - by1 < rule.min_vertical_overlap * hb:
        return False
    return max(ha / hb, hb / ha) <= rule.max_height_ratio


def _score(sa: float, sb: float, mode: str) -> float:
    if mode == "min":
        return min(sa, sb)
    if mode == "mean":
        return (sa + sb) / 2
    if mode == "product":
        return sa * sb
    return math.sqrt(max(sa, 0.0) * max(sb, 0.0))


def _box(a: Box2D, b: Box2D, geometry: str) -> Box2D:
    if geometry == "first":
        return a
    if geometry == "second":
        return b
    # the union of two valid boxes is valid: built without validating it again
    return checked_box(min(a.x1, b.x1), min(a.y1, b.y1), max(a.x2, b.x2), max(a.y2, b.y2))


_COMPOSITE_FIELDS = {"id", "category", "source", "score", "box", "attributes"}  # what a composite states
_Plan = tuple[list[tuple[float, int, int, int]], set[int], dict[int, float]]
_Part = tuple[str, float, Sequence[float]]  # category, score (1.0 where none), xyxy


def _part_names(rules: Sequence[ComposeRule]) -> frozenset[str]:
    """Every category some rule takes as a part."""
    return frozenset().union(*(p for r in rules for p in r.parts))


def _may_pair(categories: Iterable[str], rules: Sequence[ComposeRule]) -> bool:
    """Whether some rule finds both its parts among ``categories`` (most frames: no; nothing to do then)."""
    cats = set(categories)
    return any(not cats.isdisjoint(r.parts[0]) and not cats.isdisjoint(r.parts[1]) for r in rules)


def _plan(parts: Mapping[int, _Part], rules: Sequence[ComposeRule]) -> _Plan:
    """Which pairs become composites (score, rule, A row, B row), best first; the parts to drop; the parts to
    discount (row -> the other part's score). ``parts``: the rows with a box whose category a rule names, in row
    order (a frame holds tens of labels and a few parts: plain Python, where numpy calls cost more than they save).
    """
    candidates: list[tuple[float, int, int, int]] = []  # (composite score, rule, A index, B index)
    if not _may_pair((c for c, _, _ in parts.values()), rules):
        return candidates, set(), {}
    for k, rule in enumerate(rules):
        (pa, pb), low = rule.parts, rule.min_score
        a_idx = [i for i, (c, sc, _) in parts.items() if c in pa and sc >= low]
        b_idx = [j for j, (c, sc, _) in parts.items() if c in pb and sc >= low]
        for i in a_idx:
            _, sa, xy_a = parts[i]
            for j in b_idx:
                if i != j and _pairs(xy_a, parts[j][2], rule):
                    candidates.append((_score(sa, parts[j][1], rule.score), k, i, j))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2], c[3]))
    used: set[int] = set()
    drop: set[int] = set()
    discount: dict[int, float] = {}
    chosen = []
    for c in candidates:
        _, k, i, j = c
        if i in used or j in used:
            continue
        used.update((i, j))
        chosen.append(c)
        rule = rules[k]
        for idx, other, mode in ((i, j, rule.keep_parts[0]), (j, i, rule.keep_parts[1])):
            if mode == "remove":
                drop.add(idx)
            elif mode == "discount":
                discount[idx] = parts[other][1]
    return chosen, drop, discount


def _composite_score(score: float, sa: float | None, sb: float | None) -> float | None:
    return None if sa is None and sb is None else round(min(max(score, 0.0), 1.0), 6)


def compose_labels(labels: Sequence[Label], rules: Sequence[ComposeRule], frame_id: str = "") -> list[Label]:
    """One frame's labels with the composites made and the consumed parts removed (or kept, per rule).

    Labels without a box, and labels no rule pairs, pass through unchanged; their order is kept and the
    composites come after them.
    """
    names = _part_names(rules)
    chosen, drop, discount = _plan(
        {
            i: (lab.category, 1.0 if lab.score is None else lab.score, lab.box.xyxy)
            for i, lab in enumerate(labels)
            if lab.category in names and lab.box is not None
        },
        rules,
    )
    if not chosen:
        return list(labels)
    made: list[Label] = []
    for score, k, i, j in chosen:
        rule = rules[k]
        a, b = labels[i], labels[j]
        made.append(  # from validated parts: a box, a score clamped to [0, 1], a known source
            checked_label(
                make_label_id(frame_id, "composed", rule.into, a.id, b.id),
                rule.into,
                a.source if a.source == b.source else "fused",
                _composite_score(score, a.score, b.score),
                _box(a.box, b.box, rule.geometry),  # type: ignore[arg-type]
                {"composed_from": [a.id, b.id], "parts": [a.category, b.category], "rule": rule.into},
                fields_set=_COMPOSITE_FIELDS,
            )
        )
    kept = list(labels)
    for n, d in discount.items():
        lab = kept[n]
        if lab.score is not None:  # the part alone, e.g. a pedestrian: this part, and not the other one under it
            score = round(float(lab.score) * (1.0 - d), 6)  # in [0, 1]: what model_copy(update=...) makes
            kept[n] = updated(lab, {"score": score})
    if drop:
        kept = [lab for n, lab in enumerate(kept) if n not in drop]
    return kept + made


def compose_set(ls: LabelSet, rules: Sequence[ComposeRule], frame_id: str = "") -> LabelSet:
    """:func:`compose_labels` on a label set (the label-set path): the same rows, scores, ids and composites, as
    columns; ``compose_set(ls, ...).to_labels()`` equals ``compose_labels(ls.to_labels(), ...)``."""
    wanted = _part_names(rules)
    codes_wanted = {k for k, c in enumerate(ls.categories) if c in wanted}
    if not _may_pair((ls.categories[k] for k in codes_wanted), rules):
        return ls
    names = ls.categories
    xyxy = ls.xyxy.tolist()
    scores = ls.scores.tolist()
    chosen, drop, discount = _plan(
        {
            i: (names[c], 1.0 if scores[i] != scores[i] else scores[i], xyxy[i])  # s != s: NaN, no score
            for i, (c, has) in enumerate(zip(ls.class_codes.tolist(), ls.has_box.tolist(), strict=True))
            if has and c in codes_wanted
        },
        rules,
    )
    if not chosen:
        return ls
    for r, d in discount.items():
        if scores[r] == scores[r]:  # a part without a score keeps none
            scores[r] = round(scores[r] * (1.0 - d), 6)
    codes = {c: v for v, c in enumerate(names)}
    ids, sources, codes_in = ls.ids.tolist(), ls.sources.tolist(), ls.class_codes.tolist()
    made_xyxy, made_scores, made_codes, made_ids, made_sources, attrs = [], [], [], [], [], []
    for score, k, i, j in chosen:
        rule = rules[k]
        a, b = xyxy[i], xyxy[j]
        g = rule.geometry
        made_xyxy.append(
            a if g == "first" else b if g == "second" else [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]),
                                                             max(a[3], b[3])]
        )  # fmt: skip
        sa, sb = scores[i], scores[j]
        s = _composite_score(score, None if sa != sa else sa, None if sb != sb else sb)  # NaN: no score
        made_scores.append(math.nan if s is None else s)
        made_codes.append(codes.setdefault(rule.into, len(codes)))
        made_ids.append(make_label_id(frame_id, "composed", rule.into, ids[i], ids[j]))
        made_sources.append(sources[i] if sources[i] == sources[j] else "fused")
        parts = [names[codes_in[i]], names[codes_in[j]]]
        attrs.append({"composed_from": [ids[i], ids[j]], "parts": parts, "rule": rule.into})
    n = len(chosen)
    if drop:
        keep = [r for r in range(len(ls)) if r not in drop]
        idx = np.asarray(keep, dtype=np.int64)
        xyxy_k, review, has_box = ls.xyxy[idx], ls.review[idx], ls.has_box[idx]
        pick = [xyxy, scores, codes_in, ids, sources, ls.track_ids.tolist(), ls.masks, ls.attributes, ls.origins]
        xyxy, scores, codes_in, ids, sources, track_ids, masks, attributes, origins = (
            [col[r] for r in keep] for col in pick
        )
    else:  # every row stays (parts kept or discounted)
        xyxy_k, review, has_box = ls.xyxy, ls.review, ls.has_box
        track_ids, masks, attributes, origins = ls.track_ids.tolist(), ls.masks, ls.attributes, ls.origins
    return LabelSet.of_checked(  # rows of a checked set, composites of its checked rows
        xyxy=np.concatenate([xyxy_k, np.asarray(made_xyxy, dtype=np.float64).reshape(n, 4)]),
        scores=np.asarray(scores + made_scores, dtype=np.float64),
        class_codes=np.asarray(codes_in + made_codes, dtype=np.int32),
        categories=tuple(codes),
        ids=object_column(ids + made_ids),
        sources=object_column(sources + made_sources),
        review=np.concatenate([review, np.zeros(n, np.int8)]),
        track_ids=object_column(track_ids + [None] * n),
        has_box=np.concatenate([has_box, np.ones(n, bool)]),
        masks=[*masks, *([None] * n)],
        attributes=[*attributes, *attrs],
        origins=[*origins, *([None] * n)],
    )


def compose_records(
    records: Iterable[FrameRecord], rules: Sequence[ComposeRule] | str | None = None
) -> list[FrameRecord]:
    """:func:`compose_labels` on every frame; failed frames pass through as they are."""
    rule_list = load_rules(rules) if rules is None or isinstance(rules, str) else list(rules)
    out: list[FrameRecord] = []
    for r in records:
        if r.status != "ok" or not r.labels:
            out.append(r)
            continue
        out.append(r.model_copy(update={"labels": compose_labels(r.labels, rule_list, r.frame.id)}))
    return out
