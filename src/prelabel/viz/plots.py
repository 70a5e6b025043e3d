"""Plots as PNG bytes: precision-recall curves, score histograms, per-class counts, routed fractions.

matplotlib is imported when a plot is drawn (Agg, no display, no pyplot state); the functions take plain numbers so
that any stage can plot without importing another.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt


def _figure(width: float = 6.4, height: float = 4.2) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def pr_curves(
    curves: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]],
    *,
    title: str = "precision-recall",
    ap: Mapping[str, float | None] | None = None,
) -> bytes:
    """One line per class: ``curves[name] = (recall, precision)`` arrays of the same length."""
    fig = _figure()
    ax = fig.add_subplot()
    for name, (rec, prec) in curves.items():
        r, p = np.asarray(rec, dtype=float), np.asarray(prec, dtype=float)
        label = name
        if ap is not None and ap.get(name) is not None:
            label = f"{name} (AP {100 * float(ap[name] or 0):.1f})"
        ax.plot(r, p, label=label, linewidth=1.6, drawstyle="steps-post")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if curves:
        ax.legend(loc="lower left", fontsize=8)
    return _png(fig)


def score_histogram(scores: Mapping[str, Sequence[float]], *, title: str = "scores", bins: int = 20) -> bytes:
    """Stacked histogram of label scores per class (or per any grouping)."""
    fig = _figure()
    ax = fig.add_subplot()
    names = [n for n, v in scores.items() if len(v)]
    if names:
        ax.hist([np.asarray(scores[n], dtype=float) for n in names], bins=bins, range=(0, 1), stacked=True, label=names)
        ax.legend(fontsize=8)
    ax.set_xlabel("score")
    ax.set_ylabel("labels")
    ax.set_title(title)
    return _png(fig)


def bar_counts(
    counts: Mapping[str, Mapping[str, float]], *, title: str = "labels per class", ylabel: str = "labels"
) -> bytes:
    """Grouped bars: ``counts[group][category] = value`` (e.g. per model, per class)."""
    fig = _figure(max(6.4, 0.5 * len({c for g in counts.values() for c in g}) + 3), 4.2)
    ax = fig.add_subplot()
    cats = sorted({c for g in counts.values() for c in g})
    x = np.arange(len(cats))
    width = 0.8 / max(1, len(counts))
    for i, (group, vals) in enumerate(counts.items()):
        ax.bar(x + i * width, [float(vals.get(c, 0)) for c in cats], width, label=group)
    ax.set_xticks(x + 0.4 - width / 2, cats, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(counts) > 1:
        ax.legend(fontsize=8)
    return _png(fig)


def stacked_fractions(parts: Mapping[str, Mapping[str, float]], *, title: str = "routed") -> bytes:
    """Horizontal 100 % bars: ``parts[row][segment] = count`` (e.g. per class: auto-accepted, to review)."""
    rows = list(parts)
    segs = sorted({s for r in parts.values() for s in r})
    fig = _figure(6.4, max(2.0, 0.35 * len(rows) + 1.2))
    ax = fig.add_subplot()
    left = np.zeros(len(rows))
    for seg in segs:
        vals = np.array([float(parts[r].get(seg, 0)) for r in rows])
        tot = np.array([max(1e-9, sum(float(v) for v in parts[r].values())) for r in rows])
        frac = vals / tot
        ax.barh(rows, frac, left=left, label=seg)
        left += frac
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return _png(fig)
