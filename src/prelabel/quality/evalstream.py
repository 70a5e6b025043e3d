"""Evaluation of labels files too large to hold in memory: the same figures as :func:`~.evaluate.evaluate`, with
memory bounded by a block of frames instead of growing with the label set.

:func:`evaluate` holds every record of both sets (one pydantic object per box, ~130 kB a frame of 20 + 20 boxes).
Here the predictions are read one record at a time and paired with ground-truth frames in the ground truth's order;
each block of ``block`` frames is matched as columns (:func:`~.evaluate.match_sets`) and only the matched columns
are kept per class (scores, matched and ignored flags at each IoU threshold: 21 bytes a detection), then
accumulated once at the end. Frame order and score order are those of :func:`evaluate`, so AP is identical.

Memory stays bounded when the predictions come in about the ground truth's order (as ``prelabel label`` writes
them for the same frame list); predictions that come far ahead of their ground-truth frame wait in memory as
columns. Pairing is :func:`~.evaluate.pair_records`'s (by frame id, then file stem), decided first from a cheap
scan of frame ids (:class:`FrameKeys`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from prelabel.core.labels import FrameRecord
from prelabel.core.labelset import LabelSet
from prelabel.errors import FormatError
from prelabel.quality.ap import accumulate_arrays
from prelabel.quality.evaluate import EvalConfig, EvalResult, FramePair, _stem, match_sets

BLOCK = 256


@dataclass
class FrameKeys:
    """Frame ids and URIs of a label set in file order, and its label categories, without validating records."""

    ids: list[str] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)
    categories: set[str] = field(default_factory=set)

    @classmethod
    def of_records(cls, records: Iterable[FrameRecord]) -> FrameKeys:
        k = cls()
        for r in records:
            k.ids.append(r.frame.id)
            k.uris.append(r.frame.uri)
            k.categories.update(lab.category for lab in r.labels)
        return k

    @classmethod
    def scan(cls, uri: str) -> FrameKeys | None:
        """Keys of a labels file read as plain JSON, line by line as :func:`~prelabel.labelfile.iter_records` reads
        it (a torn last line skipped); None when a line is not a frame record (the validated read then says why)."""
        from prelabel import storage
        from prelabel.labelfile import resolve_labels_uri

        k = cls()
        try:
            with storage.open(resolve_labels_uri(uri), "rb") as fh:
                for raw in fh:
                    if not raw.endswith(b"\n"):
                        break
                    if not raw.strip():
                        continue
                    d = json.loads(raw)
                    k.ids.append(str(d["frame"]["id"]))
                    k.uris.append(str(d["frame"]["uri"]))
                    k.categories.update(str(lab["category"]) for lab in d.get("labels") or ())
        except (ValueError, KeyError, TypeError, AttributeError, OSError):
            return None
        return k


def pair_keys(pred: FrameKeys, gt: FrameKeys) -> tuple[list[int | None], list[str]]:
    """Per predicted frame, the index of the ground-truth frame it pairs with (None: none), and the unpaired
    predicted ids: the rules of :func:`~.evaluate.pair_records`."""
    by_id = {g: i for i, g in enumerate(gt.ids)}
    by_stem: dict[str, int] = {}
    for gi, (gid, guri) in enumerate(zip(gt.ids, gt.uris, strict=True)):
        by_stem.setdefault(_stem(guri), gi)
        by_stem.setdefault(_stem(gid), gi)
    taken = np.zeros(len(gt.ids), bool)
    out: list[int | None] = []
    unmatched: list[str] = []
    for pid, puri in zip(pred.ids, pred.uris, strict=True):
        i = by_id.get(pid)
        if i is None:
            i = by_stem.get(_stem(puri), by_stem.get(_stem(pid)))
        if i is None:
            unmatched.append(pid)
        elif taken[i]:
            raise ValueError(f"frame {gt.ids[i]}: more than one prediction record pairs with it")
        else:
            taken[i] = True
        out.append(i)
    return out, unmatched


@dataclass
class _Pooled:
    """Matched columns per class, appended block after block."""

    scores: dict[str, list[npt.NDArray[np.float64]]] = field(default_factory=dict)
    matched: dict[str, list[npt.NDArray[np.bool_]]] = field(default_factory=dict)
    ignored: dict[str, list[npt.NDArray[np.bool_]]] = field(default_factory=dict)
    n_gt: dict[str, int] = field(default_factory=dict)

    def add(self, frames: Sequence[FramePair], cfg: EvalConfig) -> None:
        if not frames:
            return
        m = match_sets(frames, cfg, outcomes=False)
        for c in m.classes:
            s, hit, ign = m.per_class[c]
            self.scores.setdefault(c, []).append(s)
            self.matched.setdefault(c, []).append(hit)
            self.ignored.setdefault(c, []).append(ign)
            self.n_gt[c] = self.n_gt.get(c, 0) + m.n_gt[c]


def evaluate_stream(
    predictions: Iterable[FrameRecord],
    ground_truth: Iterable[FrameRecord],
    pred_keys: FrameKeys,
    gt_keys: FrameKeys,
    config: EvalConfig | None = None,
    *,
    block: int = BLOCK,
) -> EvalResult:
    """:func:`~.evaluate.evaluate` over record streams whose frame keys (in the same order) are known, holding one
    block of frames at a time. The result has no per-label ``outcomes`` (calibration uses :func:`evaluate`)."""
    cfg = config or EvalConfig()
    slot, unmatched = pair_keys(pred_keys, gt_keys)
    has_pred = np.zeros(len(gt_keys.ids), bool)
    has_pred[[i for i in slot if i is not None]] = True
    waiting: dict[int, tuple[str, LabelSet | None]] = {}
    preds: Iterator[tuple[int | None, FrameRecord]] = zip(slot, predictions, strict=False)
    pooled, frames = _Pooled(), []
    missing: list[str] = []
    for gi, g in enumerate(ground_truth):
        while has_pred[gi] and gi not in waiting:
            nxt = next(preds, None)
            if nxt is None:
                raise FormatError("predictions", "the labels file changed while it was read; run again")
            pi, p = nxt
            if pi is not None:
                waiting[pi] = (p.frame.id, None if p.status != "ok" else LabelSet.from_labels(p.labels))
        if has_pred[gi]:
            pid, ls = waiting.pop(gi)
            frames.append(FramePair(pid, ls, LabelSet.from_labels(g.labels), g.frame.id, True))
        else:
            missing.append(g.frame.id)
            frames.append(FramePair.of(None, g))
        if len(frames) >= block:
            pooled.add(frames, cfg)
            frames = []
    pooled.add(frames, cfg)
    thr = np.asarray(cfg.iou_thresholds, dtype=np.float64)
    classes = list(cfg.classes) if cfg.classes is not None else sorted(pooled.scores)
    t_n = len(thr)
    curves = {}
    for c in classes:
        s = np.concatenate(pooled.scores[c]) if c in pooled.scores else np.zeros(0)
        hit = np.concatenate(pooled.matched[c], axis=1) if c in pooled.matched else np.zeros((t_n, 0), bool)
        ign = np.concatenate(pooled.ignored[c], axis=1) if c in pooled.ignored else np.zeros((t_n, 0), bool)
        curves[c] = accumulate_arrays(c, s, hit, ign, pooled.n_gt.get(c, 0), thr)
    return EvalResult(
        curves=curves,
        frames=len(gt_keys.ids),
        config=cfg,
        unmatched_prediction_frames=unmatched,
        frames_without_predictions=missing,
    )
