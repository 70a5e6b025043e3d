"""Simulated reviewer effort on KITTI, and per-class score thresholds that minimise it.

A reviewer sees the pre-labels of a frame and fixes them: confirming a box matched to a ground-truth object at
IoU >= 0.7 costs ``CONFIRM`` s, adjusting one matched at IoU 0.5-0.7 costs ``ADJUST`` s, drawing a missed object
``DRAW`` s and deleting a false box (including a duplicate of a matched one) ``DELETE`` s. Drawing every box from
scratch costs ``DRAW`` x objects. Matching follows the KITTI AP evaluation of ``bench_detectors``: groups vehicle
(Car, Van, Truck) and pedestrian (Pedestrian, Person_sitting); objects under 25 px high, DontCare regions, and a
pedestrian box on a Cyclist (the rider) or a vehicle box on a Tram/Misc count neither way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from prelabel.core.boxes import iou_matrix

CONFIRM, ADJUST, DRAW, DELETE = 1.5, 6.0, 10.0, 1.0
GROUP_OF_PRED = {"car": "vehicle", "truck": "vehicle", "bus": "vehicle", "person": "pedestrian"}
GROUP_OF_PRED["pedestrian"] = "pedestrian"
GT_GROUP = {"Car": "vehicle", "Van": "vehicle", "Truck": "vehicle", "Pedestrian": "pedestrian"}
GT_GROUP["Person_sitting"] = "pedestrian"
NEUTRAL = {"vehicle": ("Tram", "Misc"), "pedestrian": ("Cyclist",)}
MIN_HEIGHT = 25.0
GRID = tuple(round(float(t), 2) for t in np.arange(0.05, 0.96, 0.05))


def _gt_tables(gt: Sequence[Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rec in gt:
        tab: dict[str, Any] = {"dontcare": []}
        for g in ("vehicle", "pedestrian"):
            tab[g] = {"count": [], "neutral": []}
        for lab in rec.labels:
            if lab.box is None:
                continue
            b = lab.box.xyxy
            if lab.category == "DontCare":
                tab["dontcare"].append(b)
                continue
            for g in ("vehicle", "pedestrian"):
                if GT_GROUP.get(lab.category) == g and b[3] - b[1] >= MIN_HEIGHT:
                    tab[g]["count"].append(b)
                elif GT_GROUP.get(lab.category) == g or lab.category in NEUTRAL[g]:
                    tab[g]["neutral"].append(b)
        out[rec.frame.id] = tab
    return out


def frame_costs(
    preds: Sequence[tuple[tuple[float, ...], float, str]], tab: dict[str, Any]
) -> dict[str, dict[str, float]]:
    """Per group: seconds spent and objects counted on one frame, for predictions (box, score, category)."""
    out: dict[str, dict[str, float]] = {}
    dc = np.asarray(tab["dontcare"], dtype=np.float64).reshape(-1, 4)
    for g in ("vehicle", "pedestrian"):
        mine = sorted((p for p in preds if GROUP_OF_PRED.get(p[2]) == g), key=lambda p: -p[1])
        gt = np.asarray(tab[g]["count"], dtype=np.float64).reshape(-1, 4)
        neutral = np.asarray(tab[g]["neutral"], dtype=np.float64).reshape(-1, 4)
        used = np.zeros(len(gt), dtype=bool)
        secs = 0.0
        for box, _, _ in mine:
            b = np.asarray(box, dtype=np.float64).reshape(1, 4)
            if len(gt):
                ious = iou_matrix(b, gt)[0]
                ious[used] = -1
                j = int(np.argmax(ious))
                if ious[j] >= 0.5:
                    used[j] = True
                    secs += CONFIRM if ious[j] >= 0.7 else ADJUST
                    continue
            if len(neutral) and iou_matrix(b, neutral)[0].max() >= 0.5:
                continue
            if b[0, 3] - b[0, 1] < MIN_HEIGHT:
                continue
            if len(dc):
                iw = np.clip(np.minimum(b[0, 2], dc[:, 2]) - np.maximum(b[0, 0], dc[:, 0]), 0, None)
                ih = np.clip(np.minimum(b[0, 3], dc[:, 3]) - np.maximum(b[0, 1], dc[:, 1]), 0, None)
                area = max((b[0, 2] - b[0, 0]) * (b[0, 3] - b[0, 1]), 1e-9)
                if (iw * ih / area).max() >= 0.5:
                    continue
            secs += DELETE
        secs += DRAW * float((~used).sum())
        out[g] = {"seconds": secs, "objects": float(len(gt))}
    return out


def effort(
    records: Iterable[Any], gt: Sequence[Any], thresholds: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Seconds of review (total and per group), seconds from scratch, and the share saved."""
    tables = _gt_tables(gt)
    th = dict(thresholds or {})
    total = {"vehicle": 0.0, "pedestrian": 0.0}
    objects = {"vehicle": 0.0, "pedestrian": 0.0}
    for rec in records:
        if rec.frame.id not in tables:
            continue
        preds = [
            (lab.box.xyxy, float(lab.score or 0.0), lab.category)
            for lab in rec.labels
            if lab.box is not None and float(lab.score or 0.0) >= th.get(lab.category, 0.0)
        ]
        for g, c in frame_costs(preds, tables[rec.frame.id]).items():
            total[g] += c["seconds"]
            objects[g] += c["objects"]
    scratch = DRAW * (objects["vehicle"] + objects["pedestrian"])
    spent = total["vehicle"] + total["pedestrian"]
    return {
        "seconds": spent,
        "scratch_seconds": scratch,
        "saved": 1.0 - spent / scratch if scratch else 0.0,
        **{f"seconds_{g}": v for g, v in total.items()},
    }


def choose_thresholds(records: Sequence[Any], gt: Sequence[Any], classes: Sequence[str]) -> dict[str, float]:
    """Per-class thresholds on ``GRID`` minimising :func:`effort` (coordinate descent, two sweeps)."""
    th = dict.fromkeys(classes, 0.25)
    for _ in range(2):
        for c in classes:
            best = min(GRID, key=lambda t: (effort(records, gt, {**th, c: t})["seconds"], abs(t - 0.3)))
            th[c] = best
    return th
