"""SageMaker Ground Truth 3D point cloud cuboids: the one layout prelabel writes and reads 3D boxes in, for every
manifest that carries them (:mod:`.groundtruth3d`: output manifests and adjustment-job inputs; the ``groundtruth3d``
label format; the review portal's 3D jobs and export).

Field names as AWS documents them ("Labeling job output data", sections "3D Point Cloud Object Detection Output" and
"3D Point Cloud Object Tracking Output"):

- an annotation (cuboid): ``label-category-attributes`` (the label's text attributes), ``object-name``
  ``<class>:<n>``, ``class-id``, ``center-x/y/z`` ("in the world coordinate system"), ``length``, ``width``,
  ``height``, ``roll``, ``pitch``, ``yaw`` (radians, the heading: prelabel's right-handed yaw, counter-clockwise from
  x seen from above, written as it is; roll and pitch 0 for prelabel's yaw-only boxes, dropped on reading);
- detection: a frame's line holds ``<attr>: {"annotations": [...]}`` and ``<attr>-metadata`` with ``objects`` (one
  ``confidence`` per annotation), ``class-map``, ``type: groundtruth/lidar_object_detection``, ``human-annotated``,
  ``creation-date``, ``job-name`` (and ``adjustment-status`` in review output);
- tracking: a sequence's line holds ``<attr>-ref`` (a label sequence file ``{"tracking-annotations":
  [{"frame-number", "frame-name", "annotations"}]}``) and ``<attr>-ref-metadata`` (``objects``: one ``{"frame-no",
  "confidence": [...]}`` per frame; ``type: groundtruth/lidar_object_tracking``); ``object-id`` is one object across
  frames.

Reading accepts the documented ``class-map`` and the ``class_map`` of AWS's detection example, and any ``type``.

Frames: Ground Truth places cuboids in its world frame, which is where ``ego-vehicle-pose`` puts the sweep
(world_from_lidar = ego_pose · sensor_pose, the identity without a pose). Boxes in the sweep's frame (``lidar``,
``velodyne`` or the sensor's name) go to world with that pose on writing (``ego`` boxes with the ego pose, ``world``
boxes as they are; ``camera`` boxes are refused), and come back as ``lidar``-frame boxes of scenes whose
``ego_pose`` is world_from_lidar.

prelabel's own keys on a cuboid: ``object-id`` (the label id in detection, the track in tracking; read back as the
label id and the track), ``score`` (the label's score; read back before the metadata's confidence) and, in review
output, ``prelabel-origin``. Read labels get source ``import:groundtruth3d``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel import storage
from prelabel.core.geometry import transforms as tf
from prelabel.core.labels import Box3D, Frame, FrameRecord, Label, make_label_id
from prelabel.errors import FormatError

F64 = npt.NDArray[np.float64]
DETECTION_ATTRIBUTE = "3d-bounding-box"
TRACKING_ATTRIBUTE = "lidar-label"
DETECTION_TYPE = "groundtruth/lidar_object_detection"
TRACKING_TYPE = "groundtruth/lidar_object_tracking"
SOURCE = "import:groundtruth3d"
_BOX_KEYS = ("center-x", "center-y", "center-z", "length", "width", "height", "yaw")
_WORLD = ("world", "global", "city")
_EXPECTED = "expected center-x/y/z, length, width, height and yaw (numbers)"


def world_from_lidar(f: Frame) -> F64:
    """The sweep's pose in the world: ego_pose · sensor_pose (the identity when the scene has none)."""
    m = np.eye(4)
    if f.ego_pose is not None:
        m = m @ f.ego_pose.matrix()
    if f.sensor_pose is not None:
        m = m @ f.sensor_pose.matrix()
    return m


def now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat()


def class_ids(records: Sequence[FrameRecord], names: Sequence[str] | None = None) -> dict[str, int]:
    """``{category: class-id}``: ``names`` first, in order, then the other 3D label categories, sorted."""
    seen = sorted({lb.category for r in records for lb in r.labels if lb.box3d is not None})
    order = list(names or []) + [c for c in seen if c not in (names or [])]
    return {c: i for i, c in enumerate(order)}


