"""Keyframe interpolation: from human-verified keyframes, fill the frames between them, per track.

For each track, between two consecutive keyframes that both hold it, every frame in between gets a box:

- ``linear``: the two keyframe boxes blended by frame position;
- ``guided``: the tracker's box on that frame where one agrees with the linear box (same class group, IoU >=
  ``snap_iou``), else the linear box; "agrees" is taken per frame, so a detection that drifts off is not followed.

New labels carry ``attributes["interpolated"] = True``, ``attributes["keyframes"] = [first, second]`` (frame
indices) and, when guided, ``attributes["snapped"]``; the keyframe labels themselves are kept unchanged and marked
``attributes["keyframe"] = True``. A track whose two keyframes disagree on the class is refused
(:class:`InterpolationError` names the track and the frames). A track is never extended past its first or last
keyframe.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from prelabel.core.geometry.boxes2d import overlap
from prelabel.core.labels import Box2D, FrameRecord, Label, make_label_id
from prelabel.core.sequences import check_track_ids, group_sequences, place
from prelabel.errors import PrelabelError

MODES = ("linear", "guided")


class InterpolationError(PrelabelError, ValueError):
    """Keyframes that cannot be interpolated (a track changing class between keyframes)."""


def _lerp(a: Box2D, b: Box2D, w: float) -> Box2D:
    return Box2D.from_xyxy([(1 - w) * x + w * y for x, y in zip(a.xyxy, b.xyxy, strict=True)])


def interpolate_sequence(
    frames: list[FrameRecord],
    is_keyframe: Callable[[FrameRecord], bool],
    *,
    detections: Mapping[str, FrameRecord] | None = None,
    mode: str = "linear",
    snap_iou: float = 0.5,
    class_groups: Mapping[str, str] | None = None,
) -> tuple[list[FrameRecord], int]:
    """Fill one sequence (records in frame order). Labels on non-keyframes are replaced by the interpolation.

    ``detections``: machine labels by frame id (for ``guided``). Returns the records and how many boxes were
    filled.
    """
    if mode not in MODES:
        raise InterpolationError(f"unknown interpolation mode {mode!r}; expected one of: {', '.join(MODES)}")
    groups = class_groups or {}
    keys = [k for k, rec in enumerate(frames) if is_keyframe(rec)]
    tracks: dict[str, list[tuple[int, Label]]] = defaultdict(list)
    for k in keys:
        for lab in frames[k].labels:
            if lab.track_id is not None and lab.box is not None:
                tracks[lab.track_id].append((k, lab))
    filled: dict[int, list[Label]] = defaultdict(list)
    n = 0
    for tid, items in tracks.items():
        for (k1, a), (k2, b) in itertools.pairwise(items):
            if a.category != b.category:
                raise InterpolationError(
                    f"track {tid}: keyframe {frames[k1].frame.id} says {a.category!r} but keyframe "
                    f"{frames[k2].frame.id} says {b.category!r}; interpolation needs one class per track "
                    f"(fix the class on one keyframe or split the track)"
                )
            assert a.box is not None and b.box is not None
            for k in range(k1 + 1, k2):
                box = _lerp(a.box, b.box, (k - k1) / (k2 - k1))
                attrs: dict[str, object] = {
                    "interpolated": True,
                    "keyframes": [place(frames[k1].frame)[1], place(frames[k2].frame)[1]],
                }
                if mode == "guided" and detections is not None:
                    det = detections.get(frames[k].frame.id)
                    cands = [
                        d
                        for d in (det.labels if det is not None else [])
                        if d.box is not None
                        and groups.get(d.category, d.category) == groups.get(a.category, a.category)
                    ]
                    if cands:
                        ious = overlap(np.array([box.xyxy]), np.array([d.box.xyxy for d in cands]), "iou")[0]  # type: ignore[union-attr]
                        j = int(ious.argmax())
                        if ious[j] >= snap_iou:
                            box = cands[j].box  # type: ignore[assignment]
                            attrs["snapped"] = True
                filled[k].append(
                    Label(
                        id=make_label_id("interpolated", tid, frames[k].frame.id),
                        category=a.category,
                        source=a.source,
                        box=box,
                        track_id=tid,
                        attributes=attrs,
                    )
                )
                n += 1
    out: list[FrameRecord] = []
    keyset = set(keys)
    for k, rec in enumerate(frames):
        if k in keyset:
            labels = [lab.model_copy(update={"attributes": {**lab.attributes, "keyframe": True}}) for lab in rec.labels]
        else:
            labels = filled.get(k, [])
        out.append(rec.model_copy(update={"labels": labels}))
    return out, n


def every_nth(n: int) -> Callable[[FrameRecord], bool]:
    """Keyframe rule: frame index 0, n, 2n, ... of each sequence."""
    if n < 1:
        raise InterpolationError(f"keyframe step must be >= 1; got {n}")
    return lambda rec: (place(rec.frame)[1] or 0) % n == 0


def interpolate_records(
    records: Iterable[FrameRecord],
    is_keyframe: Callable[[FrameRecord], bool],
    *,
    detections: Iterable[FrameRecord] | None = None,
    mode: str = "linear",
    snap_iou: float = 0.5,
    class_groups: Mapping[str, str] | None = None,
) -> tuple[list[FrameRecord], int]:
    """Interpolate every sequence; the result keeps the input's frame order."""
    recs = list(records)
    check_track_ids(recs, "keyframe labels")
    dets = {d.frame.id: d for d in detections} if detections is not None else None
    position = {id(r): i for i, r in enumerate(recs)}
    done: dict[int, FrameRecord] = {}
    total = 0
    for frames in group_sequences(recs).values():
        new, n = interpolate_sequence(
            frames, is_keyframe, detections=dets, mode=mode, snap_iou=snap_iou, class_groups=class_groups
        )
        total += n
        for src, r in zip(frames, new, strict=True):
            done[position[id(src)]] = r
    return [done[i] for i in range(len(recs))], total
