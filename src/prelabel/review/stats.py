"""Per-job pre-label quality: how much of what the model proposed people kept.

- acceptance rate: pre-labels accepted unchanged (adjust) or judged good (verify), over pre-labels on reviewed frames
- added: boxes people drew; removed: pre-labels deleted (adjust) or judged bad (verify)
- moved: pre-labels whose box changed by more than half a pixel; reclassified: whose class changed
- mean IoU: between each kept pre-label's box and its final box (1.0 for unchanged ones)
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np

from prelabel.core.geometry.boxes2d import overlap
from prelabel.review.db import Database
from prelabel.review.results import frame_outcomes
from prelabel.review.review_jobs import Job, get_job
from prelabel.review.tasks import job_tasks


def job_stats(db: Database, job: Job | int | str) -> dict[str, Any]:
    j = job if isinstance(job, Job) else get_job(db, job)
    outcomes = frame_outcomes(db, j)
    reviewed = [o for o in outcomes if o.reviewed]
    actions: dict[str, int] = {}
    ious: list[float] = []
    per_class: dict[str, dict[str, int]] = {}
    for o in reviewed:
        for f in o.labels:
            actions[f.action] = actions.get(f.action, 0) + 1
            if f.prelabel is not None:
                pc = per_class.setdefault(f.prelabel.category, {"prelabels": 0, "accepted": 0})
                pc["prelabels"] += 1
                pc["accepted"] += f.action in ("unchanged", "good")
            if f.prelabel is not None and f.prelabel.box is not None and f.action not in ("deleted", "bad"):
                assert f.label.box is not None
                ious.append(float(overlap(np.asarray([f.prelabel.box.xyxy]), np.asarray([f.label.box.xyxy]))[0, 0]))
    prelabels = sum(1 for o in reviewed for f in o.labels if f.prelabel is not None)
    accepted = actions.get("unchanged", 0) + actions.get("good", 0)
    moved = sum(v for k, v in actions.items() if "moved" in k)
    reclassified = sum(v for k, v in actions.items() if "reclassified" in k)
    seconds = [r.seconds for o in reviewed for r in o.responses if r.seconds is not None]
    tasks = job_tasks(db, j.id)
    extra: dict[str, Any] = {}
    if j.modality == "3d":
        from prelabel.review.results3d import quality3d

        extra = {"modality": "3d", "quality3d": quality3d(reviewed)}
    return {
        **extra,
        "job": j.name,
        "type": j.type,
        "frames": len(outcomes),
        "frames_reviewed": len(reviewed),
        "tasks": len(tasks),
        "tasks_submitted": sum(1 for t in tasks if t.status == "submitted"),
        "workers": sorted({r.worker for o in reviewed for r in o.responses}),
        "prelabels_reviewed": prelabels,
        "accepted": accepted,
        "acceptance_rate": round(accepted / prelabels, 4) if prelabels else None,
        "added": actions.get("added", 0),
        "removed": actions.get("deleted", 0) + actions.get("bad", 0),
        "moved": moved,
        "reclassified": reclassified,
        "mean_iou": round(float(np.mean(ious)), 4) if ious else None,
        "median_seconds_per_task": round(statistics.median(seconds), 2) if seconds else None,
        "per_class": {
            c: {**v, "acceptance_rate": round(v["accepted"] / v["prelabels"], 4)} for c, v in sorted(per_class.items())
        },
    }