def class_map(ids: dict[str, int]) -> dict[str, str]:
    """The metadata's ``class-map`` (``{"<class-id>": class}``) of :func:`class_ids`."""
    return {str(i): c for c, i in ids.items()}


def metadata(ids: dict[str, int], kind: str, job_name: str, date: str | None, objects: list[Any]) -> dict[str, Any]:
    """A label attribute's ``-metadata`` as prelabel writes it (machine labels: ``human-annotated: "no"``)."""
    return {
        "objects": objects,
        "class-map": class_map(ids),
        "type": kind,
        "human-annotated": "no",
        "creation-date": date or now(),
        "job-name": job_name if job_name.startswith("labeling-job/") else f"labeling-job/{job_name}",
    }


def annotation(lb: Label, frame: Frame, class_id: int, n: int | str, *, tracking: bool = False) -> dict[str, Any]:
    """One label as a Ground Truth cuboid in the world frame; ``n`` numbers it in ``object-name`` when it has no
    track. ``object-id``: the track (tracking) or the label id (detection)."""
    b = lb.box3d
    if b is None:
        raise FormatError(f"frame {frame.id} label {lb.id}", "no 3D box; expected a box3d label")
    if b.frame == "camera":
        raise FormatError(
            f"frame {frame.id} label {lb.id}", "box3d frame 'camera' (y down); expected a z-up frame: lidar, ego, world"
        )
    if b.frame in _WORLD:
        to_world = np.eye(4)
    elif b.frame == "ego":
        to_world = frame.ego_pose.matrix() if frame.ego_pose is not None else np.eye(4)
    else:  # the sweep's frame: lidar, velodyne or the sensor's own name (LIDAR_TOP)
        to_world = world_from_lidar(frame)
    row = np.array([b.x, b.y, b.z, b.length, b.width, b.height, b.yaw])
    world = tf.transform_boxes(to_world, row)[0]
    return {
        "label-category-attributes": {k: v for k, v in lb.attributes.items() if isinstance(v, str)},
        "object-name": f"{lb.category}:{lb.track_id or n}",
        "class-id": class_id,
        **{k: float(world[i]) for i, k in enumerate(_BOX_KEYS[:6])},
        "roll": 0.0,
        "pitch": 0.0,
        "yaw": float(world[6]),
        "object-id": (lb.track_id or lb.id) if tracking else lb.id,
    }


def frame_annotations(
    rec: FrameRecord, ids: dict[str, int], tracking: bool
) -> tuple[list[dict[str, Any]], list[float]]:
    """The frame's 3D labels as cuboids (:func:`annotation`, with ``score`` when the label has one) and their
    confidences (the score, 1.0 without one); ``ids`` maps each category to its ``class-id`` (:func:`class_ids`)."""
    out, conf = [], []
    for n, lb in enumerate([lb for lb in rec.labels if lb.box3d is not None], start=1):
        a = annotation(lb, rec.frame, ids[lb.category], n, tracking=tracking)
        if lb.score is not None:
            a["score"] = lb.score
        out.append(a)
        conf.append(round(float(lb.score if lb.score is not None else 1.0), 4))
    return out, conf


def _num(d: dict[str, Any], k: str, where: str) -> float:
    v = d.get(k)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise FormatError(where, f"cuboid field {k!r} must be a finite number; got {v!r}; {_EXPECTED}")
    return float(v)


