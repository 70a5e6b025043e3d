"""A job's results out: a Ground Truth output manifest and a prelabel labels file with review state.

The output manifest follows Ground Truth's adjustment and verification jobs: each reviewed frame's input
line (or, for a job made from a labels file, one built from the pre-labels under ``prelabel-boxes``) with the
job's attribute appended, ``"human-annotated": "yes"``, and ``"adjustment-status"`` ``adjusted`` or
``unadjusted``. A 3D job whose frames form sequences also gets Ground Truth's 3D tracking output
(:mod:`prelabel.review.export3d`). ``export_job`` writes Ground Truth's layout:
``<out>/<job>/manifests/output/output.manifest``, the raw answers under
``<out>/<job>/annotations/worker-response/`` and ``<out>/<job>/labels.jsonl``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from prelabel import storage
from prelabel.core.labels import FrameRecord, ReviewState
from prelabel.errors import OutputExistsError
from prelabel.review.db import Database
from prelabel.review.results import FrameOutcome, frame_outcomes
from prelabel.review.review_jobs import Job, get_job


def manifest_dicts(job: Job, outcomes: Sequence[FrameOutcome]) -> list[dict[str, Any]]:
    """The output manifest lines (as objects) of the reviewed frames among ``outcomes``."""
    from prelabel.review.manifests import gt_date, output_lines

    done = [o for o in outcomes if o.reviewed]
    if job.modality == "3d":
        from prelabel.review.results3d import manifest_dicts3d

        return manifest_dicts3d(job, done, [gt_date(max(r.submitted_at for r in o.responses)) for o in done])
    feedback: dict[str, list[str]] = {}
    for o in done:
        notes = [c["comment"] for f in o.labels for c in f.label.attributes.get("review_comments", [])]
        notes += [c["comment"] for c in o.comments]
        if notes:
            feedback[o.frame.frame_id] = notes
    return output_lines(
        kind=job.type,
        attribute=job.attribute,
        original_attribute=job.original_attribute,
        job_name=job.name,
        categories=job.categories,
        reviewed=[o.record(job) for o in done],
        originals=[o.frame.record for o in done],
        input_lines=[o.frame.manifest_line for o in done],
        confidences=[
            [round(f.confidence, 4) for f in o.labels if f.label.review != ReviewState.REJECTED] for o in done
        ],
        verdicts=[[{"class-name": f.action, "confidence": f.confidence} for f in o.labels] for o in done],
        feedback=feedback,
        creation_dates=[gt_date(max(r.submitted_at for r in o.responses)) for o in done],
    )


def manifest_lines(db: Database, job: Job | int | str) -> Iterator[str]:
    """The output manifest, one JSON line per reviewed frame (frames nobody answered yet are left out)."""
    j = job if isinstance(job, Job) else get_job(db, job)
    for line in manifest_dicts(j, frame_outcomes(db, j)):
        yield json.dumps(line, ensure_ascii=False, separators=(",", ":"))


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
    lines = [json.dumps(d, ensure_ascii=False, separators=(",", ":")) for d in manifest_dicts(j, outcomes)]
    storage.write_text(manifest, "".join(line + "\n" for line in lines))
    records = [o.record(j) for o in outcomes]
    storage.write_text(labels, "".join(r.to_json() + "\n" for r in records))
    responses = 0
    written: set[int] = set()  # a sequence task's answer covers many frames: written once, named by its first
    for o in outcomes:
        for r in o.responses:
            if r.id in written:
                continue
            written.add(r.id)
            doc = {
                "frame": r.frame_id,
                "source-ref": o.frame.record.frame.uri,
                "worker": r.worker,
                "submitted-at": r.submitted_at,
                "time-spent-seconds": r.seconds,
                "answer": r.payload,
            }
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", r.frame_id.replace("/", "__")).lstrip(".") or "frame"
            storage.write_text(
                storage.join(root, "annotations", "worker-response", safe, f"{r.worker}.json"),
                json.dumps(doc, indent=1),
            )
            responses += 1
    extra: dict[str, Any] = {}
    if j.kind == "sequence":
        from prelabel.review.sequence_results import write_tracking_manifest

        tracking_path = storage.join(root, "manifests", "output", "tracking", "output.manifest")
        extra = {"tracking_manifest": tracking_path}
        write_tracking_manifest(j, outcomes, tracking_path, overwrite=overwrite)
    if j.modality == "3d" and any(o.reviewed for o in outcomes):
        from prelabel.review.export3d import export_tracking
        from prelabel.review.manifests import gt_date

        last = max(r.submitted_at for o in outcomes for r in o.responses)
        extra |= export_tracking(j, outcomes, root, gt_date(last))
    return {
        **extra,
        "manifest": manifest,
        "labels": labels,
        "frames_reviewed": len(lines),
        "frames": len(outcomes),
        "worker_responses": responses,
        "root": str(Path(root)) if storage.is_local(root) else root,
    }
