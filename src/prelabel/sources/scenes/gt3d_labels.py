"""3D cuboids in Ground Truth's 3D point cloud manifests: read as pre-labels, written as an adjustment job's input.

Field names and conventions are those of AWS's "Labeling job output data" page (sections "3D Point Cloud Object
Detection Output" and "3D Point Cloud Object Tracking Output"), which is also what an adjustment job takes in:

- object detection: the frame's line holds ``<attr>: {"annotations": [cuboid, ...]}`` and ``<attr>-metadata``
  (``class-map``, ``type: groundtruth/point_cloud_object_detection``, ...);
- object tracking: the sequence's line holds ``<attr>-ref``: the URI of a label sequence file ``{"tracking-annotations":
  [{"frame-number", "frame-name", "annotations": [cuboid, ...]}]}``; ``object-id`` is one object across frames;
- a cuboid: ``object-name`` (``<class>:<n>``), ``class-id``, ``center-x center-y center-z`` (the point cloud's
  frame), ``length width height``, ``roll pitch yaw`` (radians); Ground Truth's ``yaw`` is clockwise-positive seen
  from above: ``yaw_right_handed = pi - yaw`` (:func:`gt_yaw` converts both ways). ``roll`` and ``pitch`` are 0
  for prelabel's boxes (yaw-only) and are dropped on reading.

prelabel adds its own keys to a cuboid: ``object-id`` (the label id, or in tracking the track) and, in review
output, ``prelabel-origin``; on reading, ``score`` is taken when present.
"""

from __future__ import annotations

import json
import math
from typing import Any

from prelabel import storage
from prelabel.core.labels import Box3D, Label, make_label_id
from prelabel.errors import FormatError

DETECTION_TYPE = "groundtruth/point_cloud_object_detection"
TRACKING_TYPE = "groundtruth/point_cloud_object_tracking"


def gt_yaw(yaw: float) -> float:
    """Ground Truth's output yaw from a right-handed one (counter-clockwise from x seen from above), and back:
    ``pi - yaw``, wrapped into (-pi, pi]."""
    a = math.pi - yaw
    return round(math.atan2(math.sin(a), math.cos(a)), 6)


def cuboid(box: Box3D, category: str, class_id: int, name: str) -> dict[str, Any]:
    """One Ground Truth 3D cuboid (``name``: the number after ``<class>:`` in ``object-name``)."""
    return {
        "label-category-attributes": {},
        "object-name": f"{category}:{name}",
        "class-id": class_id,
        "center-x": box.x,
        "center-y": box.y,
        "center-z": box.z,
        "length": box.length,
        "width": box.width,
        "height": box.height,
        "roll": 0.0,
        "pitch": 0.0,
        "yaw": gt_yaw(box.yaw),
    }


def _num(d: dict[str, Any], k: str, where: str) -> float:
    v = d.get(k)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise FormatError(where, f"cuboid field {k!r} must be a finite number; got {v!r}")
    return float(v)


def label_from_cuboid(
    d: Any, class_map: dict[str, str], frame_id: str, n: int, where: str, *, tracking: bool = False
) -> Label:
    """A pre-label from one cuboid; its class from ``class-map`` by ``class-id`` (else ``object-name``'s class).

    The track: in tracking, ``object-id`` (one object across frames); in detection, the number in ``object-name``
    (``<class>:<n>``), and ``object-id`` (prelabel writes the label id there) becomes the label id."""
    if not isinstance(d, dict):
        raise FormatError(where, f"a cuboid must be an object; got {type(d).__name__}")
    name = str(d.get("object-name") or "")
    cat = class_map.get(str(d.get("class-id"))) or name.split(":", 1)[0]
    if not cat:
        raise FormatError(where, f"cuboid {n} has no class: class-id {d.get('class-id')!r} is not in the class-map")
    vals = [_num(d, k, f"{where} cuboid {n}") for k in ("center-x", "center-y", "center-z", "length", "width")]
    h, yaw = _num(d, "height", f"{where} cuboid {n}"), _num(d, "yaw", f"{where} cuboid {n}")
    try:
        box = Box3D(x=vals[0], y=vals[1], z=vals[2], length=vals[3], width=vals[4], height=h, yaw=gt_yaw(yaw))
    except ValueError as e:
        raise FormatError(f"{where} cuboid {n}", f"not a valid box: {e}") from None
    named = name.split(":", 1)[1] if ":" in name else None
    oid = d.get("object-id")
    track = (oid or named) if tracking else named
    score = d.get("score")
    lid = str(oid) if oid and not tracking else make_label_id("groundtruth3d", frame_id, n, name, *vals)
    return Label(
        id=lid,
        category=cat,
        source="import:groundtruth3d",
        score=float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None,
        track_id=str(track) if track is not None else None,
        box3d=box,
    )


