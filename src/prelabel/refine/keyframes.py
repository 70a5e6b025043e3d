"""Choose keyframes per sequence for a labeling budget: the frames people verify, the rest is interpolated.

- ``every``: evenly spaced frames (the first and the last of each sequence included);
- ``events``: evenly spaced slots, each moved (by at most a third of the spacing) to the nearby frame where the
  tracked labels change most: tracks born or dying there (interpolation cannot create or end a track between
  keyframes), then boxes that are weak or disagree with their track (``category_before``, a low score, a filled
  gap). The first and last frame always.

The budget is split over sequences in proportion to their length (at least 2 each where the budget allows).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from prelabel.core.labels import FrameRecord
from prelabel.core.sequences import group_sequences
from prelabel.errors import PrelabelError

MODES = ("every", "events")


@dataclass
class KeyframeChoice:
    frames: list[str]  # chosen frame ids, in sequence order
    reasons: dict[str, list[str]]  # frame id -> why (born:<track>, died:<track>, weak, first, last, span)
    per_sequence: dict[str, int]


def _spread(n: int, k: int) -> list[int]:
    if k >= n:
        return list(range(n))
    if k <= 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _events(frames: list[FrameRecord], weak_score: float) -> dict[int, list[str]]:
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    why: dict[int, list[str]] = {}
    for t, rec in enumerate(frames):
        for lab in rec.labels:
            if lab.track_id is not None:
                first.setdefault(lab.track_id, t)
                last[lab.track_id] = t
            a = lab.attributes
            if "category_before" in a or a.get("interpolated") or (lab.score is not None and lab.score < weak_score):
                why.setdefault(t, []).append("weak")
    for tid, t in first.items():
        why.setdefault(t, []).append(f"born:{tid}")
    for tid, t in last.items():
        why.setdefault(t, []).append(f"died:{tid}")
    return why


def choose_keyframes(
    records: Iterable[FrameRecord], budget: int, *, mode: str = "events", weak_score: float = 0.5
) -> KeyframeChoice:
    """Pick at most ``budget`` keyframes over all sequences of ``records``."""
    if mode not in MODES:
        raise PrelabelError(f"unknown keyframe mode {mode!r}; expected one of: {', '.join(MODES)}")
    if budget < 1:
        raise PrelabelError(f"keyframe budget must be >= 1; got {budget}")
    seqs = group_sequences(records)
    total = sum(len(f) for f in seqs.values())
    shares = {s: max(min(2, len(f), budget), math.floor(budget * len(f) / total)) for s, f in seqs.items()}
    leftover = budget - sum(shares.values())
    for s in sorted(seqs, key=lambda s: -len(seqs[s])):
        if leftover <= 0:
            break
        if shares[s] < len(seqs[s]):
            shares[s] += 1
            leftover -= 1
    chosen: list[str] = []
    reasons: dict[str, list[str]] = {}
    for s, frames in seqs.items():
        k = shares[s]
        n = len(frames)
        if mode == "every":
            picks = {i: ["every"] for i in _spread(n, k)}
        else:
            why = _events(frames, weak_score)
            born_died = {t: sum(not r.startswith("weak") for r in rs) for t, rs in why.items()}
            w = max(0, int(n / max(k, 1) / 3))
            picks = {}
            for b in _spread(n, k):
                if b in (0, n - 1):
                    picks[b] = ["first" if b == 0 else "last", *why.get(b, [])]
                    continue
                window = [t for t in range(b - w, b + w + 1) if 0 < t < n - 1 and t not in picks]
                best = max(window, key=lambda t: (born_died.get(t, 0), len(why.get(t, [])), -abs(t - b)), default=b)
                picks[best] = why.get(best, []) or ["span"]
        for t in sorted(picks):
            fid = frames[t].frame.id
            chosen.append(fid)
            reasons[fid] = picks[t]
    return KeyframeChoice(frames=chosen, reasons=reasons, per_sequence=shares)
