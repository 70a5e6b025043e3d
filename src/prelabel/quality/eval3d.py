"""``prelabel eval --3d``: ground truth and 3D pre-labels paired by frame, brought into one frame, and scored.

Ground truth in KITTI's rectified camera frame (``Box3D(frame="camera")``, from the KITTI reader) and detections in
the LiDAR frame (``"lidar"``/``"velodyne"``) meet in the camera frame through ``meta["rect_from_lidar"]`` of the
detection's (or ground truth's) frame; boxes already in the same frame are compared as they are. Class names are
matched case-insensitively through :data:`CLASS_NAMES` (COCO ``person`` is KITTI ``Pedestrian``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from prelabel.core.geometry import boxes3d as b3
from prelabel.core.geometry import transforms as tf
from prelabel.core.labels import FrameRecord, Label
from prelabel.errors import PrelabelError
from prelabel.quality import ap3d

CLASS_NAMES = {
    "car": "Car",
    "van": "Van",
    "truck": "Truck",
    "pedestrian": "Pedestrian",
    "person": "Pedestrian",
    "person_sitting": "Person_sitting",
    "cyclist": "Cyclist",
    "tram": "Tram",
    "misc": "Misc",
    "dontcare": "DontCare",
}
LIDAR_FRAMES = ("lidar", "velodyne")
# (class, IoU) pairs KITTI reports; the first of each class is its "easy" threshold
KITTI_THRESHOLDS = (
    ("Car", 0.7),
    ("Car", 0.5),
    ("Pedestrian", 0.5),
    ("Pedestrian", 0.25),
    ("Cyclist", 0.5),
    ("Cyclist", 0.25),
)
NUSC_DISTANCES = (0.5, 1.0, 2.0, 4.0)


def canonical(name: str) -> str:
    return CLASS_NAMES.get(name.lower(), name)


def _box(label: Label, rect_from_lidar: Any, where: str) -> np.ndarray:
    assert label.box3d is not None
    b = label.box3d
    row = np.array([b.x, b.y, b.z, b.length, b.width, b.height, b.yaw])
    if b.frame == "camera":
        return b3.camera_to_zup(row)[0]
    if b.frame in LIDAR_FRAMES:
        if rect_from_lidar is None:
            raise PrelabelError(
                f"{where}: a {b.frame}-frame box meets camera-frame ground truth, but the frame has "
                "no meta.rect_from_lidar; expected a scene made by prelabel (KITTI calib)"
            )
        cam = tf.lidar_to_kitti_rect_boxes(row, rect_from_lidar)
        return b3.camera_to_zup(cam)[0]
    raise PrelabelError(f"{where}: 3D box in frame {b.frame!r}; expected 'camera' or 'lidar'")


def _same_frame(gt: FrameRecord, dt: FrameRecord) -> bool:
    frames = {lb.box3d.frame for r in (gt, dt) for lb in r.labels if lb.box3d is not None}
    return len(frames) <= 1


def frame_boxes(gt: FrameRecord, dt: FrameRecord) -> ap3d.FrameBoxes:
    """One frame's ground truth and detections as arrays in one z-up frame (camera axes x, z, -y for KITTI)."""
    rect = dt.frame.meta.get("rect_from_lidar") or gt.frame.meta.get("rect_from_lidar")
    same = _same_frame(gt, dt)

    def conv(lb: Label, where: str) -> np.ndarray:
        if same and lb.box3d is not None:
            b = lb.box3d
            return np.array([b.x, b.y, b.z, b.length, b.width, b.height, b.yaw])
        return _box(lb, rect, where)

    g_lbl = [lb for lb in gt.labels if lb.box3d is not None]
    d_lbl = [lb for lb in dt.labels if lb.box3d is not None]
    dontcare = np.array(
        [lb.box.xyxy for lb in gt.labels if canonical(lb.category) == "DontCare" and lb.box], dtype=np.float64
    ).reshape(-1, 4)
    d2 = [lb.attributes.get("box2d") or (list(lb.box.xyxy) if lb.box else None) for lb in d_lbl]
    in_dc = np.zeros(len(d_lbl), dtype=bool)
    for i, bx in enumerate(d2):
        if bx is not None and len(dontcare):
            iw = np.clip(np.minimum(bx[2], dontcare[:, 2]) - np.maximum(bx[0], dontcare[:, 0]), 0, None)
            ih = np.clip(np.minimum(bx[3], dontcare[:, 3]) - np.maximum(bx[1], dontcare[:, 1]), 0, None)
            area = max((bx[2] - bx[0]) * (bx[3] - bx[1]), 1e-9)
            in_dc[i] = bool(((iw * ih) / area > 0.5).any())
    return ap3d.FrameBoxes(
        gt_boxes=np.array([conv(lb, f"{gt.frame.id} {lb.id}") for lb in g_lbl]).reshape(-1, 7),
        gt_classes=[canonical(lb.category) for lb in g_lbl],
        gt_height_px=np.array([lb.box.height if lb.box else np.inf for lb in g_lbl], dtype=np.float64),
        gt_occluded=np.array([int(lb.attributes.get("occluded", 0)) for lb in g_lbl], dtype=np.int64),
        gt_truncated=np.array([float(lb.attributes.get("truncated", 0.0)) for lb in g_lbl], dtype=np.float64),
        det_boxes=np.array([conv(lb, f"{dt.frame.id} {lb.id}") for lb in d_lbl]).reshape(-1, 7),
        det_classes=[canonical(lb.category) for lb in d_lbl],
        det_scores=np.array([lb.score if lb.score is not None else 1.0 for lb in d_lbl], dtype=np.float64),
        det_height_px=np.array([(b[3] - b[1]) if b is not None else np.inf for b in d2], dtype=np.float64),
        det_in_dontcare=in_dc,
    )


