"""SageMaker Ground Truth 3D point cloud input manifests, written from scenes and read back as scenes.

- Object detection: one JSON line per frame, ``{"source-ref": <sweep>, "source-ref-metadata": {"format":
  "binary/xyzi", "unix-timestamp": s, "ego-vehicle-pose": {"position": {x y z}, "heading": {qx qy qz qw}},
  "prefix": "", "images": [...]}}``.
- Object tracking: one JSON sequence file per sequence, ``{"seq-no", "prefix", "number-of-frames", "frames":
  [{"frame-no", "unix-timestamp", "frame", "format", "ego-vehicle-pose", "images"}]}``, listed by a manifest of
  ``{"source-ref": <sequence file>}`` lines.
- Each image: ``image-path``, ``unix-timestamp``, ``fx fy cx cy skew`` (pixels), ``k1 k2 k3 k4 p1 p2`` (0: images
  are taken as undistorted), ``camera-model: "pinhole"``, and the camera's pose in the world frame as ``position``
  and ``heading``.

Ground Truth places the points with ``ego-vehicle-pose``, so prelabel writes the pose of the *sweep's* frame,
world_from_lidar = ego_pose · sensor_pose (the identity when the scene has no pose), and each camera's
world_from_camera = world_from_lidar · camera_from_lidar⁻¹. Reading gives scenes with ``ego_pose`` =
world_from_lidar, ``sensor_pose`` = identity and the same ``camera_from_lidar``: the ego/sensor split is not in
the manifest. Only float32 ``x y z intensity`` sweeps (``kitti_bin``) are a Ground Truth point format.

3D boxes travel as Ground Truth's cuboids (:mod:`prelabel.sources.scenes.groundtruth3d_labels`, the one cuboid
layout): written under a label attribute when one is given (a Ground Truth 3D output manifest, which is also an
adjustment job's input: a frame line's ``<attr>`` and ``<attr>-metadata``, or a sequence line's ``<attr>-ref`` label
sequence file), and read back as the scenes' labels.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel import storage
from prelabel.core.geometry import transforms as tf
from prelabel.core.labels import Frame, FrameRecord
from prelabel.core.scene import CameraView, Pose
from prelabel.errors import FormatError
from prelabel.sources.scenes import groundtruth3d_labels as gtl
from prelabel.sources.scenes.groundtruth3d_labels import world_from_lidar as _world_from_lidar

F64 = npt.NDArray[np.float64]
FORMATS = {"kitti_bin": "binary/xyzi"}


def _pose_json(m: F64) -> dict[str, Any]:
    p = Pose.from_matrix(m)
    w, x, y, z = p.rotation
    return {"position": dict(zip("xyz", p.translation, strict=True)), "heading": {"qx": x, "qy": y, "qz": z, "qw": w}}


def _pose_from(d: dict[str, Any], where: str) -> F64:
    try:
        pos, h = d["position"], d["heading"]
        return Pose(rotation=[h["qw"], h["qx"], h["qy"], h["qz"]], translation=[pos["x"], pos["y"], pos["z"]]).matrix()
    except (KeyError, TypeError, ValueError) as e:
        raise FormatError(where, f"expected a pose {{position: {{x y z}}, heading: {{qx qy qz qw}}}}: {e}") from e


def _frame_json(f: Frame) -> dict[str, Any]:
    fmt = FORMATS.get(f.point_format or "")
    if fmt is None:
        raise FormatError(
            f.uri,
            f"point format {f.point_format!r} is not a Ground Truth format; expected kitti_bin "
            "(float32 x y z intensity, 'binary/xyzi')",
        )
    wl = _world_from_lidar(f)
    images = []
    for cam in f.cameras or []:
        k = np.asarray(cam.K)
        images.append(
            {
                "image-path": cam.uri,
                "unix-timestamp": (cam.timestamp_ns or f.timestamp_ns or 0) / 1e9,
                "fx": k[0, 0],
                "fy": k[1, 1],
                "cx": k[0, 2],
                "cy": k[1, 2],
                "skew": k[0, 1],
                "k1": 0.0,
                "k2": 0.0,
                "k3": 0.0,
                "k4": 0.0,
                "p1": 0.0,
                "p2": 0.0,
                "camera-model": "pinhole",
                **_pose_json(wl @ tf.invert(cam.camera_from_lidar)),
            }
        )
    return {
        "format": fmt,
        "unix-timestamp": (f.timestamp_ns or 0) / 1e9,
        "ego-vehicle-pose": _pose_json(wl),
        "prefix": "",
        "images": images,
    }


def write_detection(
    scenes: Iterable[FrameRecord],
    dst: str,
    *,
    attribute: str | None = None,
    job_name: str = "prelabel-3d",
    class_names: Sequence[str] | None = None,
    creation_date: str | None = None,
) -> int:
    """An object-detection manifest (one line per scene); failed scenes are left out. Returns lines.

    ``attribute``: also write each scene's 3D boxes as Ground Truth cuboids under this label attribute, with its
    ``-metadata`` (a Ground Truth 3D object detection output manifest; the input of an adjustment job);
    ``class_names`` come first in the class-map."""
    ok = [r for r in scenes if r.status == "ok"]
    ids = gtl.class_ids(ok, class_names)
    lines = []
    for rec in ok:
        line: dict[str, Any] = {"source-ref": rec.frame.uri, "source-ref-metadata": _frame_json(rec.frame)}
        if attribute:
            anns, conf = gtl.frame_annotations(rec, ids, tracking=False)
            line[attribute] = {"annotations": anns}
            objects = [{"confidence": c} for c in conf]
            line[f"{attribute}-metadata"] = gtl.metadata(ids, gtl.DETECTION_TYPE, job_name, creation_date, objects)
        lines.append(json.dumps(line))
    storage.write_bytes(dst, ("\n".join(lines) + "\n").encode())
    return len(lines)


def write_tracking(
    scenes: Iterable[FrameRecord],
    folder: str,
    *,
    attribute: str | None = None,
    job_name: str = "prelabel-3d",
    class_names: Sequence[str] | None = None,
    creation_date: str | None = None,
) -> list[str]:
    """One sequence file per sequence (scenes grouped by ``sequence``, ordered by ``index``) plus
    ``manifest.jsonl`` listing them. Returns the sequence files.

    ``attribute``: also write each sequence's 3D boxes as a label sequence file (``<sequence>.SeqLabel.json``)
    that the manifest line names under ``<attribute>-ref``, with its ``-ref-metadata`` (a Ground Truth 3D object
    tracking output manifest; the input of an adjustment job)."""
    seqs: dict[str, list[FrameRecord]] = {}
    for rec in scenes:
        if rec.status == "ok":
            seqs.setdefault(rec.frame.sequence or "sequence", []).append(rec)
    ids = gtl.class_ids([r for rs in seqs.values() for r in rs], class_names)
    key = None if not attribute else attribute if attribute.endswith("-ref") else f"{attribute}-ref"
    files, lines = [], []
    for n, (name, recs) in enumerate(sorted(seqs.items())):
        recs.sort(key=lambda r: (r.frame.index if r.frame.index is not None else 0, r.frame.timestamp_ns or 0))
        entries: list[dict[str, Any]] = []
        doc = {"seq-no": n, "prefix": "", "number-of-frames": len(recs), "frames": entries}
        for i, r in enumerate(recs):
            meta = _frame_json(r.frame)
            entries.append({"frame-no": i, "frame": r.frame.uri, **{k: v for k, v in meta.items() if k != "prefix"}})
        uri = storage.join(folder, f"{name.replace('/', '_')}.json")
        storage.write_bytes(uri, json.dumps(doc).encode())
        files.append(uri)
        line: dict[str, Any] = {"source-ref": uri}
        if key:
            labels, objects = [], []
            for i, r in enumerate(recs):
                anns, conf = gtl.frame_annotations(r, ids, tracking=True)
                name_i = r.frame.uri.rsplit("/", 1)[-1]
                labels.append({"frame-number": i, "frame-name": name_i, "frame-attributes": {}, "annotations": anns})
                objects.append({"frame-no": i, "confidence": conf})
            label_uri = storage.join(folder, f"{name.replace('/', '_')}.SeqLabel.json")
            storage.write_bytes(label_uri, json.dumps({"tracking-annotations": labels}).encode())
            line[key] = label_uri
            line[f"{key}-metadata"] = gtl.metadata(ids, gtl.TRACKING_TYPE, job_name, creation_date, objects)
        lines.append(json.dumps(line) + "\n")
    storage.write_bytes(storage.join(folder, "manifest.jsonl"), "".join(lines).encode())
    return files


def _scene(
    fid: str, uri: str, meta: dict[str, Any], where: str, seq: str | None = None, idx: int | None = None
) -> Frame:
    fmt = meta.get("format", "binary/xyzi")
    if fmt != "binary/xyzi":
        raise FormatError(where, f"point format {fmt!r}; prelabel reads 'binary/xyzi'")
    wl = _pose_from(meta["ego-vehicle-pose"], where) if "ego-vehicle-pose" in meta else np.eye(4)
    cams = []
    prefix = meta.get("prefix", "")
    for j, im in enumerate(meta.get("images", [])):
        w = f"{where} image {j}"
        try:
            K = [[im["fx"], im.get("skew", 0.0), im["cx"]], [0.0, im["fy"], im["cy"]], [0.0, 0.0, 1.0]]
            cam_from_lidar = tf.invert(_pose_from(im, w)) @ wl
            cams.append(
                CameraView(
                    name=f"camera_{j}",
                    uri=prefix + im["image-path"],
                    K=K,
                    camera_from_lidar=Pose.from_matrix(cam_from_lidar),
                    timestamp_ns=round(float(im.get("unix-timestamp", 0)) * 1e9),
                )
            )
        except (KeyError, ValueError) as e:
            raise FormatError(w, f"expected image-path, fx fy cx cy and a pose: {e}") from e
    ts = meta.get("unix-timestamp")
    return Frame(
        id=fid,
        uri=prefix + uri,
        kind="pointcloud",
        point_format="kitti_bin",
        sensor="lidar",
        timestamp_ns=round(float(ts) * 1e9) if ts is not None else None,
        sequence=seq,
        index=idx,
        ego_pose=Pose.from_matrix(wl),
        sensor_pose=Pose(),
        cameras=cams,
    )


def sequence_file(uri: str) -> dict[str, Any]:
    """A Ground Truth point cloud sequence file, checked for its ``frames`` list."""
    try:
        doc = json.loads(storage.read_bytes(uri))
    except FileNotFoundError:
        raise FormatError(uri, "the sequence file named by the manifest's source-ref does not exist") from None
    except (OSError, ValueError) as e:
        raise FormatError(uri, f"expected a sequence file (JSON with 'frames'): {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("frames"), list):
        raise FormatError(uri, "expected a sequence file {'seq-no', 'prefix', 'frames': [...]}")
    return doc


def read(src: str, *, attribute: str | None = None) -> Iterator[FrameRecord]:
    """Scenes from a detection manifest or a tracking manifest (its lines point at sequence files), with their
    cuboids as pre-labels: a frame line's cuboid attribute, a sequence line's ``-ref`` label sequence file
    (``attribute`` names which when a line holds several)."""
    for n, line in enumerate(storage.read_bytes(src).decode().splitlines()):
        if not line.strip():
            continue
        where = f"{src}:{n + 1}"
        try:
            d = json.loads(line)
        except ValueError as e:
            raise FormatError(where, f"not JSON: {e}") from e
        ref = d.get("source-ref", "")
        if "source-ref-metadata" in d:
            frame = _scene(str(n), ref, d["source-ref-metadata"], where)
            attr = gtl.detection_attribute(d, attribute)
            yield FrameRecord(frame=frame, labels=gtl.detection_labels(d, attr, frame, where) if attr else [])
            continue
        seq = sequence_file(ref)
        name = str(seq.get("seq-no", n))
        scenes = []
        for fr in seq["frames"]:
            fw = f"{ref} frame {fr.get('frame-no') if isinstance(fr, dict) else fr!r}"
            try:
                no, uri = int(fr["frame-no"]), str(fr["frame"])
            except (KeyError, TypeError, ValueError) as e:
                raise FormatError(fw, f"a sequence frame needs 'frame-no' (an integer) and 'frame': {e}") from None
            scenes.append(_scene(f"{name}/{no}", uri, {**fr, "prefix": seq.get("prefix", "")}, fw, name, no))
        key = gtl.tracking_attribute(d, attribute)
        by_no = gtl.tracking_labels(d, key, {int(f.index or 0): f for f in scenes}, where) if key else {}
        for f in scenes:
            yield FrameRecord(frame=f, labels=by_no.get(int(f.index or 0), []))
