"""SageMaker Ground Truth 3D point cloud *output* manifests: the scenes' 3D labels (``labels3d.jsonl`` records) as
Ground Truth writes a finished labeling job, and read back.

Field names as Ground Truth documents them ("Labeling job output data": 3D point cloud object detection output and
object tracking output):

- Object detection: one line per frame: the input line (``source-ref``, ``source-ref-metadata``, as
  :mod:`.groundtruth3d` writes it), the label attribute (default ``3d-bounding-box``) holding ``{"annotations":
  [...]}``, and ``<attribute>-metadata`` with ``objects`` (one ``confidence`` per annotation, in order),
  ``class-map``, ``type: groundtruth/lidar_object_detection``, ``human-annotated: "no"``, ``creation-date``,
  ``job-name``.
- Object tracking: one line per sequence: ``source-ref`` (the sequence file), ``<attribute>-ref`` (its label file,
  ``<sequence>.SeqLabel.json``: ``{"tracking-annotations": [{"frame-number", "frame-name", "annotations"}]}``) and
  ``<attribute>-ref-metadata`` with ``objects`` (one ``{"frame-no", "confidence": [...]}`` per frame),
  ``class-map``, ``type: groundtruth/lidar_object_tracking`` and the rest as above. The default attribute is
  ``lidar-label``.
- Each annotation: ``object-name`` ``<class>:<n>``, ``class-id``, ``center-x/y/z``, ``length``, ``width``,
  ``height``, ``roll``, ``pitch``, ``yaw`` (radians; roll and pitch 0), ``label-category-attributes`` (the label's
  text attributes, e.g. ``camera``, ``size_guess``), and for tracking ``object-id`` (the track id, the same in every
  frame of a track).

Frames: Ground Truth places cuboids in its world coordinate system, which is where ``ego-vehicle-pose`` puts the
sweep (:mod:`.groundtruth3d`: world_from_lidar = ego_pose · sensor_pose, the identity without a pose). Boxes in the
sweep's ``lidar`` (or ``ego``) frame go to world with that pose on writing, and come back as ``lidar``-frame boxes
(``Box3D(frame="lidar")``) of scenes whose ``ego_pose`` is world_from_lidar. Read labels get ``source
import:groundtruth3d``, the confidence as score and the ``object-id`` as ``track_id``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from prelabel import storage
from prelabel.core.geometry import transforms as tf
from prelabel.core.labels import Box3D, FrameRecord, Label, make_label_id
from prelabel.errors import FormatError
from prelabel.sources.scenes.groundtruth3d import _frame_json, _scene, _world_from_lidar

DETECTION_ATTRIBUTE = "3d-bounding-box"
TRACKING_ATTRIBUTE = "lidar-label"
DETECTION_TYPE = "groundtruth/lidar_object_detection"
TRACKING_TYPE = "groundtruth/lidar_object_tracking"
SOURCE = "import:groundtruth3d"
_BOX_KEYS = ("center-x", "center-y", "center-z", "length", "width", "height", "yaw")


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat()


def class_ids(records: Sequence[FrameRecord], names: Sequence[str] | None) -> dict[str, int]:
    """``{category: class-id}``: ``names`` first, in order, then the other 3D label categories, sorted."""
    seen = sorted({lb.category for r in records for lb in r.labels if lb.box3d is not None})
    order = list(names or []) + [c for c in seen if c not in (names or [])]
    return {c: i for i, c in enumerate(order)}


def frame_annotations(
    rec: FrameRecord, ids: dict[str, int], tracking: bool
) -> tuple[list[dict[str, Any]], list[float]]:
    """The frame's 3D labels as Ground Truth annotations (world frame) and their confidences; ``ids`` maps each
    category to its ``class-id`` (:func:`class_ids`). Public so other writers of Ground Truth 3D output (the
    review portal's export) can share one annotation layout."""
    frame = rec.frame
    world_from_lidar = _world_from_lidar(frame)
    world_from_ego = frame.ego_pose.matrix() if frame.ego_pose is not None else np.eye(4)
    out, conf = [], []
    for n, lb in enumerate([lb for lb in rec.labels if lb.box3d is not None], start=1):
        b = lb.box3d
        assert b is not None
        if b.frame not in ("lidar", "velodyne", "ego"):
            raise FormatError(
                f"frame {frame.id} label {lb.id}", f"box3d frame {b.frame!r}; expected lidar, velodyne or ego"
            )
        row = np.array([b.x, b.y, b.z, b.length, b.width, b.height, b.yaw])
        world = tf.transform_boxes(world_from_ego if b.frame == "ego" else world_from_lidar, row)[0]
        ann: dict[str, Any] = {
            "label-category-attributes": {k: v for k, v in lb.attributes.items() if isinstance(v, str)},
            "object-name": f"{lb.category}:{lb.track_id or n}",
            "class-id": ids[lb.category],
            **{k: float(world[i]) for i, k in enumerate(_BOX_KEYS[:6])},
            "roll": 0.0,
            "pitch": 0.0,
            "yaw": float(world[6]),
        }
        if tracking:
            ann["object-id"] = lb.track_id or f"{frame.id}:{n}"
        out.append(ann)
        conf.append(round(float(lb.score if lb.score is not None else 1.0), 4))
    return out, conf


def _metadata(ids: dict[str, int], kind: str, job_name: str, date: str | None) -> dict[str, Any]:
    return {
        "class-map": {str(i): c for c, i in ids.items()},
        "type": kind,
        "human-annotated": "no",
        "creation-date": date or _now(),
        "job-name": job_name if job_name.startswith("labeling-job/") else f"labeling-job/{job_name}",
    }


def write_detection_output(
    records: Iterable[FrameRecord],
    dst: str,
    *,
    attribute: str = DETECTION_ATTRIBUTE,
    job_name: str = "prelabel-3d",
    class_names: Sequence[str] | None = None,
    creation_date: str | None = None,
) -> int:
    """An object-detection output manifest (one line per ok record; failed ones are left out). Returns lines."""
    recs = [r for r in records if r.status == "ok"]
    ids = class_ids(recs, class_names)
    lines = []
    for rec in recs:
        anns, conf = frame_annotations(rec, ids, tracking=False)
        meta = {"objects": [{"confidence": c} for c in conf], **_metadata(ids, DETECTION_TYPE, job_name, creation_date)}
        line = {
            "source-ref": rec.frame.uri,
            "source-ref-metadata": _frame_json(rec.frame),
            attribute: {"annotations": anns},
            f"{attribute}-metadata": meta,
        }
        lines.append(json.dumps(line))
    storage.write_bytes(dst, ("\n".join(lines) + "\n").encode())
    return len(lines)


def write_tracking_output(
    records: Iterable[FrameRecord],
    folder: str,
    *,
    attribute: str = TRACKING_ATTRIBUTE,
    job_name: str = "prelabel-3d",
    class_names: Sequence[str] | None = None,
    creation_date: str | None = None,
) -> str:
    """Per sequence (records grouped by ``frame.sequence``, ordered by ``index``): its sequence file
    ``<sequence>.json`` and label file ``<sequence>.SeqLabel.json``; plus ``output.manifest`` with one line per
    sequence. Returns the manifest's path."""
    recs = [r for r in records if r.status == "ok"]
    ids = class_ids(recs, class_names)
    seqs: dict[str, list[FrameRecord]] = {}
    for r in recs:
        seqs.setdefault(r.frame.sequence or "sequence", []).append(r)
    lines = []
    for n, (name, group) in enumerate(sorted(seqs.items())):
        group.sort(key=lambda r: (r.frame.index if r.frame.index is not None else 0, r.frame.timestamp_ns or 0))
        entries, labels, objects = [], [], []
        for i, rec in enumerate(group):
            meta = _frame_json(rec.frame)
            entries.append({"frame-no": i, "frame": rec.frame.uri, **{k: meta[k] for k in meta if k != "prefix"}})
            anns, conf = frame_annotations(rec, ids, tracking=True)
            labels.append({"frame-number": i, "frame-name": rec.frame.uri, "annotations": anns})
            objects.append({"frame-no": i, "confidence": conf})
        stem = name.replace("/", "_")
        seq_uri, label_uri = storage.join(folder, f"{stem}.json"), storage.join(folder, f"{stem}.SeqLabel.json")
        doc = {"seq-no": n, "prefix": "", "number-of-frames": len(group), "frames": entries}
        storage.write_bytes(seq_uri, json.dumps(doc).encode())
        storage.write_bytes(label_uri, json.dumps({"tracking-annotations": labels}).encode())
        meta = {"objects": objects, **_metadata(ids, TRACKING_TYPE, job_name, creation_date)}
        line = {"source-ref": seq_uri, f"{attribute}-ref": label_uri, f"{attribute}-ref-metadata": meta}
        lines.append(json.dumps(line))
    manifest = storage.join(folder, "output.manifest")
    storage.write_bytes(manifest, "".join(line + "\n" for line in lines).encode())
    return manifest


def _labels(
    frame_id: str, anns: list[Any], conf: list[Any], cmap: dict[str, Any], world_from_lidar: Any, where: str
) -> list[Label]:
    lidar_from_world = np.linalg.inv(world_from_lidar)
    out = []
    for k, a in enumerate(anns):
        w = f"{where} annotation {k}"
        try:
            row = np.array([float(a[key]) for key in _BOX_KEYS])
            cls = cmap.get(str(a.get("class-id")), str(a.get("object-name", "")).split(":")[0])
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(w, f"expected center-x/y/z, length, width, height and yaw (numbers): {e}") from e
        if not cls:
            raise FormatError(w, "no class: expected a class-id in the class-map or an object-name '<class>:<n>'")
        x, y, z, length, width, h, yaw = (float(v) for v in tf.transform_boxes(lidar_from_world, row)[0])
        score = conf[k] if k < len(conf) and isinstance(conf[k], (int, float)) else None
        attrs = a.get("label-category-attributes") or {}
        out.append(
            Label(
                id=make_label_id("groundtruth3d", frame_id, k),
                category=str(cls),
                source=SOURCE,
                score=float(score) if score is not None else None,
                box3d=Box3D(x=x, y=y, z=z, length=length, width=width, height=h, yaw=yaw, frame="lidar"),
                track_id=str(a["object-id"]) if a.get("object-id") else None,
                attributes=dict(attrs) if isinstance(attrs, dict) else {},
            )
        )
    return out


def _label_attribute(line: dict[str, Any], suffix: str) -> str | None:
    """The label attribute of an output line: the key whose ``<key>-metadata`` (or ``-ref-metadata``) is there."""
    for key in line:
        if key.endswith(suffix) and key not in ("source-ref-metadata",):
            return key[: -len(suffix)]
    return None


def read_output(src: str) -> Iterator[FrameRecord]:
    """Scenes with their 3D labels from a detection or tracking output manifest (see the module docstring)."""
    for n, text in enumerate(storage.read_bytes(src).decode().splitlines()):
        if not text.strip():
            continue
        where = f"{src}:{n + 1}"
        try:
            line = json.loads(text)
        except ValueError as e:
            raise FormatError(where, f"not JSON: {e}") from e
        if "source-ref-metadata" in line:
            attr = _label_attribute(line, "-metadata")
            frame = _scene(str(n), line.get("source-ref", ""), line["source-ref-metadata"], where)
            meta = line.get(f"{attr}-metadata", {}) if attr else {}
            cmap = meta.get("class-map") or meta.get("class_map") or {}
            conf = [o.get("confidence") for o in meta.get("objects", [])]
            anns = (line.get(attr) or {}).get("annotations", []) if attr else []
            wl = _world_from_lidar(frame)
            yield FrameRecord(frame=frame, labels=_labels(frame.id, anns, conf, cmap, wl, where))
            continue
        attr = _label_attribute(line, "-ref-metadata")
        if attr is None or f"{attr}-ref" not in line:
            raise FormatError(where, "expected source-ref-metadata (detection) or <attribute>-ref (tracking)")
        meta = line[f"{attr}-ref-metadata"]
        cmap = meta.get("class-map") or meta.get("class_map") or {}
        conf_by_frame = {int(o["frame-no"]): o.get("confidence", []) for o in meta.get("objects", [])}
        seq = json.loads(storage.read_bytes(line["source-ref"]))
        per_frame = {
            int(f["frame-number"]): f.get("annotations", [])
            for f in json.loads(storage.read_bytes(line[f"{attr}-ref"])).get("tracking-annotations", [])
        }
        name = str(seq.get("seq-no", n))
        for fr in seq.get("frames", []):
            no = int(fr["frame-no"])
            fw = f"{line['source-ref']} frame {no}"
            frame = _scene(f"{name}/{no}", fr["frame"], {**fr, "prefix": seq.get("prefix", "")}, fw, name, no)
            labels = _labels(
                frame.id, per_frame.get(no, []), conf_by_frame.get(no, []), cmap, _world_from_lidar(frame), fw
            )
            yield FrameRecord(frame=frame, labels=labels)
