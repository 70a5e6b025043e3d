"""A vehicle's sensor rig: where each sensor frame sits in the rig's root frame, from a bag's ``/tf_static`` or a
URDF's fixed joints, and the turn from that root to prelabel's vehicle frame (x forward, y left, z up).

A rig is ``{frame: root_from_frame}`` (4x4, metres). Frames with no parent are roots (identity). Ford's URDF and
``/tf_static`` hang every sensor off ``body``, an x-forward, y-right, z-down frame; prelabel's ``ego`` frame is
x-forward, y-left, z-up (docs/schema.md). :func:`vehicle_from_root` tells them apart from the LiDARs themselves:
a spinning LiDAR is mounted upright, so when the LiDARs' own z axes point down the root's z (mean below -0.5), the
root is z-down and the vehicle frame is the root turned half a turn about x.

A rig given outside the bag (:func:`load_rig`) is a URDF, or ``geometry_msgs/TransformStamped`` YAML files
(``header.frame_id``, ``child_frame_id``, ``transform.translation`` / ``rotation``: the calibration files Ford's
``ford_demo/scripts/extrinsics_broadcaster.py`` publishes), one file or a folder of them. Camera intrinsics given
outside the bag (:func:`camera_info_yaml`) are ROS calibration YAML files (``camera_calibration_parsers``:
``image_width``, ``image_height``, ``camera_matrix``, ``distortion_model``, ``distortion_coefficients``,
``rectification_matrix``, ``projection_matrix``, each matrix as ``{rows, cols, data}``).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.scene import Pose
from prelabel.errors import InputNotFoundError, UnreadableInputError

F64 = npt.NDArray[np.float64]
TF_STATIC = "/tf_static"
FLU_FROM_FRD: F64 = np.diag([1.0, -1.0, -1.0, 1.0])  # x forward, y right, z down -> x forward, y left, z up


def _rpy(roll: float, pitch: float, yaw: float) -> F64:
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch), math.cos(yaw),
                              math.sin(yaw))  # fmt: skip
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _chain(edges: dict[str, tuple[str, F64]]) -> dict[str, F64]:
    """``child -> (parent, parent_from_child)`` edges to ``frame -> root_from_frame`` (roots map to identity)."""
    out: dict[str, F64] = {}

    def resolve(f: str, depth: int = 0) -> F64:
        if f in out:
            return out[f]
        if f not in edges or depth > 64:
            out[f] = np.eye(4)
            return out[f]
        parent, m = edges[f]
        out[f] = resolve(parent, depth + 1) @ m
        return out[f]

    for f in list(edges):
        resolve(f)
    return out


def rig_from_urdf(path: str | Path) -> dict[str, F64]:
    """``link -> root_from_link`` (4x4) from a URDF's fixed joints (``origin xyz``, ``rpy`` = roll pitch yaw)."""
    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(str(p), "URDF")
    try:
        root = ET.parse(p).getroot()
    except ET.ParseError as e:
        raise UnreadableInputError(str(p), f"expected URDF XML; {e}") from e
    edges: dict[str, tuple[str, F64]] = {}
    for joint in root.iter("joint"):
        parent, child, origin = joint.find("parent"), joint.find("child"), joint.find("origin")
        if parent is None or child is None:
            continue
        m = np.eye(4)
        if origin is not None:
            m[:3, 3] = [float(v) for v in origin.get("xyz", "0 0 0").split()]
            m[:3, :3] = _rpy(*(float(v) for v in origin.get("rpy", "0 0 0").split()))
        edges[child.get("link", "")] = (parent.get("link", ""), m)
    return _chain(edges)


def rig_from_tf(messages: Sequence[Any]) -> dict[str, F64]:
    """``frame -> root_from_frame`` from ``tf2_msgs/TFMessage`` messages (``/tf_static``)."""
    edges: dict[str, tuple[str, F64]] = {}
    for msg in messages:
        for tr in msg.transforms:
            q, t = tr.transform.rotation, tr.transform.translation
            m = Pose(rotation=[q.w, q.x, q.y, q.z], translation=[t.x, t.y, t.z]).matrix()
            edges[str(tr.child_frame_id).lstrip("/")] = (str(tr.header.frame_id).lstrip("/"), m)
    return _chain(edges)


