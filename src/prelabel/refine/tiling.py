"""Tiled inference for any detector: overlapping tiles plus the full frame, merged class by class.

The zoo's detectors see a 300-512 px input, so on a 1242x375 KITTI frame a distant car shrinks to a few pixels.
:class:`TiledDetector` also runs the detector on overlapping square tiles (side = the frame's short side by
default), maps tile boxes back to frame pixels, and merges everything. The full frame and a frame's tiles go to the
model as one batch (:func:`~prelabel.models.base.run_many`) where the model takes one:

1. **Cut boxes.** A tile box touching an inner tile edge (an edge that is not the frame's border) may be the
   visible part of an object the tile cut. Such a box is dropped when a box of the same class from the full frame
   or from another tile covers most of it (intersection over the cut box's area >= ``cover``); otherwise it is kept
   with its score multiplied by ``cut_weight`` so it can never outrank a whole box.
2. **Merge.** Class-aware greedy NMS (``merge="nms"``) or weighted box fusion (``merge="wbf"``) over the
   full-frame boxes and the surviving tile boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.detections import Detections
from prelabel.core.geometry.boxes2d import Tile, area, nms, overlap, tile_grid
from prelabel.models.base import Detector, DetectorWrapper, prepare_input, run_many
from prelabel.refine.tta import weighted_merge

__all__ = [
    "MERGES",
    "Tile",
    "TileDetections",
    "TiledDetector",
    "TilesPrepared",
    "coverage",
    "cut_flags",
    "suppress_cut_boxes",
    "tile_grid",
]

MERGES = ("nms", "wbf")


def cut_flags(
    xyxy: npt.NDArray[np.floating], tile: Tile, width: int, height: int, margin: float
) -> npt.NDArray[np.bool_]:
    """True for boxes (frame pixels) that touch an edge of ``tile`` that lies inside the frame."""
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    flags = np.zeros(len(b), dtype=bool)
    if tile.x0 > 0:
        flags |= b[:, 0] <= tile.x0 + margin
    if tile.y0 > 0:
        flags |= b[:, 1] <= tile.y0 + margin
    if tile.x1 < width:
        flags |= b[:, 2] >= tile.x1 - margin
    if tile.y1 < height:
        flags |= b[:, 3] >= tile.y1 - margin
    return flags


def coverage(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Intersection over the area of each box in ``a``, against each box in ``b``: shape (len(a), len(b))."""
    return overlap(a, b, "ioa")


@dataclass
class TileDetections:
    """Raw tiled output: all boxes in frame pixels, which touch an inner tile edge, and where each came from."""

    dets: Detections
    is_cut: npt.NDArray[np.bool_]
    origin: npt.NDArray[np.int64]  # -1: the full frame; k: tile k

    def full_frame(self) -> Detections:
        return self.dets[self.origin == -1]


@dataclass
class TilesPrepared:
    """A frame prepared for :class:`TiledDetector`: its size, its tiles, whether the full frame runs too (first), and
    the inner detector's input for each view."""

    width: int
    height: int
    tiles: list[Tile]
    whole: bool
    inputs: list[Any]


