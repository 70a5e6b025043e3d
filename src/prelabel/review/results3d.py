"""What a 3D job's answers add up to: each 3D pre-label accepted, adjusted or deleted, boxes added; the pre-label
quality figures; Ground Truth's 3D point cloud object detection output.

Ground Truth's 3D cuboids (AWS "Labeling job output data", sections "3D Point Cloud Object Detection Output" and
"3D Point Cloud Object Tracking Output") are written in the one layout of
:mod:`prelabel.sources.scenes.groundtruth3d_labels`: world frame (through the sweep's ego pose), right-handed yaw.
prelabel adds ``object-id`` (the label id; in tracking output the track) and ``prelabel-origin`` per cuboid:
``human`` (a keyframe or a box the worker changed), ``interpolated`` (filled between keyframes) or ``prelabel``
(the pre-label, accepted as it was).

Several workers on one frame: a pre-label is kept when at least half of them kept it, its final box is the mean of
theirs (yaw by circular mean), its class the majority (ties: the pre-label's). Added boxes are grouped by
bird's-eye centre distance (< 1 m); a group drawn by at least half of the workers survives, as its mean.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from prelabel.core.geometry import boxes3d
from prelabel.core.labels import Box3D, Frame, Label, ReviewState, make_label_id
from prelabel.review.tasks3d import box7
from prelabel.sources.scenes import groundtruth3d_labels as gtl

if TYPE_CHECKING:
    from prelabel.review.results import FinalLabel, FrameOutcome
    from prelabel.review.review_jobs import Job

MOVE_TOLERANCE = 0.01  # metres (centre or size) below which a box counts as unchanged
YAW_TOLERANCE = 0.005  # radians
GROUP_DISTANCE = 1.0  # metres: added boxes closer than this are the same object


def iou3d(a: Sequence[float], b: Sequence[float]) -> float:
    return float(boxes3d.iou3d(a, b)[0, 0])


def yaw_diff(a: float, b: float) -> float:
    """Smallest absolute angle between two yaws (radians, 0..pi)."""
    return abs(float(boxes3d.wrap_angle(a - b)))


def centre_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Distance between box centres in 3D (boxes3d.centre_distance is on the ground plane only)."""
    return math.dist(a[:3], b[:3])


def _mean_box(boxes: Sequence[Sequence[float]]) -> list[float]:
    n = len(boxes)
    m = [sum(b[i] for b in boxes) / n for i in range(6)]
    yaw = math.atan2(sum(math.sin(b[6]) for b in boxes), sum(math.cos(b[6]) for b in boxes))
    return [round(v, 4) for v in m] + [round(yaw, 5)]


def _change(pre: Sequence[float], new: Sequence[float]) -> list[str]:
    out = []
    if any(abs(a - b) > MOVE_TOLERANCE for a, b in zip(pre[:3], new[:3], strict=True)):
        out.append("moved")
    if any(abs(a - b) > MOVE_TOLERANCE for a, b in zip(pre[3:6], new[3:6], strict=True)):
        out.append("resized")
    if yaw_diff(pre[6], new[6]) > YAW_TOLERANCE:
        out.append("rotated")
    return out


def _box3d(v: Sequence[float], frame: str) -> Box3D:
    return Box3D(x=v[0], y=v[1], z=v[2], length=v[3], width=v[4], height=v[5], yaw=v[6], frame=frame)


def _flags(answers: Sequence[dict[str, Any]]) -> dict[str, bool]:
    """``keyframe`` when a worker set the box by hand in a sequence; ``interpolated`` when every answer has it
    filled between keyframes."""
    if any(a.get("keyframe") for a in answers):
        return {"keyframe": True}
    if answers and all(a.get("interpolated") for a in answers):
        return {"interpolated": True}
    return {}


