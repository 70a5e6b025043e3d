"""Ground Truth manifests in and out of review jobs, through :mod:`prelabel.formats.groundtruth`.

In: each input line becomes a frame record (its labels from the line's bounding-box attribute) and the line itself
is kept with the job, so the output line carries every key the input had. Out: the format module writes the output
manifest from the reviewed records (with prelabel's ``"prelabel"`` key of label ids, so the output merges back by
id); the portal then adds what only it knows: the consolidation confidence of each box, per-label verdicts of a
verification job, and the input line's other keys.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prelabel.core.labels import FrameRecord
from prelabel.formats import groundtruth as gt
from prelabel.review.errors import ReviewInputError

DEFAULT_ORIGINAL = gt.DEFAULT_ATTRIBUTE  # the attribute pre-labels from a labels file are written under


def box_attributes(line: dict[str, Any]) -> list[str]:
    """The keys of a manifest line that hold bounding-box labels."""
    return [k for k, v in line.items() if isinstance(v, dict) and isinstance(v.get("annotations"), list)]


def read_manifest(uri: str, *, attribute: str | None = None) -> tuple[list[FrameRecord], list[dict[str, Any]], str]:
    """Records, raw lines and the label attribute of a Ground Truth input manifest.

    Each line must hold one bounding-box attribute, or name it with ``attribute``.
    """
    records: list[FrameRecord] = []
    lines: list[dict[str, Any]] = []
    found: str | None = attribute
    for where, line in gt.iter_manifest_lines(uri):
        attrs = box_attributes(line)
        if attribute is None:
            if len(attrs) != 1:
                raise ReviewInputError(
                    f"{where}: expected one bounding-box attribute; found {attrs or 'none'}"
                    + ("; name the one to review with --source-attribute" if attrs else "")
                )
            if found is not None and attrs[0] != found:
                raise ReviewInputError(f"{where}: attribute {attrs[0]!r} differs from earlier lines' {found!r}")
            found = attrs[0]
        elif attribute not in attrs:
            raise ReviewInputError(f"{where}: no bounding-box attribute {attribute!r}; the line has {attrs}")
        records.append(gt.line_to_record_checked(line, where, attribute=found))
        lines.append(line)
    if found is None:
        raise ReviewInputError(f"{uri}: the manifest has no lines")
    return records, lines, found


def output_lines(
    *,
    kind: str,
    attribute: str,
    original_attribute: str,
    job_name: str,
    categories: Sequence[str],
    reviewed: Sequence[FrameRecord],
    originals: Sequence[FrameRecord],
    input_lines: Sequence[dict[str, Any] | None],
    confidences: Sequence[list[float]],
    verdicts: Sequence[list[dict[str, Any]]],
    feedback: dict[str, list[str]],
    creation_dates: Sequence[str],
) -> list[dict[str, Any]]:
    """One output manifest line per reviewed frame (in the given order)."""
    out: list[dict[str, Any]] = []
    if not reviewed:
        return out
    with tempfile.TemporaryDirectory(prefix="prelabel-gt-") as tmp:
        dst = str(Path(tmp) / "output.manifest")
        gt.write_output_manifest(
            reviewed,
            dst,
            attribute=attribute,
            job_name=job_name,
            original_attribute=original_attribute,
            kind="adjustment" if kind == "adjust" else "verification",
            categories=categories,
            worker_feedback=feedback,
            originals=originals,
        )
        texts = Path(dst).read_text(encoding="utf-8").splitlines()
    if len(texts) != len(reviewed):
        raise RuntimeError(f"the Ground Truth writer wrote {len(texts)} lines for {len(reviewed)} frames")
    for i, text in enumerate(texts):
        line: dict[str, Any] = json.loads(text)
        meta = line[f"{attribute}-metadata"]
        meta["creation-date"] = creation_dates[i]  # when the frame's last answer came in
        if kind == "adjust" and len(meta.get("objects", [])) == len(confidences[i]):
            meta["objects"] = [{"confidence": c} for c in confidences[i]]
        if kind != "adjust":
            meta["objects"] = verdicts[i]
            if verdicts[i]:
                meta["confidence"] = min(v["confidence"] for v in verdicts[i])
        source = input_lines[i]
        if source is not None:
            line = _merge(source, line, attribute)
        elif f"{original_attribute}-metadata" in line:
            # pre-labels from a labels file: their own date and run, not the review's
            orig_meta = line[f"{original_attribute}-metadata"]
            orig_meta["creation-date"] = _gt_date(originals[i].created_at)
            orig_meta["job-name"] = f"labeling-job/{originals[i].job or 'prelabel'}"
        out.append(line)
    return out


def _gt_date(iso: str) -> str:
    dt = datetime.fromisoformat(iso)
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt.isoformat(timespec="microseconds")


def _merge(source: dict[str, Any], generated: dict[str, Any], attribute: str) -> dict[str, Any]:
    """The input line as it was, plus the job's new attribute and prelabel's id entries for it."""
    merged = dict(source)
    merged[attribute] = generated[attribute]
    merged[f"{attribute}-metadata"] = generated[f"{attribute}-metadata"]
    gen_pre = generated.get(gt.PRELABEL_KEY) or {}
    pre = dict(source.get(gt.PRELABEL_KEY) or {})
    labels = dict(pre.get("labels") or {})
    for k, v in (gen_pre.get("labels") or {}).items():
        labels.setdefault(k, v)
    labels[attribute] = (gen_pre.get("labels") or {}).get(attribute, [])
    pre["labels"] = labels
    pre.setdefault("frame-id", gen_pre.get("frame-id"))
    merged[gt.PRELABEL_KEY] = pre
    return merged