class TiledDetector(DetectorWrapper):
    """Wraps any :class:`~prelabel.models.base.Detector`; itself a Detector (same model id, version, classes)."""

    def __init__(
        self,
        detector: Detector,
        *,
        tile: int | None = None,
        overlap: float = 0.25,
        merge: str = "nms",
        iou_threshold: float = 0.5,
        cut_weight: float = 0.5,
        cover: float = 0.6,
        edge_margin: float = 3.0,
        full_frame: bool = True,
    ) -> None:
        if merge not in MERGES:
            from prelabel.errors import UnknownNameError

            raise UnknownNameError("tile merge", merge, MERGES)
        super().__init__(detector)
        self.tile = tile
        self.overlap = float(overlap)
        self.merge = merge
        self.iou_threshold = float(iou_threshold)
        self.cut_weight = float(cut_weight)
        self.cover = float(cover)
        self.edge_margin = float(edge_margin)
        self.full_frame = full_frame

    @property
    def setting(self) -> str:
        return "tiled"

    def tiles(self, width: int, height: int) -> list[Tile]:
        return tile_grid(width, height, self.tile, self.overlap)

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        return self.run(self.prepare(image))

    def prepare(self, image: npt.NDArray[np.uint8]) -> TilesPrepared:
        """The frame's size, its tiles, and the inner detector's input for the full frame and each tile."""
        h, w = image.shape[:2]
        tiles = [t for t in self.tiles(w, h) if (t.width, t.height) != (w, h)]
        whole = self.full_frame or not tiles
        crops = [np.ascontiguousarray(image[t.y0 : t.y1, t.x0 : t.x1]) for t in tiles]
        views = [image, *crops] if whole else crops
        return TilesPrepared(w, h, tiles, whole, [prepare_input(self.detector, v) for v in views])

    def run(self, prepared: TilesPrepared) -> Detections:
        return self.merge_raw(self.run_raw(prepared), prepared.width, prepared.height)

    def detect_raw(self, image: npt.NDArray[np.uint8]) -> TileDetections:
        """Every full-frame and tile box in frame pixels, before cut handling and merging."""
        return self.run_raw(self.prepare(image))

    def run_raw(self, prepared: TilesPrepared) -> TileDetections:
        """:meth:`detect_raw` on what :meth:`prepare` made."""
        w, h, tiles = prepared.width, prepared.height, prepared.tiles
        parts: list[Detections] = []
        cut: list[npt.NDArray[np.bool_]] = []
        origin: list[npt.NDArray[np.int64]] = []
        found = run_many(self.detector, prepared.inputs)  # one batch where the model allows
        if prepared.whole:
            full = found.pop(0)
            parts.append(Detections(full.xyxy, full.scores, full.class_ids))
            cut.append(np.zeros(len(full), dtype=bool))
            origin.append(np.full(len(full), -1, dtype=np.int64))
        for k, (t, d) in enumerate(zip(tiles, found, strict=True)):
            xyxy = d.xyxy + np.array([t.x0, t.y0, t.x0, t.y0], dtype=np.float32)
            parts.append(Detections(xyxy, d.scores, d.class_ids))
            cut.append(cut_flags(xyxy, t, w, h, self.edge_margin))
            origin.append(np.full(len(d), k, dtype=np.int64))
        return TileDetections(Detections.merge(parts), np.concatenate(cut), np.concatenate(origin))

    def merge_raw(self, raw: TileDetections, width: int, height: int) -> Detections:
        """Cut-box handling, then the class-aware merge (this detector's settings)."""
        if len(raw.dets) == 0:
            return Detections.empty()
        dets = suppress_cut_boxes(raw.dets, raw.is_cut, raw.origin, cover=self.cover, cut_weight=self.cut_weight)
        if self.merge == "wbf":
            merged = weighted_merge([dets], self.iou_threshold, passes=1)
            merged = Detections(merged.xyxy, merged.scores, merged.class_ids)
        else:
            keep = nms(dets.xyxy, dets.scores, self.iou_threshold, dets.class_ids)
            merged = Detections(dets.xyxy[keep], dets.scores[keep], dets.class_ids[keep])
        return merged.clip(width, height)


def suppress_cut_boxes(
    dets: Detections,
    is_cut: npt.NDArray[np.bool_],
    origin: npt.NDArray[np.int64],
    *,
    cover: float = 0.6,
    cut_weight: float = 0.5,
) -> Detections:
    """Drop cut boxes covered by a bigger same-class whole box from elsewhere; multiply the rest by ``cut_weight``.

    ``is_cut`` flags boxes touching an inner tile edge; ``origin`` is -1 for full-frame boxes, else the tile index.
    A cover must come from another origin and be whole (full frame, or a tile box that is not itself cut).
    """
    is_cut = np.asarray(is_cut, dtype=bool)
    origin = np.asarray(origin, dtype=np.int64)
    if len(is_cut) != len(dets) or len(origin) != len(dets):
        raise ValueError(f"is_cut and origin must have length {len(dets)}; got {len(is_cut)} and {len(origin)}")
    if not is_cut.any():
        return dets
    cut_idx = np.flatnonzero(is_cut)
    cov = coverage(dets.xyxy[cut_idx], dets.xyxy)
    same_cls = dets.class_ids[cut_idx][:, None] == dets.class_ids[None, :]
    elsewhere = origin[cut_idx][:, None] != origin[None, :]
    bigger = area(dets.xyxy)[None, :] > area(dets.xyxy[cut_idx])[:, None]
    whole = ~is_cut[None, :] | (origin[None, :] == -1)
    covered = ((cov >= cover) & same_cls & elsewhere & bigger & whole).any(axis=1)
    keep = np.ones(len(dets), dtype=bool)
    keep[cut_idx[covered]] = False
    scores = dets.scores.copy()
    scores[cut_idx[~covered]] *= cut_weight
    return Detections(dets.xyxy, scores, dets.class_ids)[keep]
