"""Constant-velocity Kalman filter for pixel boxes, and a Rauch-Tung-Striebel smoother over a whole track.

State ``[cx, cy, w, h, vcx, vcy, vw, vh]`` (pixels and pixels per frame); measurement ``[cx, cy, w, h]``. Noise
scales with the box height as in SORT/ByteTrack (a far, small box moves fewer pixels). Written here (about 100
lines) rather than taken from ``filterpy``: the tracker needs the filtered states *and* their covariances per
frame for the offline two-pass smoother, with gaps, and the formulas are short.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

_F = np.eye(8)
_F[:4, 4:] = np.eye(4)
_H = np.eye(4, 8)


def to_cxcywh(xyxy: Sequence[float] | F64) -> F64:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)])


def to_xyxy(c: F64) -> tuple[float, float, float, float]:
    cx, cy, w, h = (float(v) for v in c[:4])
    w, h = max(w, 1e-3), max(h, 1e-3)
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


@dataclass
class BoxKalman:
    """Noise as fractions of the box height: position ``std_pos``, velocity ``std_vel`` per frame."""

    std_pos: float = 1.0 / 20
    std_vel: float = 1.0 / 160

    def _q(self, h: float) -> F64:
        p, v = self.std_pos * h, self.std_vel * h
        return np.diag(np.square([p, p, p, p, v, v, v, v]))

    def _r(self, h: float) -> F64:
        p = self.std_pos * h
        return np.diag(np.square([p, p, p, p]))

    def initiate(self, z: F64) -> tuple[F64, F64]:
        mean = np.concatenate([z, np.zeros(4)])
        h = float(z[3])
        std = [2 * self.std_pos * h] * 4 + [10 * self.std_vel * h] * 4
        return mean, np.diag(np.square(std))

    def predict(self, mean: F64, cov: F64) -> tuple[F64, F64]:
        h = max(float(mean[3]), 1.0)
        return _F @ mean, _F @ cov @ _F.T + self._q(h)

    def update(self, mean: F64, cov: F64, z: F64) -> tuple[F64, F64]:
        s = _H @ cov @ _H.T + self._r(max(float(mean[3]), 1.0))
        k = np.linalg.solve(s, (cov @ _H.T).T).T
        mean = mean + k @ (z - _H @ mean)
        cov = (np.eye(8) - k @ _H) @ cov
        return mean, cov

    def smooth(self, observations: Sequence[F64 | None]) -> list[F64]:
        """Two-pass (forward filter, backward RTS) estimates ``[cx, cy, w, h]`` for every step, gaps included.

        ``observations``: one measurement per consecutive frame, ``None`` where the track was not seen. The first
        entry must be a measurement.
        """
        first = observations[0]
        if first is None:
            raise ValueError("a track must start with an observation")
        means: list[F64] = []
        covs: list[F64] = []
        preds: list[tuple[F64, F64]] = []
        mean, cov = self.initiate(first)
        for t, z in enumerate(observations):
            if t > 0:
                mean, cov = self.predict(mean, cov)
            preds.append((mean, cov))
            if z is not None:
                mean, cov = self.update(mean, cov, z)
            means.append(mean)
            covs.append(cov)
        out = [means[-1]]
        sm, sc = means[-1], covs[-1]
        for t in range(len(observations) - 2, -1, -1):
            pm, pc = preds[t + 1]
            g = covs[t] @ _F.T @ np.linalg.pinv(pc)
            sm = means[t] + g @ (sm - pm)
            sc = covs[t] + g @ (sc - pc) @ g.T
            out.append(sm)
        out.reverse()
        return [m[:4] for m in out]