def pair(gt: Sequence[FrameRecord], dt: Sequence[FrameRecord]) -> list[ap3d.FrameBoxes]:
    """Frames present in both, paired by frame id (ground-truth frames with no detections count with none)."""
    by_id = {r.frame.id: r for r in dt if r.status == "ok"}
    if gt and not any(g.frame.id in by_id for g in gt):
        raise PrelabelError(
            f"no frame of the labels matches the ground truth; expected frame ids like {gt[0].frame.id!r}, "
            f"got {sorted(by_id)[:3]}"
        )
    out = []
    for g in gt:
        d = by_id.get(g.frame.id) or FrameRecord(frame=g.frame, labels=[])
        out.append(frame_boxes(g, d))
    return out


def evaluate3d(gt: Sequence[FrameRecord], dt: Sequence[FrameRecord], difficulty: str = "moderate") -> dict[str, Any]:
    """Every figure of ``prelabel eval --3d`` as a dict (percentages for AP and shares, metres and radians)."""
    frames = pair(gt, dt)
    rows = []
    for cls, iou in KITTI_THRESHOLDS:
        bev, _ = ap3d.kitti_ap(frames, cls, iou, bev=True, difficulty=difficulty)
        ap3, curve = ap3d.kitti_ap(frames, cls, iou, bev=False, difficulty=difficulty)
        if curve.n_gt == 0:
            continue
        rows.append({"class": cls, "iou": iou, "bev_ap": _pct(bev), "ap_3d": _pct(ap3), "ground_truth": curve.n_gt})
    nusc = {}
    for cls in ("Car", "Pedestrian", "Cyclist"):
        aps = [ap3d.nuscenes_ap(frames, cls, d)[0] for d in NUSC_DISTANCES]
        if aps[0] is not None:
            nusc[cls] = {
                "mean": _pct(float(np.mean([a or 0.0 for a in aps]))),
                **{f"{d:g}m": _pct(a) for d, a in zip(NUSC_DISTANCES, aps, strict=True)},
            }
    errors = {}
    for cls in ("Car", "Pedestrian", "Cyclist"):
        _, curve = ap3d.nuscenes_ap(frames, cls, 2.0)
        if curve.n_gt:
            errors[cls] = ap3d.box_errors(curve.pairs)
    no_edit = {c: _pct(ap3d.no_edit_share(frames, c, iou)) for c, iou in (("Car", 0.7), ("Pedestrian", 0.5))}
    return {"difficulty": difficulty, "kitti": rows, "nuscenes": nusc, "errors": errors, "no_edit": no_edit}


def _pct(v: float | None) -> float | None:
    return None if v is None else round(100.0 * v, 2)
