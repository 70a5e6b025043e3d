"""A vehicle's sensor rig: where each sensor frame sits in the rig's root frame, from a bag's ``/tf_static`` or a
URDF's fixed joints, and the turn from that root to prelabel's vehicle frame (x forward, y left, z up).

A rig is ``{frame: root_from_frame}`` (4x4, metres). Frames with no parent are roots (identity). Ford's URDF and
``/tf_static`` hang every sensor off ``body``, an x-forward, y-right, z-down frame; prelabel's ``ego`` frame is
x-forward, y-left, z-up (docs/schema.md). :func:`vehicle_from_root` tells them apart from the LiDARs themselves:
a spinning LiDAR is mounted upright, so when the LiDARs' own z axes point down the root's z (mean below -0.5), the
root is z-down and the vehicle frame is the root turned half a turn about x.
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


def bag_rig(reader: Any, urdf: str | Path | None = None) -> dict[str, F64]:
    """The rig of an open ``rosbags`` ``AnyReader``: from ``urdf`` when given, else from its ``/tf_static``
    (empty when it has none)."""
    if urdf is not None:
        return rig_from_urdf(urdf)
    conns = [c for c in reader.connections if c.topic == TF_STATIC]
    return rig_from_tf([reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(connections=conns)])


def vehicle_from_root(rig: dict[str, F64], lidar_frames: Iterable[str]) -> F64:
    """The turn from the rig's root to the x-forward, y-left, z-up vehicle frame (see the module docstring):
    :data:`FLU_FROM_FRD` when the LiDARs' z axes point down the root's z, else the identity."""
    ups = [rig[f][2, 2] for f in lidar_frames if f in rig]
    return FLU_FROM_FRD.copy() if ups and float(np.mean(ups)) < -0.5 else np.eye(4)
