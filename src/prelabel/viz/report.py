"""A run's report as one self-contained HTML page: tables plus plots embedded as base64 PNGs.

Sections: the label set (frames, failures, labels per class, score histograms); with an evaluation, AP tables and
precision-recall curves; with a routing, what was auto-accepted and what goes to people, per class.
"""

from __future__ import annotations

import base64
import html
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prelabel.core.labels import FrameRecord
from prelabel.viz import plots

if TYPE_CHECKING:
    from prelabel.quality.evaluate import EvalResult
    from prelabel.quality.routing import RouteResult

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:1em 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}img{max-width:100%;display:block;margin:1em 0}
.muted{color:#777;font-size:.9em}
"""


def img_tag(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if v < 1.0 or v != int(v) else f"{v:.0f}"
    return str(v)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def label_section(records: Sequence[FrameRecord], top: int = 10) -> str:
    failed = [r for r in records if r.status != "ok"]
    counts = Counter(lab.category for r in records for lab in r.labels)
    by_source: dict[str, Counter[str]] = defaultdict(Counter)
    scores: dict[str, list[float]] = defaultdict(list)
    for r in records:
        for lab in r.labels:
            by_source[lab.source][lab.category] += 1
            if lab.score is not None:
                scores[lab.category].append(lab.score)
    parts = [
        "<h2>Labels</h2>",
        f"<p>{len(records)} frames, {len(failed)} failed, {sum(counts.values())} labels in {len(counts)} classes.</p>",
    ]
    if counts:
        keep = [c for c, _ in counts.most_common(top)]
        parts.append(table(["class", "labels"], counts.most_common()))
        parts.append(
            img_tag(
                plots.bar_counts(
                    {s: {c: v for c, v in cnt.items() if c in keep} for s, cnt in by_source.items()},
                    title="labels per class",
                ),
                "labels per class",
            )
        )
        if scores:
            parts.append(
                img_tag(
                    plots.score_histogram(
                        {c: scores[c] for c in keep if c in scores}, title="score histogram (top classes)"
                    ),
                    "score histogram",
                )
            )
    if failed:
        parts.append(table(["failed frame", "reason"], [(r.frame.id, r.error or "") for r in failed[:50]]))
    return "\n".join(parts)


def evaluation_section(res: EvalResult) -> str:
    s = res.summary()
    parts = [
        "<h2>Evaluation against ground truth</h2>",
        f"<p>{res.frames} frames. AP {_pct(s['AP'])}, AP50 {_pct(s['AP50'])}, AP75 {_pct(s['AP75'])} "
        '<span class="muted">(COCO-style: 101-point interpolation, IoU .50:.05:.95, 100 detections)</span></p>',
        table(
            ["class", "gt", "det", "AP", "AP50", "AP75"],
            [(r["class"], r["gt"], r["det"], _pct(r["AP"]), _pct(r["AP50"]), _pct(r["AP75"])) for r in res.rows()],
        ),
    ]
    for iou in (0.5, 0.75):
        ap = {c: res.ap(c, iou) for c in res.classes}
        parts.append(
            img_tag(
                plots.pr_curves(res.pr_points(iou), title=f"precision-recall at IoU {iou}", ap=ap),
                f"PR curves IoU {iou}",
            )
        )
    return "\n".join(parts)


def routing_section(res: RouteResult, top: int = 12) -> str:
    rows = [
        (name, c.labels, c.auto, c.review, c.threshold, _pct(c.expected_precision), _pct(c.expected_recall))
        for name, c in sorted(res.per_class.items(), key=lambda kv: -kv[1].labels)
    ]
    ranked = sorted(res.per_class.items(), key=lambda kv: -kv[1].labels)
    fractions = {n: {"auto-accepted": c.auto, "to review": c.review} for n, c in ranked[:top]}
    rest = ranked[top:]
    if rest:
        fractions[f"({len(rest)} other classes)"] = {
            "auto-accepted": sum(c.auto for _n, c in rest),
            "to review": sum(c.review for _n, c in rest),
        }
    parts = [
        "<h2>Routing</h2>",
        f"<p>{res.frames} frames: {res.frames_to_people} go to people ({res.labels_to_people} boxes); "
        f"{res.labels_auto} boxes auto-accepted with expected precision {_pct(res.expected_precision)} % and "
        f"expected recall {_pct(res.expected_recall)} %.</p>",
        table(["class", "labels", "auto", "review", "threshold", "exp. precision %", "exp. recall %"], rows),
    ]
    if fractions:
        parts.append(img_tag(plots.stacked_fractions(fractions, title="routed fraction per class"), "routed"))
    return "\n".join(parts)


def build_report(
    records: Sequence[FrameRecord],
    *,
    title: str = "prelabel report",
    evaluation: EvalResult | None = None,
    routing: RouteResult | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> str:
    """The whole page. ``extra``: (heading, HTML) sections appended as they are."""
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="muted">generated {datetime.now(UTC).isoformat(timespec="seconds")}</p>',
        label_section(records),
    ]
    if evaluation is not None:
        body.append(evaluation_section(evaluation))
    if routing is not None:
        body.append(routing_section(routing))
    for heading, content in extra:
        body.append(f"<h2>{html.escape(heading)}</h2>\n{content}")
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
