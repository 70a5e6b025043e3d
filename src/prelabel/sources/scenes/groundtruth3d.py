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
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel import storage
from prelabel.core.geometry import transforms as tf
from prelabel.core.labels import Frame, FrameRecord
from prelabel.core.scene import CameraView, Pose
from prelabel.errors import FormatError

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


def _world_from_lidar(f: Frame) -> F64:
    m = np.eye(4)
    if f.ego_pose is not None:
        m = m @ f.ego_pose.matrix()
    if f.sensor_pose is not None:
        m = m @ f.sensor_pose.matrix()
    return m


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


def write_detection(scenes: Iterable[FrameRecord], dst: str) -> int:
    """An object-detection input manifest (one line per scene); failed scenes are left out. Returns lines."""
    lines = []
    for rec in scenes:
        if rec.status != "ok":
            continue
        meta = _frame_json(rec.frame)
        lines.append(json.dumps({"source-ref": rec.frame.uri, "source-ref-metadata": meta}))
    storage.write_bytes(dst, ("\n".join(lines) + "\n").encode())
    return len(lines)


def write_tracking(scenes: Iterable[FrameRecord], folder: str) -> list[str]:
    """One sequence file per sequence (scenes grouped by ``sequence``, ordered by ``index``) plus
    ``manifest.jsonl`` listing them. Returns the sequence files."""
    seqs: dict[str, list[Frame]] = {}
    for rec in scenes:
        if rec.status == "ok":
            seqs.setdefault(rec.frame.sequence or "sequence", []).append(rec.frame)
    files = []
    for n, (name, frames) in enumerate(sorted(seqs.items())):
        frames.sort(key=lambda f: (f.index if f.index is not None else 0, f.timestamp_ns or 0))
        entries: list[dict[str, Any]] = []
        doc = {"seq-no": n, "prefix": "", "number-of-frames": len(frames), "frames": entries}
        for i, f in enumerate(frames):
            meta = _frame_json(f)
            entries.append(
                {
                    "frame-no": i,
                    "frame": f.uri,
                    "unix-timestamp": meta["unix-timestamp"],
                    "format": meta["format"],
                    "ego-vehicle-pose": meta["ego-vehicle-pose"],
                    "images": meta["images"],
                }
            )
        uri = storage.join(folder, f"{name.replace('/', '_')}.json")
        storage.write_bytes(uri, json.dumps(doc).encode())
        files.append(uri)
    storage.write_bytes(
        storage.join(folder, "manifest.jsonl"), "".join(json.dumps({"source-ref": u}) + "\n" for u in files).encode()
    )
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


def read(src: str) -> Iterator[FrameRecord]:
    """Scenes from a detection manifest or a tracking manifest (its lines point at sequence files)."""
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
            yield FrameRecord(frame=_scene(str(n), ref, d["source-ref-metadata"], where))
            continue
        seq = json.loads(storage.read_bytes(ref))
        name = str(seq.get("seq-no", n))
        for fr in seq.get("frames", []):
            fw = f"{ref} frame {fr.get('frame-no')}"
            meta = {**fr, "prefix": seq.get("prefix", "")}
            yield FrameRecord(
                frame=_scene(f"{name}/{fr['frame-no']}", fr["frame"], meta, fw, name, int(fr["frame-no"]))
            )
