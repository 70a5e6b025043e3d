"""A job's results out: a Ground Truth output manifest and a prelabel labels file with review state.

The output manifest follows Ground Truth's adjustment and verification jobs (DESIGN §6): each reviewed frame's input
line (or, for a job made from a labels file, a line built from the pre-labels under the ``prelabel`` attribute) with
the job's attribute appended, ``"human-annotated": "yes"``, and ``"adjustment-status"`` ``adjusted`` or
``unadjusted``. ``export_job`` writes Ground Truth's layout: ``<out>/<job>/manifests/output/output.manifest``, the
raw answers under ``<out>/<job>/annotations/worker-response/`` and ``<out>/<job>/labels.jsonl``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prelabel import storage
from prelabel.core.labels import FrameRecord, Label, ReviewState
from prelabel.errors import OutputExistsError
from prelabel.review.db import Database
from prelabel.review.jobs import Job, get_job
from prelabel.review.results import FrameOutcome, frame_outcomes

MAX_LINE = 100_000  # Ground Truth's limit on one manifest line


def _gt_date(iso: str | None = None) -> str:
    dt = datetime.fromisoformat(iso) if iso else datetime.now(UTC)
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def bbox_attribute(
    labels: Sequence[Label], categories: Sequence[str], width: int, height: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ground Truth's ``{"image_size", "annotations"}`` (integer left/top/width/height) and the ``objects`` list."""
    index = {c: i for i, c in enumerate(categories)}
    annotations = []
    objects = []
    for lb in labels:
        if lb.box is None:
            continue
        x1, y1, x2, y2 = lb.box.xyxy
        left, top = round(x1), round(y1)
        annotations.append(
            {
                "class_id": index[lb.category],
                "left": left,
                "top": top,
                "width": round(x2) - left,
                "height": round(y2) - top,
            }
        )
        objects.append({"confidence": 1.0 if lb.score is None else round(lb.score, 4)})
    return {"image_size": [{"width": width, "height": height, "depth": 3}], "annotations": annotations}, objects


def _class_map(categories: Sequence[str]) -> dict[str, str]:
    return {str(i): c for i, c in enumerate(categories)}


def _input_line(job: Job, out: FrameOutcome) -> dict[str, Any]:
    if out.frame.manifest_line is not None:
        return dict(out.frame.manifest_line)
    rec = out.frame.record
    value, objects = bbox_attribute(rec.labels, job.categories, rec.frame.width or 0, rec.frame.height or 0)
    return {
        "source-ref": rec.frame.uri,
        "prelabel": value,
        "prelabel-metadata": {
            "objects": objects,
            "class-map": _class_map(job.categories),
            "type": "groundtruth/object-detection",
            "human-annotated": "no",
            "creation-date": _gt_date(rec.created_at),
            "job-name": f"labeling-job/{rec.job or 'prelabel'}",
        },
    }


def manifest_line(job: Job, out: FrameOutcome) -> dict[str, Any]:
    """One output manifest line for a reviewed frame."""
    line = _input_line(job, out)
    created = _gt_date(max(r.submitted_at for r in out.responses))
    rec = out.frame.record
    if job.type == "adjust":
        kept = [f for f in out.labels if f.label.review != ReviewState.REJECTED]
        value, _ = bbox_attribute([f.label for f in kept], job.categories, rec.frame.width or 0, rec.frame.height or 0)
        meta: dict[str, Any] = {
            "objects": [{"confidence": round(f.confidence, 4)} for f in kept],
            "class-map": _class_map(job.categories),
            "type": "groundtruth/object-detection",
            "human-annotated": "yes",
            "creation-date": created,
            "job-name": f"labeling-job/{job.name}",
            "adjustment-status": "adjusted" if out.adjusted else "unadjusted",
        }
        line[job.attribute] = value
    else:
        bad = [f for f in out.labels if f.action == "bad"]
        verdict = "bad" if bad else "good"
        confs = [f.confidence for f in out.labels]
        meta = {
            "class-name": verdict,
            "confidence": round(min(confs), 4) if confs else 1.0,
            "objects": [{"class-name": f.action, "confidence": f.confidence} for f in out.labels],
            "class-map": {"0": "good", "1": "bad"},
            "type": "groundtruth/label-verification",
            "job-name": f"labeling-job/{job.name}",
            "human-annotated": "yes",
            "creation-date": created,
        }
        feedback = [
            {"comment": c["comment"]} for f in out.labels for c in f.label.attributes.get("review_comments", [])
        ]
        feedback += [{"comment": c["comment"]} for c in out.comments]
        if feedback:
            meta["worker-feedback"] = feedback
        line[job.attribute] = "1" if bad else "0"
    line[f"{job.attribute}-metadata"] = meta
    return line


def manifest_lines(db: Database, job: Job | int | str) -> Iterator[str]:
    """The output manifest, one JSON line per reviewed frame (frames nobody answered yet are left out)."""
    j = job if isinstance(job, Job) else get_job(db, job)
    for out in frame_outcomes(db, j):
        if not out.reviewed:
            continue
        text = json.dumps(manifest_line(j, out), separators=(",", ":"))
        if len(text) > MAX_LINE:
            raise ValueError(f"frame {out.frame.frame_id}: manifest line of {len(text)} characters; limit {MAX_LINE}")
        yield text


def reviewed_records(db: Database, job: Job | int | str, *, include_pending: bool = True) -> list[FrameRecord]:
    """The job's frames as labels records with review state (ids preserved, so they merge back by label id)."""
    j = job if isinstance(job, Job) else get_job(db, job)
    return [out.record(j) for out in frame_outcomes(db, j) if include_pending or out.reviewed]


def export_job(db: Database, job: Job | int | str, out_dir: str, *, overwrite: bool = False) -> dict[str, Any]:
    """Write Ground Truth's output layout for a job under ``out_dir/<job>``. Returns what was written."""
    j = job if isinstance(job, Job) else get_job(db, job)
    root = storage.join(out_dir, j.name)
    manifest = storage.join(root, "manifests", "output", "output.manifest")
    labels = storage.join(root, "labels.jsonl")
    for p in (manifest, labels):
        if storage.exists(p) and not overwrite:
            raise OutputExistsError(p, hint="pass --overwrite to replace the export")
    outcomes = frame_outcomes(db, j)
    lines = [json.dumps(manifest_line(j, o), separators=(",", ":")) for o in outcomes if o.reviewed]
    storage.write_text(manifest, "".join(line + "\n" for line in lines))
    records = [o.record(j) for o in outcomes]
    storage.write_text(labels, "".join(r.to_json() + "\n" for r in records))
    responses = 0
    for o in outcomes:
        for r in o.responses:
            doc = {
                "frame": o.frame.frame_id,
                "source-ref": o.frame.record.frame.uri,
                "worker": r.worker,
                "submitted-at": r.submitted_at,
                "time-spent-seconds": r.seconds,
                "answer": r.payload,
            }
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", o.frame.frame_id.replace("/", "__")).lstrip(".") or "frame"
            storage.write_text(
                storage.join(root, "annotations", "worker-response", safe, f"{r.worker}.json"),
                json.dumps(doc, indent=1),
            )
            responses += 1
    return {
        "manifest": manifest,
        "labels": labels,
        "frames_reviewed": len(lines),
        "frames": len(outcomes),
        "worker_responses": responses,
        "root": str(Path(root)) if storage.is_local(root) else root,
    }
