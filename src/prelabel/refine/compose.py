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

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.geometry.boxes2d import as_boxes, intersection_extent
from prelabel.core.labels import Box2D, FrameRecord, Label, make_label_id
from prelabel.core.labelset import LabelSet
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
    return bool(pair_matrix(np.asarray([a.xyxy]), np.asarray([b.xyxy]), rule)[0, 0])


def pair_matrix(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], rule: ComposeRule) -> npt.NDArray[np.bool_]:
    """:func:`pairs_with` for every box of ``a`` (riders, (N, 4) xyxy) with every box of ``b`` (vehicles): (N, M)."""
    a = as_boxes(a)
    b = as_boxes(b)
    wa, ha = (a[:, 2] - a[:, 0])[:, None], (a[:, 3] - a[:, 1])[:, None]
    wb, hb = (b[:, 2] - b[:, 0])[None, :], (b[:, 3] - b[:, 1])[None, :]
    ox, _ = intersection_extent(a, b)
    ay1, ay2 = a[:, 1][:, None], a[:, 3][:, None]
    by1, by2 = b[:, 1][None, :], b[:, 3][None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.minimum(np.minimum(wa, wb), np.minimum(ha, hb)) > 0
        ok &= ox >= rule.min_overlap * np.minimum(wa, wb)
        ok &= (ay1 < by1) & (by1 < ay2) & (ay2 <= by2 + FEET_SLACK * hb)
        ok &= np.minimum(ay2, by2) - by1 >= rule.min_vertical_overlap * hb
        ok &= np.maximum(ha / hb, hb / ha) <= rule.max_height_ratio
    return np.asarray(ok, dtype=bool)


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
    return Box2D(x1=min(a.x1, b.x1), y1=min(a.y1, b.y1), x2=max(a.x2, b.x2), y2=max(a.y2, b.y2))


_Plan = tuple[list[tuple[float, int, int, int]], set[int], dict[int, float]]


def _may_pair(categories: Iterable[str], rules: Sequence[ComposeRule]) -> bool:
    """Whether some rule finds both its parts among ``categories`` (most frames: no; nothing to do then)."""
    cats = set(categories)
    return any(not cats.isdisjoint(r.parts[0]) and not cats.isdisjoint(r.parts[1]) for r in rules)


def _plan(
    xyxy: npt.NDArray[np.float64],
    scores: npt.NDArray[np.float64],
    names: Sequence[str] | npt.NDArray[np.object_],
    has_box: npt.NDArray[np.bool_],
    rules: Sequence[ComposeRule],
) -> _Plan:
    """Which pairs become composites (score, rule, A row, B row), best first; the parts to drop; the parts to
    discount (row -> the other part's score). ``scores``: 1.0 where a label has none."""
    candidates: list[tuple[float, int, int, int]] = []  # (composite score, rule, A index, B index)
    # row selection in plain Python: a frame holds tens of labels, where numpy calls cost more than they save
    rows = [
        (i, c, sc) for i, (c, sc, h) in enumerate(zip(list(names), scores.tolist(), has_box.tolist(), strict=True)) if h
    ]
    for k, rule in enumerate(rules):
        a_idx = [i for i, c, sc in rows if c in rule.parts[0] and sc >= rule.min_score]
        if not a_idx:
            continue
        b_idx = [i for i, c, sc in rows if c in rule.parts[1] and sc >= rule.min_score]
        if not b_idx:
            continue
        ia, ib = np.asarray(a_idx), np.asarray(b_idx)
        ok = pair_matrix(xyxy[ia], xyxy[ib], rule) & (ia[:, None] != ib[None, :])
        for ai, bi in np.argwhere(ok).tolist():
            i, j = a_idx[ai], b_idx[bi]
            candidates.append((_score(float(scores[i]), float(scores[j]), rule.score), k, i, j))
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
                discount[idx] = float(scores[other])
    return chosen, drop, discount


def _composite_score(score: float, sa: float | None, sb: float | None) -> float | None:
    return None if sa is None and sb is None else round(min(max(score, 0.0), 1.0), 6)


def compose_labels(labels: Sequence[Label], rules: Sequence[ComposeRule], frame_id: str = "") -> list[Label]:
    """One frame's labels with the composites made and the consumed parts removed (or kept, per rule).

    Labels without a box, and labels no rule pairs, pass through unchanged; their order is kept and the
    composites come after them.
    """
    if not _may_pair((lab.category for lab in labels), rules):
        return list(labels)
    n = len(labels)
    nan4 = (np.nan, np.nan, np.nan, np.nan)
    chosen, drop, discount = _plan(
        np.asarray([nan4 if lab.box is None else lab.box.xyxy for lab in labels], np.float64).reshape(n, 4),
        np.fromiter((1.0 if lab.score is None else lab.score for lab in labels), np.float64, n),
        [lab.category for lab in labels],
        np.fromiter((lab.box is not None for lab in labels), bool, n),
        rules,
    )
    made: list[Label] = []
    for score, k, i, j in chosen:
        rule = rules[k]
        a, b = labels[i], labels[j]
        made.append(
            Label(
                id=make_label_id(frame_id, "composed", rule.into, a.id, b.id),
                category=rule.into,
                source=a.source if a.source == b.source else "fused",
                score=_composite_score(score, a.score, b.score),
                box=_box(a.box, b.box, rule.geometry),  # type: ignore[arg-type]
                attributes={"composed_from": [a.id, b.id], "parts": [a.category, b.category], "rule": rule.into},
            )
        )
    kept: list[Label] = []
    for n, lab in enumerate(labels):
        if n in drop:
            continue
        if n in discount and lab.score is not None:
            # the part alone, e.g. a pedestrian: this part, and not the other one under it
            lab = lab.model_copy(update={"score": round(float(lab.score) * (1.0 - discount[n]), 6)})
        kept.append(lab)
    return kept + made


def compose_set(ls: LabelSet, rules: Sequence[ComposeRule], frame_id: str = "") -> LabelSet:
    """:func:`compose_labels` on a label set (the label-set path): the same rows, scores, ids and composites, as
    columns; ``compose_set(ls, ...).to_labels()`` equals ``compose_labels(ls.to_labels(), ...)``."""
    if not _may_pair(ls.categories, rules):
        return ls
    chosen, drop, discount = _plan(ls.xyxy, ls.scores_or(1.0), ls.names, ls.has_box, rules)
    if not chosen:
        return ls
    scores = ls.scores.copy()
    for n, d in discount.items():
        if not np.isnan(scores[n]):
            scores[n] = round(float(scores[n]) * (1.0 - d), 6)
    if drop:
        keep = np.ones(len(ls), bool)
        keep[list(drop)] = False
        kept = ls[keep]
        kept.scores = scores[keep]
    else:
        kept = copy.copy(ls)  # the same rows: no new columns but the scores
        kept.scores = scores
    names, ids, sources = ls.names, ls.ids, ls.sources
    xyxy, made_scores, cats, made_ids, made_sources, attrs = [], [], [], [], [], []
    for score, k, i, j in chosen:
        rule = rules[k]
        a, b = ls.xyxy[i], ls.xyxy[j]
        g = rule.geometry
        box = (
            a
            if g == "first"
            else b
            if g == "second"
            else np.concatenate([np.minimum(a[:2], b[:2]), np.maximum(a[2:], b[2:])])
        )
        xyxy.append(box)
        sa, sb = ls.scores[i], ls.scores[j]
        s = _composite_score(score, None if np.isnan(sa) else sa, None if np.isnan(sb) else sb)
        made_scores.append(np.nan if s is None else s)
        cats.append(rule.into)
        made_ids.append(make_label_id(frame_id, "composed", rule.into, ids[i], ids[j]))
        made_sources.append(sources[i] if sources[i] == sources[j] else "fused")
        attrs.append({"composed_from": [ids[i], ids[j]], "parts": [names[i], names[j]], "rule": rule.into})
    n = len(chosen)
    vocab = {c: v for v, c in enumerate(dict.fromkeys(cats))}
    made = LabelSet(
        xyxy=np.asarray(xyxy, dtype=np.float64).reshape(n, 4),
        scores=np.asarray(made_scores, dtype=np.float64),
        class_codes=np.asarray([vocab[c] for c in cats], dtype=np.int32),
        categories=tuple(vocab),
        ids=_objects_of(made_ids),
        sources=_objects_of(made_sources),
        review=np.zeros(n, np.int8),
        track_ids=_objects_of([None] * n),
        has_box=np.ones(n, bool),
        attributes=attrs,
    )
    return LabelSet.concat([kept, made])


def _objects_of(values: list[Any]) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


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
