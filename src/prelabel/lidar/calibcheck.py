"""Calibration check: do LiDAR depth edges meet image edges, and which small camera-from-LiDAR correction fits best?

Method (after Levinson & Thrun, "Automatic Online Calibration of Cameras and Lasers", RSS 2013):

- depth discontinuities: walking each scan ring in firing order, a point nearer than a neighbour by more than
  ``min_jump`` metres is an edge point, weighted by ``sqrt(jump)``;
- image edges: gradient magnitude of the grey image, spread by an inverse distance transform
  ``D = a*E + (1-a) * max_q E(q) * gamma**chebyshev(p, q)`` so that a near miss still scores;
- score: the weighted mean of ``D`` at the projected edge points, summed over frames (several frames jointly make
  the optimum sharp where one frame has few edges);
- refine: a correction ``delta`` (rotation vector and translation, in the camera frame) applied as
  ``camera_from_lidar' = delta @ camera_from_lidar``, found by coordinate hill-climbing, coarse to fine;
- flag: the given calibration is flagged when the refined correction rotates by more than ``flag_deg`` or moves
  by more than ``flag_m``.

Frames and units: LiDAR points in the LiDAR frame (metres), ``K`` in pixels, the camera frame x right, y down,
z forward (docs/schema.md).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.scene import CameraView
from prelabel.errors import PrelabelError, UnreadableInputError

F64 = npt.NDArray[np.float64]


@dataclass
class CalibFrame:
    """One sweep with one camera image and the calibration to check."""

    name: str
    points: F64  # (N, 3) LiDAR frame, in firing order (as the sensor wrote them)
    gray: npt.NDArray[np.float32]  # (H, W) grey image, 0..1
    K: F64  # (3, 3) pixels
    camera_from_lidar: F64  # (4, 4)


@dataclass
class Prepared:
    """A frame reduced to what the search needs: edge points in the given camera frame and the edge field."""

    name: str
    pts_cam: F64  # (M, 3) edge points in the (given) camera frame
    weight: F64  # (M,)
    field: npt.NDArray[np.float32]  # (H, W) fine edge field
    K: F64
    coarse: npt.NDArray[np.float32]  # (H/2, W/2) wide edge field for the coarse levels


@dataclass
class CalibResult:
    """What the check found. ``delta`` maps the given camera frame to the refined one."""

    delta: F64
    rotation_deg: float
    translation_m: float
    score_given: float
    score_refined: float
    flagged: bool
    frames: list[str] = field(default_factory=list)
    evaluations: int = 0

    def refined(self, camera_from_lidar: F64) -> F64:
        return self.delta @ camera_from_lidar


# ---- small rotation helpers (private; core.scene.Pose has the quaternion ones) ----


def rotvec_matrix(rv: npt.ArrayLike) -> F64:
    """Rodrigues: a rotation vector (radians) to a 3x3 rotation."""
    v = np.asarray(rv, dtype=np.float64)
    th = float(np.linalg.norm(v))
    if th < 1e-12:
        return np.eye(3)
    k = v / th
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(th) * kx + (1 - math.cos(th)) * (kx @ kx)


def rigid(rv: npt.ArrayLike, t: npt.ArrayLike) -> F64:
    m = np.eye(4)
    m[:3, :3] = rotvec_matrix(rv)
    m[:3, 3] = np.asarray(t, dtype=np.float64)
    return m


def rotation_angle_deg(m: F64) -> float:
    c = (float(np.trace(m[:3, :3])) - 1.0) / 2.0
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


# ---- KITTI calibration: the scene reader's parser (sources.scenes.kitti), errors as unreadable input ----


def kitti_camera(calib_path: str | Path, camera: str = "image_2") -> tuple[F64, F64]:
    """``(K, camera_from_lidar)`` for a KITTI object calib file: ``P = K [I | t]``, ``R0_rect @ Tr_velo_to_cam``
    (parsed by :func:`prelabel.sources.scenes.kitti.parse_calib` and ``rect_from_lidar``)."""
    from prelabel.sources.scenes.kitti import CalibrationError, parse_calib, rect_from_lidar

    index = {"image_0": "P0", "image_1": "P1", "image_2": "P2", "image_3": "P3"}
    if camera not in index:
        raise PrelabelError(f"unknown KITTI camera {camera!r}; expected one of: {', '.join(index)}")
    path = Path(calib_path)
    try:
        rows = parse_calib(path)
        p = rows.get(index[camera])
        if p is None or p.size != 12 or not np.all(np.isfinite(p)):
            raise CalibrationError(
                str(path), f"expected {index[camera]} as 12 finite numbers; got {None if p is None else p.size}"
            )
        rect = rect_from_lidar(rows, str(path))
    except (CalibrationError, OSError, UnicodeDecodeError) as e:
        reason = str(e).removeprefix(f"{path}: ")
        raise UnreadableInputError(str(path), f"expected a KITTI calib file (KEY: numbers); {reason}") from e
    k = p.reshape(3, 4)[:, :3]
    if abs(np.linalg.det(k)) < 1e-9:
        raise UnreadableInputError(str(path), f"{index[camera]} has a singular 3x3 part")
    shift = np.eye(4)
    shift[:3, 3] = np.linalg.solve(k, p.reshape(3, 4)[:, 3])
    return k, shift @ rect


def kitti_ids(spec: str) -> list[str]:
    """``"000000-000019"`` or ``"000000,000003"`` (or a mix) to a list of six-digit KITTI frame ids."""
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise PrelabelError(f"bad frame list {spec!r}: expected ids like 000000-000019 or 000000,000005")
        out.extend(f"{i:06d}" for i in range(int(lo), int(hi or lo) + 1))
    if not out:
        raise PrelabelError(f"bad frame list {spec!r}: expected at least one id")
    return out


def perturbation(deg: float, metres: float, seed: int = 0) -> F64:
    """A rigid transform rotating by ``deg`` about a random axis and moving ``metres`` in a random direction."""
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=3)
    step = rng.normal(size=3)
    return rigid(axis / np.linalg.norm(axis) * math.radians(deg), step / np.linalg.norm(step) * metres)


def perturbed(p: Prepared, delta: F64) -> Prepared:
    """The same frame as if its calibration were ``delta @ camera_from_lidar``."""
    return Prepared(p.name, p.pts_cam @ delta[:3, :3].T + delta[:3, 3], p.weight, p.field, p.K, p.coarse)


def load_kitti_frame(root: str | Path, frame_id: str, camera: str = "image_2") -> CalibFrame:
    """A KITTI object frame: ``velodyne/ID.bin`` (or ``velodyne_reduced``), ``image_2/ID.png``, ``calib/ID.txt``."""
    from PIL import Image

    base = Path(root)
    bin_path = base / "velodyne" / f"{frame_id}.bin"
    if not bin_path.exists():
        bin_path = base / "velodyne_reduced" / f"{frame_id}.bin"
    img_path = base / camera / f"{frame_id}.png"
    for p in (bin_path, img_path, base / "calib" / f"{frame_id}.txt"):
        if not p.exists():
            raise UnreadableInputError(str(p), "file not found (expected a KITTI object layout)")
    raw = np.fromfile(bin_path, dtype=np.float32)
    if raw.size % 4:
        raise UnreadableInputError(str(bin_path), f"expected float32 x y z intensity (4 per point); got {raw.size}")
    pts = raw.reshape(-1, 4)[:, :3].astype(np.float64)
    if not np.all(np.isfinite(pts)):
        raise UnreadableInputError(str(bin_path), "expected finite coordinates; got NaN or inf")
    gray = np.asarray(Image.open(img_path).convert("L"), dtype=np.float32) / 255.0
    k, cfl = kitti_camera(base / "calib" / f"{frame_id}.txt", camera)
    return CalibFrame(name=frame_id, points=pts, gray=gray, K=k, camera_from_lidar=cfl)


def frame_from_view(name: str, points: npt.ArrayLike, view: CameraView) -> CalibFrame:
    """A check frame from a scene's sweep (LiDAR frame, firing order, >= 3 columns) and one of its cameras."""
    from PIL import Image

    from prelabel import storage

    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 3 or not np.all(np.isfinite(pts[:, :3])):
        raise UnreadableInputError(name, f"expected finite (N, >=3) LiDAR points; got shape {pts.shape}")
    try:
        img = Image.open(io.BytesIO(storage.read_bytes(view.uri))).convert("L")
    except (OSError, ValueError) as e:
        raise UnreadableInputError(view.uri, f"expected an image for camera {view.name}; {e}") from e
    gray = np.asarray(img, dtype=np.float32) / 255.0
    return CalibFrame(
        name=f"{name}/{view.name}",
        points=pts[:, :3],
        gray=gray,
        K=np.asarray(view.K, dtype=np.float64),
        camera_from_lidar=view.camera_from_lidar.matrix(),
    )


