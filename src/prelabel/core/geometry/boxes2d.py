"""2D axis-aligned boxes in absolute pixels: conversions, overlap, suppression, greedy clustering, tiles.

Every array of boxes is ``(N, 4)`` float, ``xyxy`` (x1, y1, x2, y2: x right, y down, origin top-left, x1 <= x2,
y1 <= y2) unless a function says otherwise; ``xywh`` is (left, top, width, height), ``cxcywh`` (centre x, centre
y, width, height). Areas use widths and heights clipped at 0, so an inverted box has area 0.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
ArrayLike = npt.ArrayLike
Metric = Literal["iou", "ioa", "crowd"]
METRICS: tuple[str, ...] = ("iou", "ioa", "crowd")


def as_boxes(boxes: ArrayLike, name: str = "boxes") -> F64:
    """``boxes`` as a float64 ``(N, 4)`` array; a flat array of 4k numbers is reshaped, anything else is refused."""
    a = np.asarray(boxes, dtype=np.float64)
    if a.ndim == 2 and a.shape[1] == 4:
        return a
    if a.ndim == 1 and a.size % 4 == 0:
        return a.reshape(-1, 4)
    if a.size == 0:
        return np.zeros((0, 4))
    raise ValueError(f"{name}: expected boxes of shape (N, 4); got shape {a.shape}")


def area(xyxy: ArrayLike) -> F64:
    """Area of each box, ``(N,)``."""
    return _area(as_boxes(xyxy))


def xyxy_to_xywh(xyxy: ArrayLike) -> F64:
    b = as_boxes(xyxy).copy()
    b[:, 2:] -= b[:, :2]
    return b


def xywh_to_xyxy(xywh: ArrayLike) -> F64:
    b = as_boxes(xywh, "xywh boxes").copy()
    b[:, 2:] += b[:, :2]
    return b


def xyxy_to_cxcywh(xyxy: ArrayLike) -> F64:
    b = as_boxes(xyxy)
    wh = b[:, 2:] - b[:, :2]
    return np.concatenate([b[:, :2] + wh / 2, wh], axis=1)


def cxcywh_to_xyxy(cxcywh: ArrayLike) -> F64:
    b = as_boxes(cxcywh, "cxcywh boxes")
    half = b[:, 2:] / 2
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)


def intersection(a: ArrayLike, b: ArrayLike) -> F64:
    """Pairwise intersection areas, ``(len(a), len(b))``."""
    return _intersection(as_boxes(a), as_boxes(b))


def intersection_extent(a: ArrayLike, b: ArrayLike) -> tuple[F64, F64]:
    """Pairwise width and height of the overlap of ``a`` and ``b``, each ``(len(a), len(b))``; negative where the
    boxes are apart (by that gap)."""
    return _extent(as_boxes(a), as_boxes(b))


def _extent(a: F64, b: F64) -> tuple[F64, F64]:
    iw = np.minimum(a[..., :, None, 2], b[..., None, :, 2]) - np.maximum(a[..., :, None, 0], b[..., None, :, 0])
    ih = np.minimum(a[..., :, None, 3], b[..., None, :, 3]) - np.maximum(a[..., :, None, 1], b[..., None, :, 1])
    return iw, ih


def _intersection(a: F64, b: F64) -> F64:
    iw, ih = _extent(a, b)
    return np.maximum(iw, 0.0) * np.maximum(ih, 0.0)


def _area(b: F64) -> F64:
    return np.maximum(b[..., 2] - b[..., 0], 0.0) * np.maximum(b[..., 3] - b[..., 1], 0.0)


def iou_pair(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two single ``xyxy`` boxes as Python floats: :func:`overlap` for one pair, without array overhead
    (per-record readers call it a few times per line)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = max(a[2] - a[0], 0.0) * max(a[3] - a[1], 0.0) + max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0) - inter
    return inter / union if union > 0 else 0.0


def overlap(a: ArrayLike, b: ArrayLike, metric: Metric | str = "iou", *, crowd: ArrayLike | None = None) -> F64:
    """Pairwise overlap of boxes ``a`` (rows) with boxes ``b`` (columns), shape ``(len(a), len(b))``, in [0, 1].

    - ``iou``: intersection over union.
    - ``ioa``: intersection over the area of the box in ``a`` (how much of ``a`` lies inside ``b``).
    - ``crowd``: COCO's rule for ground truth ``b`` flagged ``crowd`` (a bool per box of ``b``; default: all):
      intersection over the area of ``a`` against crowd boxes, IoU against the others.

    A zero denominator (empty boxes) gives 0.
    """
    a, b = as_boxes(a, "a"), as_boxes(b, "b")
    if metric == "crowd" and crowd is not None:
        c = np.asarray(crowd, dtype=bool).reshape(-1)
        if c.shape != (len(b),):
            raise ValueError(f"crowd: expected one flag per box of b, shape ({len(b)},); got {c.shape}")
        crowd = c
    if len(a) == 0 or len(b) == 0:
        _check_metric(metric)
        return np.zeros((len(a), len(b)))
    return overlap_stacked(a, b, metric, crowd=crowd)


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        from prelabel.errors import UnknownNameError

        raise UnknownNameError("overlap metric", str(metric), METRICS)


def overlap_stacked(a: F64, b: F64, metric: Metric | str = "iou", *, crowd: ArrayLike | None = None) -> F64:
    """:func:`overlap` over stacks of box sets: ``a`` (..., N, 4) and ``b`` (..., M, 4) give (..., N, M);
    ``crowd`` (..., M). Used to match many images at once (padded)."""
    _check_metric(metric)
    return overlap_from_areas(_intersection(a, b), _area(a), _area(b), metric, crowd=crowd)


def overlap_from_areas(
    inter: F64, area_a: F64, area_b: F64, metric: Metric | str = "iou", *, crowd: ArrayLike | None = None
) -> F64:
    """The overlap metric from pairwise intersections ``(..., N, M)`` and the areas of ``a`` ``(..., N)`` and ``b``
    ``(..., M)`` (boxes or masks alike); see :func:`overlap`."""
    _check_metric(metric)
    aa = area_a[..., :, None]
    if metric == "ioa":
        denom = np.broadcast_to(aa, inter.shape)
    else:
        denom = aa + area_b[..., None, :] - inter
        if metric == "crowd":
            is_crowd = np.ones(area_b.shape, bool) if crowd is None else np.asarray(crowd, dtype=bool)
            denom = np.where(is_crowd[..., None, :], aa, denom)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, inter / denom, 0.0)


def nms(
    xyxy: ArrayLike,
    scores: ArrayLike,
    iou_threshold: float = 0.5,
    class_ids: ArrayLike | None = None,
) -> I64:
    """Greedy non-maximum suppression: indices kept, best score first (ties: input order).

    A box is suppressed by a kept box it overlaps with IoU above ``iou_threshold``. Class-aware when ``class_ids``
    is given (boxes of different classes never suppress each other), class-agnostic otherwise.
    """
    boxes = as_boxes(xyxy)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(s) != len(boxes):
        raise ValueError(f"scores: expected one per box, shape ({len(boxes)},); got shape {s.shape}")
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    if class_ids is not None:
        cls = np.asarray(class_ids).reshape(-1)
        if len(cls) != len(boxes):
            raise ValueError(f"class_ids: expected one per box, shape ({len(boxes)},); got shape {cls.shape}")
        # shift each class to its own region of the plane, so boxes of different classes never overlap
        _, codes = np.unique(cls, return_inverse=True)
        span = float(np.abs(boxes).max()) * 2.0 + 1.0
        boxes = boxes + (codes.astype(np.float64) * span)[:, None]
    order = np.argsort(-s, kind="stable")
    # the IoU of the kept box against the rest, as overlap() computes it, without its per-call checks (this loop
    # runs once per kept box: with low score thresholds, hundreds of times a frame)
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, k]) for k in range(4))
    areas = _area(boxes)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        rest = order[1:]
        iw = np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])
        ih = np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])
        inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
        denom = areas[i] + areas[rest] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            ious = np.where(denom > 0, inter / denom, 0.0)
        order = rest[ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


@dataclass
class Clusters:
    """Greedy clustering result: member indices per cluster (in the order they joined) and each reference box."""

    members: list[list[int]]
    boxes: F64  # (K, 4): the weighted mean of the members (reference="mean") or the first member ("leader")

    def __len__(self) -> int:
        return len(self.members)


def greedy_cluster(
    xyxy: ArrayLike,
    scores: ArrayLike,
    *,
    iou_threshold: float,
    groups: ArrayLike | None = None,
    reference: Literal["mean", "leader"] = "mean",
    weights: ArrayLike | None = None,
    batches: ArrayLike | None = None,
    inclusive: bool = False,
) -> Clusters:
    """The one greedy box clusterer (fusion, test-time augmentation, consolidation of several people's boxes).

    Boxes join clusters whose *reference box* they overlap by IoU above ``iou_threshold`` (at or above it with
    ``inclusive``); a box that joins none starts a cluster. The reference is the ``weights``-weighted mean of the
    members (default weights: ``scores``; ``reference="mean"``) or the cluster's first box (``"leader"``). With
    ``groups`` (e.g. class ids), a box only joins clusters of its own group.

    - Without ``batches``: boxes are taken one by one, best score first (ties: input order); each joins the
      cluster it overlaps most (ties: the older cluster).
    - With ``batches`` (e.g. one batch per worker): batches are taken in increasing order; the boxes of a batch are
      matched one to one with the clusters as they stood before it, best IoU first (ties: the later box, then the
      later cluster), so one batch never puts two boxes in one cluster. Unmatched boxes start clusters in input
      order.
    """
    boxes = as_boxes(xyxy)
    n = len(boxes)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.shape != (n,):
        raise ValueError(f"scores: expected one per box, shape ({n},); got shape {s.shape}")
    w = s if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != (n,):
        raise ValueError(f"weights: expected one per box, shape ({n},); got shape {w.shape}")
    g = np.zeros(n, np.int64) if groups is None else np.unique(np.asarray(groups).reshape(-1), return_inverse=True)[1]
    if g.shape != (n,):
        raise ValueError(f"groups: expected one per box, shape ({n},); got shape {g.shape}")
    refs = np.zeros((n, 4))  # at most one cluster per box
    ref_group = np.zeros(n, np.int64)
    members: list[list[int]] = []
    wsum = np.zeros(n)
    wbox = np.zeros((n, 4))

    def start(i: int) -> None:
        k = len(members)
        members.append([i])
        refs[k] = boxes[i]
        ref_group[k] = g[i]
        wsum[k] = w[i]
        wbox[k] = boxes[i] * w[i]

    def join(k: int, i: int) -> None:
        members[k].append(i)
        wsum[k] += w[i]
        wbox[k] += boxes[i] * w[i]

    def refresh(k: int) -> None:
        if reference == "mean":
            if len(members[k]) == 1:
                refs[k] = boxes[members[k][0]]
            else:
                refs[k] = wbox[k] / max(wsum[k], 1e-12)

    def passes(v: float) -> bool:
        return v >= iou_threshold if inclusive else v > iou_threshold

    if batches is None:
        return _cluster_one_by_one(boxes, s, w, g, iou_threshold, reference, inclusive)
    else:
        b = np.asarray(batches).reshape(-1)
        if b.shape != (n,):
            raise ValueError(f"batches: expected one per box, shape ({n},); got shape {b.shape}")
        for batch in np.unique(b).tolist():
            idx = np.flatnonzero(b == batch)
            k_n = len(members)
            taken: set[int] = set()
            touched: set[int] = set()
            if k_n:
                ious = overlap(boxes[idx], refs[:k_n])
                ious[g[idx][:, None] != ref_group[None, :k_n]] = -1.0
                ok = ious >= iou_threshold if inclusive else ious > iou_threshold
                pairs = sorted(((float(ious[r, k]), int(r), int(k)) for r, k in np.argwhere(ok)), reverse=True)
                for _, r, k in pairs:
                    if r in taken or k in touched:
                        continue
                    join(k, int(idx[r]))
                    taken.add(r)
                    touched.add(k)
            for k in touched:
                refresh(k)
            for r, i in enumerate(idx.tolist()):
                if r not in taken:
                    start(i)
    k_n = len(members)
    if reference == "leader":
        out = np.asarray([boxes[m[0]] for m in members], dtype=np.float64).reshape(-1, 4)
    else:
        out = refs[:k_n].copy()
    return Clusters(members=members, boxes=out)


def _cluster_one_by_one(
    boxes: F64, s: F64, w: F64, g: I64, iou_threshold: float, reference: str, inclusive: bool
) -> Clusters:
    """:func:`greedy_cluster` without batches: :func:`greedy_cluster_rows` on the arrays' rows."""
    order = np.argsort(-s, kind="stable").tolist()
    bl = boxes.tolist()
    members, refs = greedy_cluster_rows(
        bl, s.tolist(), iou_threshold=iou_threshold, groups=g.tolist(), weights=w.tolist(),
        reference="mean" if reference == "mean" else "leader", inclusive=inclusive, order=order,
    )  # fmt: skip
    return Clusters(members=members, boxes=np.asarray(refs, dtype=np.float64).reshape(-1, 4))


def greedy_cluster_rows(
    boxes: Sequence[Sequence[float]],
    scores: Sequence[float],
    *,
    iou_threshold: float,
    groups: Sequence[Hashable] | None = None,
    reference: Literal["mean", "leader"] = "mean",
    weights: Sequence[float] | None = None,
    inclusive: bool = False,
    order: Sequence[int] | None = None,
) -> tuple[list[list[int]], list[list[float]]]:
    """:func:`greedy_cluster` without batches, on plain Python rows (a frame's tens of boxes, where a numpy call per
    box costs more than the arithmetic): boxes one by one, best score first (ties: input order; ``order`` gives
    that order where the caller has it), each joining the cluster of its group whose reference box it overlaps
    most (ties: the older cluster). Returns the members of each cluster and its reference box (xyxy). Each IoU is
    the same IEEE arithmetic as :func:`overlap`."""
    n = len(boxes)
    wl = scores if weights is None else weights
    if order is None:
        order = np.argsort(-np.asarray(scores, dtype=np.float64).reshape(n), kind="stable").tolist()
    mean = reference == "mean"
    # a box apart from every reference (IoU 0) joins none unless 0 passes the threshold
    skip_apart = iou_threshold > 0.0 if inclusive else iou_threshold >= 0.0
    members: list[list[int]] = []
    refs: list[list[float]] = []
    ref_area: list[float] = []
    wsum: list[float] = []
    wbox: list[list[float]] = []
    by_group: dict[Hashable, list[int]] = {}
    for i in order:
        best, best_v = -1, -1.0
        box = boxes[i]
        bx1, by1, bx2, by2 = box
        area_i = max(bx2 - bx1, 0.0) * max(by2 - by1, 0.0)
        gi = 0 if groups is None else groups[i]
        for k in by_group.get(gi, ()):
            rx1, ry1, rx2, ry2 = refs[k]
            if rx1 >= bx2 or bx1 >= rx2 or ry1 >= by2 or by1 >= ry2:
                if skip_apart:
                    continue
                v = 0.0
            else:
                iw = (bx2 if bx2 < rx2 else rx2) - (bx1 if bx1 > rx1 else rx1)
                ih = (by2 if by2 < ry2 else ry2) - (by1 if by1 > ry1 else ry1)
                inter = (iw if iw > 0.0 else 0.0) * (ih if ih > 0.0 else 0.0)
                denom = area_i + ref_area[k] - inter
                v = inter / denom if denom > 0 else 0.0
            if v > best_v:
                best, best_v = k, v
        if best >= 0 and (best_v >= iou_threshold if inclusive else best_v > iou_threshold):
            members[best].append(i)
            if mean:
                wi = wl[i]
                wsum[best] += wi
                acc = wbox[best]
                acc[0] += bx1 * wi
                acc[1] += by1 * wi
                acc[2] += bx2 * wi
                acc[3] += by2 * wi
                d = max(wsum[best], 1e-12)
                ref = refs[best]  # this cluster's own list (made when it started): updated in place
                ref[0] = rx1 = acc[0] / d
                ref[1] = ry1 = acc[1] / d
                ref[2] = rx2 = acc[2] / d
                ref[3] = ry2 = acc[3] / d
                ref_area[best] = (rx2 - rx1 if rx2 > rx1 else 0.0) * (ry2 - ry1 if ry2 > ry1 else 0.0)
            continue
        by_group.setdefault(gi, []).append(len(members))
        members.append([i])
        wi = wl[i]
        refs.append([bx1, by1, bx2, by2])
        ref_area.append(area_i)
        wsum.append(wi)
        wbox.append([bx1 * wi, by1 * wi, bx2 * wi, by2 * wi])
    if not mean:
        refs = [list(boxes[m[0]]) for m in members]
    return members, refs


# ------------------------------------------------------------------ tiles


@dataclass(frozen=True)
class Tile:
    """A window of a frame in pixels: columns ``x0 <= x < x1``, rows ``y0 <= y < y1``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def _starts(length: int, tile: int, overlap_share: float) -> list[int]:
    if tile >= length:
        return [0]
    stride = max(1, int(tile * (1.0 - overlap_share)))
    n = math.ceil((length - tile) / stride) + 1
    # spread the tiles evenly so the last one ends exactly at the border
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def tile_grid(width: int, height: int, tile: int | None = None, overlap: float = 0.25) -> list[Tile]:
    """Square tiles of side ``tile`` (default: the short side) covering the frame with at least ``overlap``."""
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive; got {width}x{height}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1); got {overlap}")
    side = int(tile or min(width, height))
    if side <= 0:
        raise ValueError(f"tile size must be positive; got {side}")
    tw, th = min(side, width), min(side, height)
    return [Tile(x, y, x + tw, y + th) for y in _starts(height, th, overlap) for x in _starts(width, tw, overlap)]