def adjust_outcome3d(job: Job, out: FrameOutcome) -> None:
    from prelabel.review.results import FinalLabel

    rec = out.frame.record
    pre = {lb.id: lb for lb in rec.labels if lb.box3d is not None}
    workers = out.workers
    need = len(workers) / 2
    kept: dict[str, list[dict[str, Any]]] = {}
    added: list[tuple[str, dict[str, Any]]] = []
    for r in out.responses:
        for b in r.payload["boxes"]:
            if b.get("id") in pre:
                kept.setdefault(b["id"], []).append(b)
            else:
                added.append((r.worker, b))
    for lid, base in pre.items():
        assert base.box3d is not None
        answers = kept.get(lid, [])
        if len(answers) < need or not answers:
            label = base.model_copy(
                update={
                    "review": ReviewState.REJECTED,
                    "attributes": {**base.attributes, "reviewed_by": workers, "review_action": "deleted"},
                }
            )
            out.labels.append(FinalLabel(label, "deleted", base, 1 - len(answers) / len(workers)))
            continue
        final = _mean_box([a["box3d"] for a in answers])
        votes = Counter(a["category"] for a in answers).most_common()
        cat = votes[0][0]
        if len(votes) > 1 and votes[1][1] == votes[0][1] and base.category in (votes[0][0], votes[1][0]):
            cat = base.category
        tracks = [a["track_id"] for a in answers if a.get("track_id")]
        track = tracks[0] if tracks else base.track_id
        flags = _flags(answers)
        changes = _change(box7(base.box3d), final) + (["reclassified"] if cat != base.category else [])
        conf = len(answers) / len(workers)
        if not changes:
            attrs = {**base.attributes, "reviewed_by": workers, **flags}
            label = base.model_copy(update={"review": ReviewState.ACCEPTED, "attributes": attrs})
            out.labels.append(FinalLabel(label, "unchanged", base, conf))
            continue
        attrs = {**base.attributes, "reviewed_by": workers, "prelabel_source": base.source, **flags}
        attrs["prelabel_box3d"] = box7(base.box3d)
        if base.score is not None:
            attrs["prelabel_score"] = base.score
        if cat != base.category:
            attrs["prelabel_category"] = base.category
        label = base.model_copy(
            update={
                "box3d": _box3d(final, base.box3d.frame),
                "category": cat,
                "track_id": track,
                "source": "human:" + "+".join(workers),
                "score": None,
                "review": ReviewState.ADJUSTED,
                "attributes": attrs,
                "box": None,  # a 2D box derived from the old 3D box no longer matches
                "mask": None,
                "polygon": None,
            }
        )
        out.labels.append(FinalLabel(label, "+".join(changes), base, conf))
    frame_name = next((lb.box3d.frame for lb in pre.values() if lb.box3d is not None), "lidar")
    groups: list[list[tuple[str, dict[str, Any]]]] = []
    for w, b in added:
        for g in groups:
            if all(gw != w for gw, _ in g) and centre_distance(g[0][1]["box3d"], b["box3d"]) < GROUP_DISTANCE:
                g.append((w, b))
                break
        else:
            groups.append([(w, b)])
    for i, g in enumerate(groups):
        if len(g) < need:
            continue
        final = _mean_box([b["box3d"] for _, b in g])
        cat = Counter(b["category"] for _, b in g).most_common(1)[0][0]
        track = next((b["track_id"] for _, b in g if b.get("track_id")), None)
        who = sorted({w for w, _ in g})
        label = Label(
            id=make_label_id(job.name, rec.frame.id, "added3d", *who, i, *final),
            category=cat,
            source="human:" + "+".join(who),
            review=ReviewState.ACCEPTED,
            box3d=_box3d(final, frame_name),
            track_id=track,
            attributes={
                "reviewed_by": who,
                "review_action": "added",
                "added_in_review": True,
                **_flags([b for _, b in g]),
            },
        )
        out.labels.append(FinalLabel(label, "added", None, len(g) / len(workers)))