def _class_map(meta: Any) -> dict[str, str]:
    cm = meta.get("class-map") or meta.get("class_map") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in cm.items()} if isinstance(cm, dict) else {}


def detection_attribute(line: dict[str, Any], attribute: str | None = None) -> str | None:
    """The key of a frame line that holds cuboids (``attribute`` when given; error when several and none given)."""
    keys = [
        k
        for k, v in line.items()
        if isinstance(v, dict) and isinstance(v.get("annotations"), list) and not k.endswith("-metadata")
    ]
    if attribute is not None:
        return attribute if attribute in keys else None
    if len(keys) > 1:
        raise FormatError("manifest line", f"several cuboid attributes ({', '.join(keys)}); name one")
    return keys[0] if keys else None


def detection_labels(line: dict[str, Any], attr: str, frame_id: str, where: str) -> list[Label]:
    """The pre-labels of an object-detection frame line's attribute ``attr``."""
    cmap = _class_map(line.get(f"{attr}-metadata"))
    labels = [label_from_cuboid(c, cmap, frame_id, n, where) for n, c in enumerate(line[attr]["annotations"])]
    if len({lb.id for lb in labels}) < len(labels):  # object-ids repeated (another tool's): ids from the cuboids
        labels = [
            lb.model_copy(update={"id": make_label_id("groundtruth3d", frame_id, n, lb.category, lb.id)})
            for n, lb in enumerate(labels)
        ]
    return labels


def tracking_attribute(line: dict[str, Any], attribute: str | None = None) -> str | None:
    """The ``-ref`` key of a sequence line that points at a label sequence file."""
    keys = [k for k in line if k.endswith("-ref") and k != "source-ref" and isinstance(line[k], str)]
    if attribute is not None:
        want = attribute if attribute.endswith("-ref") else f"{attribute}-ref"
        return want if want in keys else None
    if len(keys) > 1:
        raise FormatError("manifest line", f"several label sequence attributes ({', '.join(keys)}); name one")
    return keys[0] if keys else None


def tracking_labels(line: dict[str, Any], key: str, frame_ids: dict[int, str], where: str) -> dict[int, list[Label]]:
    """Per frame number, the pre-labels in the label sequence file a sequence line's ``key`` points at."""
    uri = line[key]
    try:
        doc = json.loads(storage.read_bytes(uri))
        frames = doc["tracking-annotations"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise FormatError(uri, f"expected a label sequence file {{'tracking-annotations': [...]}}: {e}") from None
    cmap = _class_map(line.get(f"{key}-metadata"))
    out: dict[int, list[Label]] = {}
    for fr in frames:
        no = int(fr.get("frame-number", fr.get("frame-no", -1)))
        fid = frame_ids.get(no)
        if fid is None:
            raise FormatError(uri, f"frame-number {no} is not a frame of the sequence in {where}")
        anns = fr.get("annotations") or []
        out[no] = [label_from_cuboid(c, cmap, fid, n, f"{uri} frame {no}", tracking=True) for n, c in enumerate(anns)]
    return out
