"""Ground Truth 3D point cloud object *tracking* output for the reviewed samples of a 3D job's sequences.

Ground Truth writes one label sequence file per sequence, ``SeqLabel.json``: ``{"tracking-annotations":
[{"frame-number", "frame-name", "frame-attributes", "annotations": [cuboid, ...]}]}`` (cuboids as in
:func:`results3d.annotation`; ``object-id`` is the same for one object on every frame: prelabel writes the track
id), and an output manifest line per sequence: ``{"source-ref": <the input sequence file>, "<attr>-ref":
<SeqLabel.json>, "<attr>-ref-metadata": {"objects": [{"frame-no", "confidence": []}], "class-map", "type":
"groundtruth/lidar_object_tracking", "human-annotated", "creation-date", "job-name", "adjustment-status"}}``
(a tracking job's label attribute ends in ``-ref``). Written under the export:
``annotations/consolidated-annotation/output/<sequence>/SeqLabel.json`` and
``manifests/output/output.tracking.manifest``. A job made from a labels file has no input sequence file, so one is
written (``manifests/output/sequences/``, :mod:`prelabel.sources.scenes.groundtruth3d`) where the sweeps are a
Ground Truth point format; other sequences are listed as skipped, with the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from prelabel import storage
from prelabel.core.labels import ReviewState
from prelabel.errors import FormatError
from prelabel.review.results3d import annotation
from prelabel.sources.scenes import groundtruth3d_labels as gtl

if TYPE_CHECKING:
    from prelabel.review.results import FrameOutcome
    from prelabel.review.review_jobs import Job


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "sequence"


def _frame_order(o: FrameOutcome) -> tuple[int, int]:
    f = o.frame.record.frame
    return (f.index if f.index is not None else o.frame.position, o.frame.position)


def seq_label(job: Job, outcomes: Sequence[FrameOutcome]) -> dict[str, Any]:
    """One sequence's ``SeqLabel.json`` from its reviewed samples (in sequence order)."""
    class_ids = {c: i for i, c in enumerate(job.categories)}
    frames = []
    for n, o in enumerate(sorted(outcomes, key=_frame_order)):
        f = o.frame.record.frame
        anns = []
        for k, fl in enumerate(x for x in o.labels if x.label.review != ReviewState.REJECTED):
            if fl.label.box3d is None:
                continue
            anns.append(annotation(fl.label, f, class_ids, k, tracking=True))
        frames.append(
            {
                "frame-number": f.index if f.index is not None else n,
                "frame-name": f.uri.rsplit("/", 1)[-1],
                "frame-attributes": {},
                "annotations": anns,
            }
        )
    return {"tracking-annotations": frames}


def export_tracking(job: Job, outcomes: Sequence[FrameOutcome], root: str, date: str) -> dict[str, Any]:
    """Write the tracking output of every sequence with reviewed samples; returns what was written and skipped."""
    seqs: dict[str, list[FrameOutcome]] = {}
    for o in outcomes:
        name = o.frame.record.frame.sequence
        if o.reviewed and name is not None:
            seqs.setdefault(name, []).append(o)
    if not seqs:
        return {}
    key = job.attribute if job.attribute.endswith("-ref") else f"{job.attribute}-ref"
    lines, skipped = [], {}
    for name, outs in sorted(seqs.items()):
        line_in = outs[0].frame.manifest_line or {}
        source = line_in.get("source-ref") if "source-ref-metadata" not in line_in else None
        if source is None:
            from prelabel.sources.scenes.groundtruth3d import write_tracking

            try:
                files = write_tracking(
                    [o.frame.record for o in sorted(outs, key=_frame_order)],
                    storage.join(root, "manifests", "output", "sequences", _safe(name)),
                )
            except FormatError as e:
                skipped[name] = str(e)
                continue
            source = files[0]
        label_uri = storage.join(root, "annotations", "consolidated-annotation", "output", _safe(name), "SeqLabel.json")
        doc = seq_label(job, outs)
        storage.write_text(label_uri, json.dumps(doc, ensure_ascii=False))
        adjusted = any(o.adjusted for o in outs)
        lines.append(
            {
                "source-ref": source,
                key: label_uri,
                f"{key}-metadata": {
                    "objects": [
                        {"frame-no": fr["frame-number"], "confidence": []} for fr in doc["tracking-annotations"]
                    ],
                    "class-map": {str(i): c for i, c in enumerate(job.categories)},
                    "type": gtl.TRACKING_TYPE,
                    "human-annotated": "yes",
                    "creation-date": date,
                    "job-name": f"labeling-job/{job.name}",
                    "adjustment-status": "adjusted" if adjusted else "unadjusted",
                },
            }
        )
    manifest = storage.join(root, "manifests", "output", "output.tracking.manifest")
    storage.write_text(
        manifest, "".join(json.dumps(ln, ensure_ascii=False, separators=(",", ":")) + "\n" for ln in lines)
    )
    return {"tracking_manifest": manifest, "sequences": len(lines), "tracking_skipped": skipped}
