"""The little 3D box geometry the review needs: bird's-eye corners, 3D IoU, yaw difference.

Boxes are ``(x, y, z, length, width, height, yaw)``: centre in metres, yaw in radians about up (x forward, y left,
z up; yaw 0 = length along x). (Duplicates part of ``prelabel.core.geometry.boxes3d``; swap at merge.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Box7 = Sequence[float]


def bev_corners(b: Box7) -> list[tuple[float, float]]:
    """The four ground-plane corners, counter-clockwise."""
    x, y, _, length, width, _, yaw = b
    c, s = math.cos(yaw), math.sin(yaw)
    out = []
    for dx, dy in ((0.5, 0.5), (-0.5, 0.5), (-0.5, -0.5), (0.5, -0.5)):
        px, py = dx * length, dy * width
        out.append((x + c * px - s * py, y + s * px + c * py))
    return out


def _area(poly: Sequence[tuple[float, float]]) -> float:
    n = len(poly)
    return 0.5 * abs(sum(poly[i][0] * poly[(i + 1) % n][1] - poly[(i + 1) % n][0] * poly[i][1] for i in range(n)))


def _clip(subject: list[tuple[float, float]], clipper: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sutherland-Hodgman: ``subject`` clipped by the convex counter-clockwise ``clipper``."""
    out = subject
    for i in range(len(clipper)):
        a, b = clipper[i], clipper[(i + 1) % len(clipper)]
        inp, out = out, []
        if not inp:
            break

        def inside(p: tuple[float, float], a: tuple[float, float] = a, b: tuple[float, float] = b) -> bool:
            return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0

        def cross(p: tuple[float, float], q: tuple[float, float], a=a, b=b) -> tuple[float, float]:  # type: ignore[no-untyped-def]
            x1, y1, x2, y2 = p[0], p[1], q[0], q[1]
            x3, y3, x4, y4 = a[0], a[1], b[0], b[1]
            den = (x1 - x2) * (y3 - y4) - (y1 - y2) * (x3 - x4)
            if abs(den) < 1e-12:
                return q
            t = ((x1 - x3) * (y3 - y4) - (y1 - y3) * (x3 - x4)) / den
            return (x1 + t * (x2 - x1), y1 + t * (y2 - y1))

        for j in range(len(inp)):
            p, q = inp[j - 1], inp[j]
            if inside(q):
                if not inside(p):
                    out.append(cross(p, q))
                out.append(q)
            elif inside(p):
                out.append(cross(p, q))
    return out


def iou3d(a: Box7, b: Box7) -> float:
    """Intersection over union of two yawed boxes (BEV polygon overlap times height overlap)."""
    inter_bev = _area(_clip(bev_corners(a), bev_corners(b)))
    za = (a[2] - a[5] / 2, a[2] + a[5] / 2)
    zb = (b[2] - b[5] / 2, b[2] + b[5] / 2)
    dz = max(0.0, min(za[1], zb[1]) - max(za[0], zb[0]))
    inter = inter_bev * dz
    union = a[3] * a[4] * a[5] + b[3] * b[4] * b[5] - inter
    return inter / union if union > 0 else 0.0


def yaw_diff(a: float, b: float) -> float:
    """Smallest absolute angle between two yaws (radians, 0..pi)."""
    d = (a - b + math.pi) % (2 * math.pi) - math.pi
    return abs(d)


def centre_distance(a: Box7, b: Box7) -> float:
    return math.dist(a[:3], b[:3])