def quality3d(reviewed: Sequence[FrameOutcome]) -> dict[str, Any]:
    """Pre-label quality in 3D: boxes accepted, adjusted, deleted, added; mean 3D IoU, centre and yaw change
    from pre-label to final over the kept pre-labels (unchanged ones count as IoU 1, change 0)."""
    counts = {"accepted": 0, "adjusted": 0, "deleted": 0, "added": 0}
    ious: list[float] = []
    centre: list[float] = []
    yaws: list[float] = []
    for o in reviewed:
        for f in o.labels:
            if f.action in ("unchanged", "good"):
                counts["accepted"] += 1
            elif f.action in ("deleted", "bad"):
                counts["deleted"] += 1
            elif f.action == "added":
                counts["added"] += 1
            else:
                counts["adjusted"] += 1
            if f.prelabel is None or f.prelabel.box3d is None or f.label.box3d is None:
                continue
            if f.action in ("deleted", "bad"):
                continue
            a, b = box7(f.prelabel.box3d), box7(f.label.box3d)
            ious.append(iou3d(a, b))
            centre.append(centre_distance(a, b))
            yaws.append(math.degrees(yaw_diff(a[6], b[6])))
    return {
        "boxes": counts,
        "mean_iou3d": round(statistics.fmean(ious), 4) if ious else None,
        "mean_centre_change_m": round(statistics.fmean(centre), 4) if centre else None,
        "mean_yaw_change_deg": round(statistics.fmean(yaws), 3) if yaws else None,
    }


def origin(lb: Label) -> str:
    """``interpolated``, ``human`` or ``prelabel``: where a reviewed 3D box came from."""
    a = lb.attributes
    if a.get("interpolated"):
        return "interpolated"
    if a.get("keyframe") or a.get("added_in_review") or lb.review == ReviewState.ADJUSTED:
        return "human"
    return "prelabel"


def annotation(lb: Label, frame: Frame, class_ids: dict[str, int], n: int, *, tracking: bool = False) -> dict[str, Any]:
    """One Ground Truth 3D cuboid of ``frame`` (:func:`prelabel.sources.scenes.groundtruth3d_labels.annotation`:
    world frame, ``object-id`` the label id, or the track in tracking) with prelabel's ``prelabel-origin``."""
    c = gtl.annotation(lb, frame, class_ids[lb.category], n, tracking=tracking)
    return {**c, "prelabel-origin": origin(lb)}


def manifest_dicts3d(job: Job, outcomes: Sequence[FrameOutcome], creation_dates: Sequence[str]) -> list[dict[str, Any]]:
    """Ground Truth 3D point cloud object detection output lines of the reviewed frames: the input line (or
    ``source-ref`` = the sweep) with the job's attribute holding the kept boxes and its ``-metadata``."""
    class_ids = {c: i for i, c in enumerate(job.categories)}
    lines = []
    for o, date in zip([o for o in outcomes if o.reviewed], creation_dates, strict=True):
        rec = o.frame.record
        given = o.frame.manifest_line or {}
        # a frame line is kept whole; a sample of a tracking input (its line names a sequence) gets its own
        line: dict[str, Any] = dict(given) if "source-ref-metadata" in given else {"source-ref": rec.frame.uri}
        kept: list[FinalLabel] = [f for f in o.labels if f.label.review != ReviewState.REJECTED]
        line[job.attribute] = {
            "annotations": [annotation(f.label, rec.frame, class_ids, n) for n, f in enumerate(kept) if f.label.box3d]
        }
        line[f"{job.attribute}-metadata"] = {
            "class-map": gtl.class_map(class_ids),
            "type": gtl.DETECTION_TYPE,
            "human-annotated": "yes",
            "creation-date": date,
            "job-name": f"labeling-job/{job.name}",
            "adjustment-status": "adjusted" if o.adjusted else "unadjusted",
            "objects": [{"confidence": round(f.confidence, 4)} for f in kept],
        }
        lines.append(line)
    return lines