def rig_from_yaml(path: str | Path) -> dict[str, F64]:
    """``frame -> root_from_frame`` from TransformStamped YAML files (a file, or every ``*.yaml`` of a folder)."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise InputNotFoundError(str(p), "rig (TransformStamped YAML file or folder)")
    files = sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml")) if p.is_dir() else [p]
    edges: dict[str, tuple[str, F64]] = {}
    for f in files:
        try:
            d = yaml.safe_load(f.read_text("utf-8"))
            if not isinstance(d, dict) or "transform" not in d or "child_frame_id" not in d:
                continue  # not a transform (e.g. an intrinsics file in the same folder)
            t, q = d["transform"]["translation"], d["transform"]["rotation"]
            m = Pose(rotation=[q["w"], q["x"], q["y"], q["z"]], translation=[t["x"], t["y"], t["z"]]).matrix()
            edges[str(d["child_frame_id"]).lstrip("/")] = (str(d["header"]["frame_id"]).lstrip("/"), m)
        except (yaml.YAMLError, KeyError, TypeError, ValueError, UnicodeDecodeError) as e:
            raise UnreadableInputError(
                str(f), f"expected a TransformStamped YAML (header.frame_id, child_frame_id, transform): {e}"
            ) from e
    if not edges:
        raise UnreadableInputError(str(p), "no TransformStamped YAML (header.frame_id, child_frame_id, transform)")
    return _chain(edges)


def load_rig(path: str | Path) -> dict[str, F64]:
    """A rig given outside the bag: a URDF (``*.urdf``, ``*.xml``) or TransformStamped YAML (file or folder)."""
    p = Path(path)
    if p.suffix.lower() in (".urdf", ".xml"):
        return rig_from_urdf(p)
    return rig_from_yaml(p)


def camera_info_yaml(path: str | Path) -> Any:
    """A :class:`~prelabel.core.labels.CameraCalibration` (and image size) from a ROS calibration YAML file."""
    import yaml

    from prelabel.core.labels import CameraCalibration

    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError(str(p), "camera calibration YAML")

    def mat(d: dict[str, Any], key: str, rows: int, cols: int) -> list[list[float]] | None:
        if key not in d:
            return None
        data = [float(v) for v in d[key]["data"]]
        if len(data) != rows * cols:
            raise ValueError(f"{key} has {len(data)} numbers; expected {rows}x{cols}")
        return [data[r * cols : (r + 1) * cols] for r in range(rows)]

    try:
        d = yaml.safe_load(p.read_text("utf-8"))
        k = mat(d, "camera_matrix", 3, 3)
        if k is None:
            raise KeyError("camera_matrix")
        dist = d.get("distortion_coefficients", {}).get("data", [])
        return CameraCalibration(
            K=k,
            P=mat(d, "projection_matrix", 3, 4),
            R=mat(d, "rectification_matrix", 3, 3),
            D=[float(v) for v in dist],
            distortion_model=d.get("distortion_model"),
        ), (int(d["image_width"]), int(d["image_height"])) if "image_width" in d else None
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError, UnicodeDecodeError) as e:
        raise UnreadableInputError(
            str(p), f"expected a ROS calibration YAML (camera_matrix {{rows, cols, data}}, projection_matrix ...): {e}"
        ) from e


def bag_rig(reader: Any, urdf: str | Path | None = None) -> dict[str, F64]:
    """The rig of an open ``rosbags`` ``AnyReader``: from ``urdf`` (a URDF or TransformStamped YAML, see
    :func:`load_rig`) when given, else from its ``/tf_static`` (empty when it has none)."""
    if urdf is not None:
        return load_rig(urdf)
    conns = [c for c in reader.connections if c.topic == TF_STATIC]
    if not conns:  # (an empty list would make rosbags read every connection)
        return {}
    return rig_from_tf([reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(connections=conns)])


def vehicle_from_root(rig: dict[str, F64], lidar_frames: Iterable[str]) -> F64:
    """The turn from the rig's root to the x-forward, y-left, z-up vehicle frame (see the module docstring):
    :data:`FLU_FROM_FRD` when the LiDARs' z axes point down the root's z, else the identity."""
    ups = [rig[f][2, 2] for f in lidar_frames if f in rig]
    return FLU_FROM_FRD.copy() if ups and float(np.mean(ups)) < -0.5 else np.eye(4)
