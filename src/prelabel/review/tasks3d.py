"""3D review tasks: a pointcloud frame with its 3D box pre-labels, shown with every camera; answers checked here.

A job whose frames are all point clouds (``Frame.kind == "pointcloud"``) with ``box3d`` labels is a 3D job
(``Job.modality == "3d"``). Answers:

- adjust: ``{"boxes": [{"id": <pre-label id or null>, "category": c, "box3d": [x, y, z, l, w, h, yaw],
  "track_id": <optional>, "keyframe": <optional true>, "interpolated": <optional true>}, ...], "comment": ""}`` —
  the frame's boxes as the worker left them (LiDAR frame, metres, yaw radians about up); pre-labels missing from
  the list were deleted. In a sequence, ``keyframe`` marks a box the worker set by hand and ``interpolated`` one
  the page filled between two keyframes of its track (see :mod:`prelabel.refine.interpolate3d`).
- verify: ``{"verdicts": [{"id": <pre-label id>, "verdict": "good"|"bad", "comment": "..."}, ...]}``, one per box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from prelabel.core.labels import FrameRecord
from prelabel.review.errors import ReviewInputError

if TYPE_CHECKING:
    from prelabel.review.review_jobs import Job, JobFrame

MAX_EXTENT = 10_000.0  # metres: a centre or size beyond this is a mistake
MAX_TRACK = 128
ORIGIN_FLAGS = ("keyframe", "interpolated")  # a sequence box set by the worker, or filled between keyframes


def modality(records: Sequence[FrameRecord]) -> str:
    """``3d`` when every frame is a point cloud, ``2d`` when none is; a mix is an error."""
    kinds = {r.frame.kind for r in records}
    if kinds == {"pointcloud"}:
        return "3d"
    if "pointcloud" in kinds:
        ids = [r.frame.id for r in records if r.frame.kind == "pointcloud"][:3]
        raise ReviewInputError(
            f"a job holds image frames or pointcloud frames, not both; got pointcloud frames ({', '.join(ids)}) "
            "among image frames; make one job of each"
        )
    return "2d"


def box7(b: Any) -> list[float]:
    """``[x, y, z, length, width, height, yaw]`` of a :class:`~prelabel.core.labels.Box3D`."""
    return [b.x, b.y, b.z, b.length, b.width, b.height, b.yaw]


def review_labels3d(record: FrameRecord) -> list[dict[str, Any]]:
    """The labels a worker sees and edits in a 3D task: those with a 3D box."""
    return [
        {
            "id": lb.id,
            "category": lb.category,
            "score": lb.score,
            "track_id": lb.track_id,
            "box3d": [round(v, 4) for v in box7(lb.box3d)],
        }
        for lb in record.labels
        if lb.box3d is not None
    ]


def cameras(record: FrameRecord, base: str, task_id: int) -> list[dict[str, Any]]:
    """Every camera of the sweep: intrinsics, LiDAR-to-camera 4x4, size and the URL its image is served at."""
    out = []
    for i, cam in enumerate(record.frame.cameras or []):
        out.append(
            {
                "name": cam.name,
                "width": cam.width,
                "height": cam.height,
                "K": cam.K,
                "camera_from_lidar": [[float(v) for v in row] for row in cam.camera_from_lidar.matrix()],
                "image": f"{base}/api/tasks/{task_id}/cameras/{i}/image",
            }
        )
    return out


def task_extra(record: FrameRecord, base: str, task_id: int) -> dict[str, Any]:
    """What the 3D page needs on top of the common task payload."""
    f = record.frame
    return {
        "modality": "3d",
        "labels": review_labels3d(record),
        "points": f"{base}/api/tasks/{task_id}/points",
        "cameras": cameras(record, base, task_id),
        "frame": {"id": f.id, "sequence": f.sequence, "index": f.index, "point_format": f.point_format},
    }


def _num(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        raise ReviewInputError(f"{what} must be a finite number; got {v!r}")
    return float(v)


def check_box7(v: Any, what: str) -> list[float]:
    """A finite ``[x, y, z, l, w, h, yaw]`` with positive sizes, yaw wrapped into (-pi, pi]."""
    if not isinstance(v, list) or len(v) != 7:
        raise ReviewInputError(f"{what}: 'box3d' must be [x, y, z, length, width, height, yaw]; got {v!r}")
    x, y, z, ln, w, h, yaw = (_num(e, f"{what} value {i}") for i, e in enumerate(v))
    for name, size in (("length", ln), ("width", w), ("height", h)):
        if not 0.0 < size <= MAX_EXTENT:
            raise ReviewInputError(f"{what}: {name} must be > 0 and <= {MAX_EXTENT:g} metres; got {size}")
    for name, c in (("x", x), ("y", y), ("z", z)):
        if abs(c) > MAX_EXTENT:
            raise ReviewInputError(f"{what}: centre {name} must be within {MAX_EXTENT:g} metres; got {c}")
    yaw = math.atan2(math.sin(yaw), math.cos(yaw))
    return [round(e, 4) for e in (x, y, z, ln, w, h)] + [round(yaw, 5)]


def validate_response3d(job: Job, frame: JobFrame, payload: Any) -> dict[str, Any]:
    """Check a worker's answer to a 3D task; returns the normalised answer (see the module doc)."""
    from prelabel.review.responses import adjusted_boxes, check_comment, checked_verdicts  # they import this module

    if not isinstance(payload, dict):
        raise ReviewInputError(f"response must be a JSON object; got {type(payload).__name__}")
    rec = frame.record
    shown = {lb["id"]: lb for lb in review_labels3d(rec)}
    comment = check_comment(payload.get("comment"), "comment")
    if job.type == "adjust":
        out = []
        for i, b, bid, cat in adjusted_boxes(job, rec, shown, payload.get("boxes"), "box3d"):
            track = b.get("track_id")
            if track is not None and (not isinstance(track, str) or not 0 < len(track) <= MAX_TRACK):
                raise ReviewInputError(f"box {i}: track_id must be text of 1-{MAX_TRACK} characters; got {track!r}")
            box = check_box7(b.get("box3d"), f"box {i}")
            item: dict[str, Any] = {"id": bid, "category": cat, "box3d": box, "track_id": track}
            for flag in ORIGIN_FLAGS:
                if b.get(flag) not in (None, False, True):
                    raise ReviewInputError(f"box {i}: {flag!r} must be true or false; got {b.get(flag)!r}")
                if b.get(flag):
                    item[flag] = True
            if item.get("keyframe") and item.get("interpolated"):
                raise ReviewInputError(f"box {i}: a box is a keyframe or interpolated, not both")
            out.append(item)
        return {"boxes": out, "comment": comment}
    return checked_verdicts(shown, payload.get("verdicts"), comment, "box")
