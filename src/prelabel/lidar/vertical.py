"""The bottom and top of a fitted box from the 2D detection, at the depth the LiDAR gave it.

A box's footprint (x, y, length, width, yaw) comes from the points; its vertical extent is poorly seen by them:
far away the beams are 0.2-0.3 m apart, so the highest return is often well below the roof, and the ground model is
a few centimetres to decimetres off on slopes. The 2D box fixes both through the camera: with the footprint fixed,
the image row of the projected box's top edge (the highest of its four top corners) falls monotonically as the top
rises, and likewise its bottom edge with the bottom, so each edge of the 2D box gives one height. Near the horizon
(the roofs of cars, for a camera at about their height) the depth hardly matters, so the top is well determined
even where the footprint is not.

:func:`image_z_extent` solves for those two heights; :func:`vertical_extent` combines them with the points.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from prelabel.core.geometry.boxes3d import corners

F64 = npt.NDArray[np.float64]


def _edge_rows(box: F64, z: F64, face: slice, k: F64, m: F64, lowest: bool) -> F64:
    """Image row of the projected face (top or bottom corners) for each candidate face height ``z``: the lowest
    row on the image (max v) of the bottom face, the highest (min v) of the top face; NaN when behind the camera."""
    base = corners(box[None])[0][face]  # (4, 3) face corners
    pts = np.repeat(base[None], len(z), axis=0)
    pts[..., 2] = z[:, None]
    cam = pts @ m[:3, :3].T + m[:3, 3]
    front = (cam[..., 2] > 0.3).all(axis=1)
    h = cam @ k.T
    v = h[..., 1] / np.maximum(h[..., 2], 1e-6)
    rows = v.max(axis=1) if lowest else v.min(axis=1)
    return np.where(front, rows, np.nan)


def image_z_extent(
    box: npt.ArrayLike,
    K: npt.ArrayLike,
    camera_from_lidar: npt.ArrayLike,
    box2d: tuple[float, float, float, float],
    image_size: tuple[int, int] | None,
    *,
    span: float = 1.0,
    step: float = 0.01,
    border: float = 2.0,
) -> tuple[float | None, float | None]:
    """LiDAR-frame z of the bottom and of the top of ``box`` (x y z l w h yaw, z up) that put its projection's
    bottom and top edges on the 2D box's (``box2d`` x1 y1 x2 y2 px). Each is searched within ``span`` m of the box's
    own bottom/top in ``step`` m; None where that edge of the 2D box lies within ``border`` px of the image's edge
    (the object is cut there, the edge says nothing) or no height in the span meets it within 1 px."""
    b = np.asarray(box, dtype=np.float64).reshape(7)
    k = np.asarray(K, dtype=np.float64)
    m = np.asarray(camera_from_lidar, dtype=np.float64)
    _x1, y1, _x2, y2 = box2d
    height = image_size[1] if image_size is not None else None
    bottom0, top0 = b[2] - b[5] / 2, b[2] + b[5] / 2
    out: list[float | None] = []
    for z0, row, lowest, cut in (
        (bottom0, y2, True, height is not None and y2 >= height - border),
        (top0, y1, False, y1 <= border),
    ):
        if cut:
            out.append(None)
            continue
        zs = z0 + np.arange(-span, span + step / 2, step)
        rows = _edge_rows(b, zs, slice(0, 4) if lowest else slice(4, 8), k, m, lowest)
        err = np.abs(rows - row)
        if np.isnan(err).all() or np.nanmin(err) > 1.0:
            out.append(None)
            continue
        out.append(float(zs[int(np.nanargmin(err))]))
    return out[0], out[1]


def vertical_extent(
    bottom: float,
    top_points: float,
    image_bottom: float | None,
    image_top: float | None,
    *,
    height: float,
    min_height: float,
    max_height: float,
    rule: str = "image",
) -> tuple[float, float]:
    """``(bottom, top)`` of the box from the ground height ``bottom``, the highest point ``top_points``, the class's
    typical ``height`` and the heights the 2D box gives (None where it gives none). Rules:

    - ``points``: the ground, and the highest point or the typical height if that is higher;
    - ``image``: the 2D box's bottom and top where it gives them, else as ``points``;
    - ``top``: the 2D box's top only (the bottom stays on the ground model);
    - ``max-top``: the higher of the highest point and the 2D box's top (points never lie above the roof, so the
      highest point is a lower bound of the top).

    A 2D top that would make the height leave [min_height, max_height] is ignored (the box's top edge is then
    something else: a loose box, an object behind). The height is always clipped to that range about the bottom."""
    rules = ("points", "image", "top", "max-top")
    if rule not in rules:
        raise ValueError(f"vertical rule {rule!r} is unknown; expected one of {', '.join(rules)}")
    lo = image_bottom if rule == "image" and image_bottom is not None else bottom
    hi = max(top_points, lo + height)
    if image_top is not None and not min_height <= image_top - lo <= max_height:
        image_top = None  # a height no object of the class has: the 2D box's top edge is not the object's
    if rule in ("image", "top") and image_top is not None:
        hi = image_top
    if rule == "max-top" and image_top is not None:
        hi = max(top_points, image_top)
    h = float(np.clip(hi - lo, min_height, max_height))
    return lo, lo + h
