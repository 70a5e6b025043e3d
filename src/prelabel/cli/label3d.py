"""``prelabel label SCENES --3d``: 3D pre-labels for every scene, written as a labels file."""

from __future__ import annotations

from collections import Counter

from prelabel.cli._common import console


def run_label3d(
    src: str,
    out: str | None,
    model: str,
    *,
    tiled: bool,
    masks: str | None,
    threads: int,
    cache: str | None,
    overwrite: bool,
    min_score: float,
) -> int:
    """Label, write ``out`` (a ``*.jsonl`` or a folder getting ``labels3d.jsonl``), print a summary; the failures."""
    from prelabel import storage
    from prelabel.errors import OutputExistsError, PrelabelError
    from prelabel.labelfile import write_records
    from prelabel.lidar.run import label_scenes

    if out is None:
        raise PrelabelError("--3d needs --out (a labels file *.jsonl or a folder)")
    dest = out if out.endswith(".jsonl") else storage.join(out, "labels3d.jsonl")
    if storage.exists(dest) and not overwrite:
        raise OutputExistsError(dest, "pass --overwrite to replace it")
    if model == "ssd-mobilenet-v2-coco":  # the 2D default; with --3d it is tiled NanoDet, the best 2D setting here
        model = "nanodet-m-coco"
        tiled = True
    records = []
    per_class: Counter[str] = Counter()
    failures = []
    # the detector keeps 2D boxes from 0.05 and lifting takes those from min(--min-score, 0.15): a faint 2D box can
    # still make a well-fitted 3D box, and every 3D box is scored again (2D score x fit quality), so all are written
    from prelabel.lidar.lift import LiftOptions

    options = LiftOptions(min_score=min(min_score, 0.15))
    models = [m.strip() for m in model.split(",") if m.strip()]
    for rec in label_scenes(
        src, model=models, tiled=tiled, masks=masks, threads=threads, cache=cache, min_score=0.05, options=options
    ):
        if rec.status == "ok":
            per_class.update(lb.category for lb in rec.labels)
        else:
            failures.append((rec.frame.id, rec.error or ""))
        records.append(rec)
    write_records(dest, records)
    for name, n in per_class.most_common():
        console.print(f"{name}: {n}", highlight=False)
    console.print(f"scenes: {len(records)}  failed: {len(failures)}  3D labels: {sum(per_class.values())}")
    for fid, reason in failures[:20]:
        console.print(f"[red]failed[/] {fid}: {reason}", highlight=False)
    console.print(f"labels written to {dest}", highlight=False)
    return len(failures)
