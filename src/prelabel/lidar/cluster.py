"""Euclidean clustering on a bird's-eye-view occupancy grid (OpenCV connected components, no Python loops).

Points closer than about ``cell`` x sqrt(2) on the ground plane, through chains of occupied cells, share a cluster.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def bev_clusters(xy: npt.ArrayLike, cell: float = 0.2, min_points: int = 1) -> npt.NDArray[np.int64]:
    """Cluster ids ``(N,)`` for points ``(N, >=2)`` (x, y in metres); -1 for clusters under ``min_points``."""
    import cv2

    p = np.asarray(xy, dtype=np.float64)[:, :2]
    if len(p) == 0:
        return np.zeros(0, dtype=np.int64)
    ij = np.floor((p - p.min(axis=0)) / cell).astype(np.int64)
    h, w = int(ij[:, 0].max()) + 1, int(ij[:, 1].max()) + 1
    if h * w > 25_000_000:
        raise ValueError(f"clustering grid of {h}x{w} cells is too large; points span too far for cell {cell} m")
    grid = np.zeros((h, w), np.uint8)
    grid[ij[:, 0], ij[:, 1]] = 1
    _, labels = cv2.connectedComponents(grid, connectivity=8)
    ids = labels[ij[:, 0], ij[:, 1]].astype(np.int64)
    if min_points > 1:
        uniq, counts = np.unique(ids, return_counts=True)
        small = uniq[counts < min_points]
        ids[np.isin(ids, small)] = -1
    return ids