def _score(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def label_from_cuboid(
    d: Any,
    cmap: dict[str, str],
    frame: Frame,
    n: int,
    where: str,
    *,
    tracking: bool = False,
    confidence: Any = None,
) -> Label:
    """A pre-label (``lidar`` frame) from one cuboid; its class from the class-map by ``class-id`` (else
    ``object-name``'s class). The track: in tracking, ``object-id``; in detection, the number in ``object-name``
    (``object-id``, where prelabel writes the label id, becomes the label id)."""
    w = f"{where} annotation {n}"
    if not isinstance(d, dict):
        raise FormatError(w, f"a cuboid must be an object; got {type(d).__name__}")
    name = str(d.get("object-name") or "")
    cat = cmap.get(str(d.get("class-id"))) or name.split(":", 1)[0]
    if not cat:
        raise FormatError(w, f"no class: class-id {d.get('class-id')!r} is not in the class-map and no object-name")
    row = np.array([_num(d, k, w) for k in _BOX_KEYS])
    x, y, z, length, width, h, yaw = (float(v) for v in tf.transform_boxes(tf.invert(world_from_lidar(frame)), row)[0])
    try:
        box = Box3D(x=x, y=y, z=z, length=length, width=width, height=h, yaw=yaw, frame="lidar")
    except ValueError as e:
        raise FormatError(w, f"not a valid box: {e}") from None
    named = name.split(":", 1)[1] if ":" in name else None
    oid = d.get("object-id")
    track = (oid or named) if tracking else named
    score = _score(d.get("score"))
    return Label(
        id=str(oid) if oid and not tracking else make_label_id("groundtruth3d", frame.id, n, name, *row[:5]),
        category=cat,
        source=SOURCE,
        score=score if score is not None else _score(confidence),
        track_id=str(track) if track is not None else None,
        box3d=box,
        attributes=dict(d["label-category-attributes"]) if isinstance(d.get("label-category-attributes"), dict) else {},
    )


def _class_map(meta: Any) -> dict[str, str]:
    cm = (meta.get("class-map") or meta.get("class_map")) if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in cm.items()} if isinstance(cm, dict) else {}


def _confidences(meta: Any) -> list[Any]:
    objs = meta.get("objects") if isinstance(meta, dict) else None
    return [o.get("confidence") if isinstance(o, dict) else None for o in objs] if isinstance(objs, list) else []


def detection_attribute(line: dict[str, Any], attribute: str | None = None) -> str | None:
    """The key of a frame line that holds cuboids (``attribute`` when given; an error when several and none given)."""
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


def detection_labels(line: dict[str, Any], attr: str, frame: Frame, where: str) -> list[Label]:
    """The pre-labels of an object-detection frame line's attribute ``attr``."""
    meta = line.get(f"{attr}-metadata")
    cmap, conf = _class_map(meta), _confidences(meta)
    labels = [
        label_from_cuboid(c, cmap, frame, n, where, confidence=conf[n] if n < len(conf) else None)
        for n, c in enumerate(line[attr]["annotations"])
    ]
    if len({lb.id for lb in labels}) < len(labels):  # object-ids repeated (another tool's): ids from the cuboids
        labels = [
            lb.model_copy(update={"id": make_label_id("groundtruth3d", frame.id, n, lb.category, lb.id)})
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


def tracking_labels(line: dict[str, Any], key: str, frames: dict[int, Frame], where: str) -> dict[int, list[Label]]:
    """Per frame number, the pre-labels in the label sequence file a sequence line's ``key`` points at."""
    uri = line[key]
    try:
        doc = json.loads(storage.read_bytes(uri))
        per_frame = doc["tracking-annotations"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise FormatError(uri, f"expected a label sequence file {{'tracking-annotations': [...]}}: {e}") from None
    meta = line.get(f"{key}-metadata")
    cmap = _class_map(meta)
    objs = meta.get("objects") if isinstance(meta, dict) else None
    conf_by_no = {
        int(o["frame-no"]): o.get("confidence") or []
        for o in (objs if isinstance(objs, list) else [])
        if isinstance(o, dict) and isinstance(o.get("frame-no"), int)
    }
    out: dict[int, list[Label]] = {}
    for fr in per_frame:
        no = int(fr.get("frame-number", fr.get("frame-no", -1)))
        frame = frames.get(no)
        if frame is None:
            raise FormatError(uri, f"frame-number {no} is not a frame of the sequence in {where}")
        conf = conf_by_no.get(no, [])
        out[no] = [
            label_from_cuboid(
                c, cmap, frame, n, f"{uri} frame {no}", tracking=True, confidence=conf[n] if n < len(conf) else None
            )
            for n, c in enumerate(fr.get("annotations") or [])
        ]
    return out
