"""HOTA (Luiten et al., IJCV 2020) as TrackEval's ``hota.py`` computes it, per sequence, combined by summing.

Input per frame: ground-truth ids, predicted ids and their IoU matrix. Alphas 0.05, 0.10, ..., 0.95; HOTA is the
mean over alphas of sqrt(DetA * AssA). Sequences (and classes) combine as TrackEval's ``combine_sequences``:
counts summed, AssA weighted by true positives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
ALPHAS = np.arange(0.05, 0.99, 0.05)
_EPS = np.finfo("float").eps


@dataclass
class HotaCounts:
    tp: F64 = field(default_factory=lambda: np.zeros(len(ALPHAS)))
    fn: F64 = field(default_factory=lambda: np.zeros(len(ALPHAS)))
    fp: F64 = field(default_factory=lambda: np.zeros(len(ALPHAS)))
    ass_tp_sum: F64 = field(default_factory=lambda: np.zeros(len(ALPHAS)))  # sum over TPs of their AssA

    @classmethod
    def total(cls, parts: Sequence[HotaCounts]) -> HotaCounts:
        out = cls()
        for p in parts:
            out.tp = out.tp + p.tp
            out.fn = out.fn + p.fn
            out.fp = out.fp + p.fp
            out.ass_tp_sum = out.ass_tp_sum + p.ass_tp_sum
        return out

    def _deta(self) -> F64:
        return self.tp / np.maximum(1.0, self.tp + self.fn + self.fp)

    def _assa(self) -> F64:
        return self.ass_tp_sum / np.maximum(1.0, self.tp)

    def hota(self) -> float | None:
        if not (self.tp + self.fn + self.fp).any():
            return None
        return float(np.mean(np.sqrt(self._deta() * self._assa())))

    def deta(self) -> float | None:
        return None if not (self.tp + self.fn + self.fp).any() else float(np.mean(self._deta()))

    def assa(self) -> float | None:
        return None if not (self.tp + self.fn + self.fp).any() else float(np.mean(self._assa()))


def hota_sequence(frames: Sequence[tuple[Sequence[str], Sequence[str], F64]]) -> HotaCounts:
    """HOTA counts of one sequence of one class: per frame (gt ids, predicted ids, IoU gt x pred)."""
    from scipy.optimize import linear_sum_assignment

    gt_ids = sorted({o for f in frames for o in f[0]})
    tr_ids = sorted({h for f in frames for h in f[1]})
    gi = {o: k for k, o in enumerate(gt_ids)}
    ti = {h: k for k, h in enumerate(tr_ids)}
    potential = np.zeros((len(gt_ids), len(tr_ids)))
    gt_count = np.zeros((len(gt_ids), 1))
    tr_count = np.zeros((1, len(tr_ids)))
    idx = []
    for oids, hids, sim in frames:
        g = np.array([gi[o] for o in oids], dtype=np.intp)
        t = np.array([ti[h] for h in hids], dtype=np.intp)
        idx.append((g, t))
        if len(g) and len(t):
            denom = sim.sum(0)[np.newaxis, :] + sim.sum(1)[:, np.newaxis] - sim
            sim_iou = np.where(denom > _EPS, sim / np.where(denom > _EPS, denom, 1.0), 0.0)
            potential[g[:, None], t[None, :]] += sim_iou
        gt_count[g] += 1
        tr_count[0, t] += 1
    with np.errstate(divide="ignore", invalid="ignore"):
        align = potential / (gt_count + tr_count - potential)
    out = HotaCounts()
    matches = [np.zeros_like(potential) for _ in ALPHAS]
    for (_, _, sim), (g, t) in zip(frames, idx, strict=True):
        if len(g) == 0:
            out.fp += len(t)
            continue
        if len(t) == 0:
            out.fn += len(g)
            continue
        score = align[g[:, None], t[None, :]] * sim
        rows, cols = linear_sum_assignment(-score)
        for a, alpha in enumerate(ALPHAS):
            ok = sim[rows, cols] >= alpha - _EPS
            r, c = rows[ok], cols[ok]
            out.tp[a] += len(r)
            out.fn[a] += len(g) - len(r)
            out.fp[a] += len(t) - len(r)
            if len(r):
                matches[a][g[r], t[c]] += 1
    for a in range(len(ALPHAS)):
        mc = matches[a]
        ass = mc / np.maximum(1.0, gt_count + tr_count - mc)
        out.ass_tp_sum[a] = float((mc * ass).sum())
    return out
