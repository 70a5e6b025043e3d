"""Oriented boxes around a cluster's bird's-eye-view points: L-shape search, size priors, extension.

:func:`lshape_yaw` searches the heading that best explains the points as seen from the sensor, with the closeness
criterion of Zhang et al. (2017, "Efficient L-shape fitting for vehicle detection using laser scanners"): for each
candidate angle the points are written in the rotated axes and scored by how close they lie to the nearest edge of
their bounding rectangle. :func:`fit_box` turns the rectangle into a box, decides which side is the length, then
applies the class's size prior: a side seen shorter than the prior (the object's far side is hidden) grows *away from
the sensor*, keeping the visible corner fixed; a side seen longer than the maximum is cut from the far side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
#: One stage of the image refinement's grid: (yaw in degrees, shift along the box in m, shift across it in m), each
#: as (span either side, step).
Stage = tuple[tuple[float, float], tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class SizePrior:
    length: float
    width: float
    height: float
    max_length: float
    max_width: float
    min_height: float
    max_height: float
    min_length: float = 0.0  # shortest seen: free space never cuts a box below it


# typical sizes (m): KITTI training means for Car/Pedestrian/Cyclist; COCO vehicle classes from nuScenes' means.
# min_length: the shortest car among the 89 car tracks of KITTI tracking sequence 0001 (2.78 m; held out from the
# object frames the benchmark scores); for trucks and buses a short van / a midibus.
PRIORS: dict[str, SizePrior] = {
    "car": SizePrior(3.9, 1.6, 1.53, 5.2, 2.0, 1.3, 1.9, min_length=2.8),
    "truck": SizePrior(6.5, 2.5, 2.8, 12.0, 3.0, 2.0, 4.0, min_length=4.5),
    "bus": SizePrior(11.0, 2.9, 3.4, 14.0, 3.2, 2.6, 4.2, min_length=7.0),
    "pedestrian": SizePrior(0.84, 0.66, 1.76, 1.2, 1.0, 1.0, 2.1),
    "cyclist": SizePrior(1.76, 0.6, 1.74, 2.2, 1.0, 1.2, 2.1),
}


def lshape_yaw(xy: npt.ArrayLike, step_deg: float = 1.0) -> float:
    """Best rectangle orientation in [0, pi/2) for points ``(N, 2)`` (closeness criterion)."""
    p = np.asarray(xy, dtype=np.float64)[:, :2]
    if len(p) < 3:
        return 0.0
    th = np.radians(np.arange(0.0, 90.0, step_deg))
    c, s = np.cos(th), np.sin(th)
    a = p[:, 0:1] * c + p[:, 1:2] * s  # (N, T) along e1
    b = -p[:, 0:1] * s + p[:, 1:2] * c  # along e2
    da = np.minimum(a.max(0) - a, a - a.min(0))
    db = np.minimum(b.max(0) - b, b - b.min(0))
    d = np.maximum(np.minimum(da, db), 0.01)
    score = (1.0 / d).sum(axis=0)
    return float(th[int(np.argmax(score))])


def _grow(lo: float, hi: float, want: float, limit: float, toward_far: int) -> tuple[float, float]:
    """Resize the interval [lo, hi] to ``want`` when shorter or ``limit`` when longer, moving its far end.

    ``toward_far`` is +1 when the far side from the sensor is ``hi``, -1 when it is ``lo``."""
    size = hi - lo
    target = want if size < want else (limit if size > limit else size)
    if toward_far > 0:
        return lo, lo + target
    return hi - target, hi


def fit_box(
    xyz: npt.ArrayLike,
    ground_z: float,
    prior: SizePrior | None,
    *,
    sensor: tuple[float, float] = (0.0, 0.0),
    yaw: float | None = None,
    trim: float = 2.0,
) -> F64:
    """A ``(7,)`` box (x y z l w h yaw, z-up frame) around ``(N, 3)`` points standing on ``ground_z``."""
    p = np.asarray(xyz, dtype=np.float64)[:, :3]
    if prior is not None and prior.length <= 1.0:
        return _small_box(p, ground_z, prior, np.asarray(sensor, dtype=np.float64))
    th = lshape_yaw(p[:, :2]) if yaw is None else yaw
    e1 = np.array([np.cos(th), np.sin(th)])
    e2 = np.array([-np.sin(th), np.cos(th)])
    rel = p[:, :2] - np.asarray(sensor)
    a, b = rel @ e1, rel @ e2
    q = (0.0, 100.0) if len(p) < 20 else (trim, 100.0 - trim)  # robust extents: stray points do not stretch it
    a_lo, a_hi = np.percentile(a, q)
    b_lo, b_hi = np.percentile(b, q)
    centre_ray = np.array([(a_lo + a_hi) / 2, (b_lo + b_hi) / 2])
    ray = centre_ray / max(np.linalg.norm(centre_ray), 1e-9)  # viewing direction in (e1, e2) axes
    len_a, len_b = a_hi - a_lo, b_hi - b_lo
    if prior is not None and max(len_a, len_b) < 0.8 * prior.length and abs(ray[0]) != abs(ray[1]):
        # both sides short: the length is the side that runs away from the sensor (seen end-on)
        a_is_length = abs(ray[0]) > abs(ray[1])
    else:
        a_is_length = len_a >= len_b
    top = float(p[:, 2].max())
    if prior is not None:
        want_a, lim_a = (prior.length, prior.max_length) if a_is_length else (prior.width, prior.max_width)
        want_b, lim_b = (prior.width, prior.max_width) if a_is_length else (prior.length, prior.max_length)
        a_lo, a_hi = _grow(a_lo, a_hi, want_a, lim_a, 1 if ray[0] >= 0 else -1)
        b_lo, b_hi = _grow(b_lo, b_hi, want_b, lim_b, 1 if ray[1] >= 0 else -1)
        height = float(np.clip(max(top - ground_z, prior.height), prior.min_height, prior.max_height))
    else:
        height = max(top - ground_z, 0.1)
    ca, cb = (a_lo + a_hi) / 2, (b_lo + b_hi) / 2
    centre = np.asarray(sensor) + ca * e1 + cb * e2
    length, width = (a_hi - a_lo, b_hi - b_lo) if a_is_length else (b_hi - b_lo, a_hi - a_lo)
    heading = th if a_is_length else th + np.pi / 2
    # front/back is unobservable from one sweep: point the heading away from the sensor
    h = np.array([np.cos(heading), np.sin(heading)])
    if h @ (centre - np.asarray(sensor)) < 0:
        heading += np.pi
    heading = (heading + np.pi) % (2 * np.pi) - np.pi
    return np.array([centre[0], centre[1], ground_z + height / 2, length, width, height, heading])


def _small_box(p: F64, ground_z: float, prior: SizePrior, sensor: F64) -> F64:
    """Pedestrian-sized objects: no usable outline, so the prior's footprint is centred behind the visible surface
    (the points' median, moved half a width away from the sensor), facing along the viewing ray."""
    c = np.median(p[:, :2], axis=0)
    ray = c - sensor
    dist = max(float(np.linalg.norm(ray)), 1e-9)
    c = c + ray / dist * prior.width / 4
    height = float(np.clip(max(p[:, 2].max() - ground_z, prior.height), prior.min_height, prior.max_height))
    yaw = float(np.arctan2(ray[1], ray[0]))
    return np.array([c[0], c[1], ground_z + height / 2, prior.length, prior.width, height, yaw])


def refine_with_image(
    box: npt.ArrayLike,
    xyz: npt.ArrayLike,
    K: npt.ArrayLike,
    camera_from_lidar: npt.ArrayLike,
    box2d: tuple[float, float, float, float],
    image_size: tuple[int, int] | None,
    *,
    point_weight: float = 2.0,
    max_points: int = 64,
    stages: tuple[Stage, ...] = (((8.0, 1.0), (0.6, 0.1), (0.2, 0.1)),),
    sizes: tuple[tuple[float, float], ...] = (),
) -> tuple[F64, float, float]:
    """Search yaw and centre near a fitted box for the pose whose projection best fills the 2D detection while the
    points stay on the box's faces: score = IoU(projected rectangle, 2D box) - ``point_weight`` x (mean distance of
    the points to the box outline, capped at 0.5 m, plus the share of points outside). Size is kept.

    Coarse to fine: yaw within 8 degrees in 2 degree steps and centre shifts of 0.6 m along / 0.3 m across the box
    in 0.2 m steps, then 0.5 degree and 0.05 m steps around the best. Parts of the projection outside the image are
    clipped, as the detector saw only the image. At most ``max_points`` points are used (evenly subsampled).
    Returns the box, the IoU of its projection with the 2D box, and the point cost (m + share outside)."""
    p = np.asarray(xyz, dtype=np.float64)[:, :2]
    if len(p) > max_points:
        p = p[np.linspace(0, len(p) - 1, max_points).astype(int)]
    b = np.asarray(box, dtype=np.float64).reshape(7)
    seen = _Seen(p, np.asarray(K, dtype=np.float64), np.asarray(camera_from_lidar, dtype=np.float64), box2d, image_size)
    iou, cost = 0.0, 1.0
    for stage in stages:
        b, iou, cost = _search(b, seen, stage, point_weight)
    if sizes:
        b, iou, cost = _search(b, seen, _SIZE_STAGE, point_weight, sizes)
    b[6] = (b[6] + np.pi) % (2 * np.pi) - np.pi
    return b, iou, cost


class _Seen(NamedTuple):
    """What a candidate pose is scored against: the BEV points ``p`` (N, 2), the camera (``k`` intrinsics,
    ``m`` camera_from_lidar), the 2D detection ``box2d`` (x1 y1 x2 y2 px) and the image's size (None: unclipped)."""

    p: F64
    k: F64
    m: F64
    box2d: tuple[float, float, float, float]
    image_size: tuple[int, int] | None


#: The grid each candidate size is searched on (after the stages, around their best pose).
_SIZE_STAGE: Stage = ((1.0, 1.0), (0.2, 0.1), (0.1, 0.1))


def _search(
    b0: F64, seen: _Seen, stage: Stage, point_weight: float, sizes: tuple[tuple[float, float], ...] = ()
) -> tuple[F64, float, float]:
    """The best of every (size, yaw, shift along, shift across) candidate around ``b0``, sizes outermost."""
    best: tuple[F64, float, float] | None = None
    best_score = -np.inf
    for length, width in sizes or ((float(b0[3]), float(b0[4])),):
        b = b0.copy()
        b[3], b[4] = length, width
        cand, iou, cost = _grid(b, seen, stage)
        score = iou - point_weight * cost
        i = int(np.argmax(score))
        if score[i] > best_score:
            best, best_score = (cand[i], float(iou[i]), float(cost[i])), float(score[i])
    assert best is not None
    return best


def _grid(b0: F64, seen: _Seen, stage: Stage) -> tuple[F64, F64, F64]:
    """Candidates ``(Y*A*B, 7)`` (yaw outermost, then along, then across), the IoU of each one's projected
    rectangle with ``box2d`` and each one's point cost. Computed as translation + rotated corner offsets, so the
    corners of the Y*A*B boxes cost Y rotations and A*B translations."""
    p, k, m, box2d, image_size = seen
    yaw_deg, along, across = stage

    def steps(span: float, step: float) -> F64:
        return np.arange(-span, span + 1e-9, step)

    yaws = b0[6] + np.radians(steps(*yaw_deg))
    grid_a, grid_b = np.meshgrid(steps(*along), steps(*across), indexing="ij")
    da, db = grid_a.ravel(), grid_b.ravel()
    c0, s0 = np.cos(b0[6]), np.sin(b0[6])  # shifts along the box's own axes
    cx = b0[0] + da * c0 - db * s0  # (T,)
    cy = b0[1] + da * s0 + db * c0
    ny, nt = len(yaws), len(da)
    cand = np.tile(b0, (ny * nt, 1))
    cand[:, 0] = np.tile(cx, ny)
    cand[:, 1] = np.tile(cy, ny)
    cand[:, 6] = np.repeat(yaws, nt)
    # 2D term: camera coordinates = R (centre + rotated offset) + t, split into the two sums
    cyw, syw = np.cos(yaws), np.sin(yaws)
    from prelabel.core.geometry.boxes3d import corners

    local = corners(np.r_[0.0, 0.0, 0.0, b0[3:6], 0.0])[0]  # (8, 3) corner offsets of the unturned box
    off = np.stack(
        [
            local[None, :, 0] * cyw[:, None] - local[None, :, 1] * syw[:, None],
            local[None, :, 0] * syw[:, None] + local[None, :, 1] * cyw[:, None],
            np.broadcast_to(local[None, :, 2], (ny, 8)),
        ],
        axis=-1,
    )  # (Y, 8, 3)
    rot = m[:3, :3]
    centres = np.stack([cx, cy, np.full(nt, b0[2])], axis=1) @ rot.T + m[:3, 3]  # (T, 3)
    cam = (centres[None, :, None, :] + (off @ rot.T)[:, None, :, :]).reshape(ny * nt, 8, 3)
    depth_ok = (cam[..., 2] > 0.3).all(axis=1)
    h = cam @ k.T
    uv = h[..., :2] / np.maximum(h[..., 2:3], 1e-6)
    x1, y1, x2, y2 = uv[..., 0].min(1), uv[..., 1].min(1), uv[..., 0].max(1), uv[..., 1].max(1)
    if image_size is not None:
        x1, x2 = np.clip(x1, 0, image_size[0]), np.clip(x2, 0, image_size[0])
        y1, y2 = np.clip(y1, 0, image_size[1]), np.clip(y2, 0, image_size[1])
    bx1, by1, bx2, by2 = box2d
    inter = np.clip(np.minimum(x2, bx2) - np.maximum(x1, bx1), 0, None)
    inter = inter * np.clip(np.minimum(y2, by2) - np.maximum(y1, by1), 0, None)
    union = (x2 - x1) * (y2 - y1) + (bx2 - bx1) * (by2 - by1) - inter
    iou = np.where(depth_ok & (union > 0), inter / np.maximum(union, 1e-9), 0.0)
    # point term: distance of each point to the candidate's outline in bird's-eye view (float32: speed);
    # a point's coordinate along a candidate's axis = (point . axis) - (centre . axis)
    p32 = p[:, :2].astype(np.float32)
    ex = np.stack([cyw, syw], axis=1).astype(np.float32)  # (Y, 2) heading axes
    ey = np.stack([-syw, cyw], axis=1).astype(np.float32)
    ctr = np.stack([cx, cy], axis=1).astype(np.float32)  # (T, 2)
    pa = (ex @ p32.T)[:, None, :] - (ctr @ ex.T).T[:, :, None]  # (Y, T, P)
    pb = (ey @ p32.T)[:, None, :] - (ctr @ ey.T).T[:, :, None]
    lx = (np.abs(pa) - np.float32(b0[3] / 2)).reshape(ny * nt, -1)
    ly = (np.abs(pb) - np.float32(b0[4] / 2)).reshape(ny * nt, -1)
    ox, oy = np.maximum(lx, 0), np.maximum(ly, 0)
    outside = (ox + oy) > 0
    d = np.where(outside, np.sqrt(ox * ox + oy * oy), np.minimum(-lx, -ly))
    cost = np.minimum(d, 0.5).mean(axis=1, dtype=np.float64) + outside.mean(axis=1)
    return cand, iou, cost