# ---- features ----


def depth_edges(points: F64, min_jump: float = 0.3, max_gap_deg: float = 0.6) -> tuple[F64, F64]:
    """Edge points (nearer than a ring neighbour by ``min_jump`` m) and their weights ``sqrt(jump)``.

    Neighbours are consecutive points in firing order whose azimuths differ by less than ``max_gap_deg``
    (a ring change or a run of missing returns breaks the neighbourhood)."""
    if len(points) < 3:
        return np.zeros((0, 3)), np.zeros(0)
    r = np.linalg.norm(points[:, :3], axis=1)
    az = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
    daz = np.abs((np.diff(az) + 180.0) % 360.0 - 180.0)
    linked = daz < max_gap_deg  # i and i+1 are neighbours
    jump_next = np.zeros(len(points))
    jump_prev = np.zeros(len(points))
    jump_next[:-1] = np.where(linked, r[1:] - r[:-1], 0.0)
    jump_prev[1:] = np.where(linked, r[:-1] - r[1:], 0.0)
    jump = np.maximum(np.maximum(jump_next, jump_prev), 0.0)
    keep = (jump > min_jump) & (r > 1.0)
    return points[keep, :3], np.sqrt(np.minimum(jump[keep], 10.0))


def edge_field(
    gray: npt.NDArray[np.float32],
    gamma: float = 0.9,
    alpha: float = 1 / 3,
    radius: int = 30,
    sigma: float = 1.0,
    low_pct: float = 90.0,
    window: int = 41,
) -> npt.NDArray[np.float32]:
    """Image edges spread by an inverse distance transform, minus its local mean (about -1..1)."""
    from scipy import ndimage

    g = ndimage.gaussian_filter(gray.astype(np.float32), sigma)
    e = np.zeros_like(g)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):  # max abs difference to the 8 neighbours
        shifted = np.roll(np.roll(g, dy, axis=0), dx, axis=1)
        np.maximum(e, np.abs(g - shifted), out=e)
        np.maximum(e, np.abs(g - np.roll(np.roll(g, -dy, axis=0), -dx, axis=1)), out=e)
    e[:2, :] = e[-2:, :] = 0.0
    e[:, :2] = e[:, -2:] = 0.0
    lo, hi = (float(v) for v in np.percentile(e, [low_pct, 99.0]))
    e = np.clip((e - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    d = e.copy()
    g_ = np.float32(gamma)
    for _ in range(radius):
        spread = ndimage.maximum_filter(d, size=3) * g_
        if np.array_equal(np.maximum(d, spread), d):
            break
        np.maximum(d, spread, out=d)
    field_ = alpha * e + (1 - alpha) * d
    # minus the local mean: a point earns only for meeting an edge, not for landing in a busy part of the image
    out: npt.NDArray[np.float32] = (field_ - ndimage.uniform_filter(field_, window)).astype(np.float32)
    return out


def prepare(frame: CalibFrame, min_jump: float = 0.3) -> Prepared:
    pts, w = depth_edges(frame.points, min_jump=min_jump)
    cam = pts @ frame.camera_from_lidar[:3, :3].T + frame.camera_from_lidar[:3, 3]
    front = cam[:, 2] > 1.0
    half = frame.gray[: frame.gray.shape[0] // 2 * 2, : frame.gray.shape[1] // 2 * 2]
    half = half.reshape(half.shape[0] // 2, 2, half.shape[1] // 2, 2).mean(axis=(1, 3))
    return Prepared(
        name=frame.name,
        pts_cam=cam[front],
        weight=w[front],
        field=edge_field(frame.gray),
        K=frame.K,
        coarse=edge_field(half, gamma=0.93, window=61),
    )


# candidate moves: every combination of -1/0/+1 steps about the three rotation axes (roll is weakly observed and
# couples with pan and tilt, so one axis at a time stalls), and one translation axis at a time
_MOVES = np.array(
    [[a, b, c, 0.0, 0.0, 0.0] for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)]
    + [[0.0] * 3 + [float(s * (i == j)) for j in range(3)] for i in range(3) for s in (-1, 1)]
)

_HALF = np.diag([0.5, 0.5, 1.0])


def _frame_score(p: Prepared, delta: F64, coarse: bool = False) -> float:
    cam = p.pts_cam @ delta[:3, :3].T + delta[:3, 3]
    z = cam[:, 2]
    ok = z > 0.5
    f = p.coarse if coarse else p.field
    k = _HALF @ p.K if coarse else p.K
    uv = cam[ok] @ k.T
    u = uv[:, 0] / uv[:, 2]
    v = uv[:, 1] / uv[:, 2]
    h, w = f.shape
    inside = (u >= 0) & (u < w - 1) & (v >= 0) & (v < h - 1)
    u, v, wt = u[inside], v[inside], p.weight[ok][inside]
    x0 = u.astype(np.int64)
    y0 = v.astype(np.int64)
    fx, fy = u - x0, v - y0
    val = (
        f[y0, x0] * (1 - fx) * (1 - fy)
        + f[y0, x0 + 1] * fx * (1 - fy)
        + f[y0 + 1, x0] * (1 - fx) * fy
        + f[y0 + 1, x0 + 1] * fx * fy
    )
    total = float(p.weight.sum())
    return float((val * wt).sum()) / total if total > 0 else 0.0


def score(frames: Sequence[CalibFrame], delta: F64 | None = None, min_jump: float = 0.3) -> float:
    """Mean edge agreement over the frames (higher is better) for ``delta @ camera_from_lidar``."""
    prepared = [prepare(f, min_jump) for f in frames]
    d = np.eye(4) if delta is None else delta
    return float(np.mean([_frame_score(p, d) for p in prepared]))


# coarse to fine: (rotation step in degrees, translation step in metres (0: hold), use the wide half-resolution
# field). Rotation first: far edges pin it down, and a free translation at coarse steps trades against it.
LEVELS: tuple[tuple[float, float, bool], ...] = (
    (1.0, 0.0, True),
    (0.5, 0.0, True),
    (0.2, 0.02, False),
    (0.1, 0.01, False),
    (0.05, 0.005, False),
)


def check(
    frames: Sequence[CalibFrame],
    flag_deg: float = 0.5,
    flag_m: float = 0.08,
    min_jump: float = 0.3,
    **search_opts: Any,
) -> CalibResult:
    """Score the given calibration, refine it by a local search, and flag it when the best fit is far from it.

    All frames share one correction (one rig). Raises ``PrelabelError`` when the frames give no usable edges."""
    if not frames:
        raise PrelabelError("calibration check needs at least one frame; got none")
    return search([prepare(f, min_jump) for f in frames], flag_deg=flag_deg, flag_m=flag_m, **search_opts)


def search(
    prepared: Sequence[Prepared],
    flag_deg: float = 0.5,
    flag_m: float = 0.08,
    levels: Sequence[tuple[float, float, bool]] = LEVELS,
    max_moves: int = 40,
    max_rot_deg: float = 3.0,
    max_trans_m: float = 0.25,
) -> CalibResult:
    """The local search behind :func:`check`, on frames already reduced by :func:`prepare`."""
    if sum(len(p.pts_cam) for p in prepared) < 50:
        raise PrelabelError(
            f"too few LiDAR depth edges in front of the camera in {[p.name for p in prepared]}: expected >= 50; "
            "check that the points are in the LiDAR frame and in firing order"
        )

    evals = 0

    def objective(x: F64, coarse: bool = False) -> float:
        nonlocal evals
        evals += 1
        d = rigid(list(x[:3]), list(x[3:]))
        return float(np.mean([_frame_score(p, d, coarse) for p in prepared]))

    bounds = np.array([math.radians(max_rot_deg)] * 3 + [max_trans_m] * 3)
    x = np.zeros(6)
    best = given = objective(x)
    for rot_deg, trans_m, coarse in levels:
        steps = np.array([math.radians(rot_deg)] * 3 + [trans_m] * 3)
        best = objective(x, coarse)
        for _ in range(max_moves):
            cand_best, cand_x = best, None
            for move in _MOVES:
                y = x + move * steps
                if np.any(move != 0) and np.all(np.abs(y) <= bounds) and np.all((move == 0) | (steps > 0)):
                    s = objective(y, coarse)
                    if s > cand_best:
                        cand_best, cand_x = s, y
            if cand_x is None:
                break
            best, x = cand_best, cand_x
    if best < given:  # the coarse field led somewhere the fine one likes less: keep what was given
        x, best = np.zeros(6), given
    delta = rigid(list(x[:3]), list(x[3:]))
    rot = rotation_angle_deg(delta)
    trans = float(np.linalg.norm(x[3:]))
    return CalibResult(
        delta=delta,
        rotation_deg=rot,
        translation_m=trans,
        score_given=given,
        score_refined=best,
        flagged=bool(rot > flag_deg or trans > flag_m),
        frames=[p.name for p in prepared],
        evaluations=evals,
    )
