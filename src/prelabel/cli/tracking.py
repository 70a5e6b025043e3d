"""``prelabel track | interpolate`` and ``prelabel eval --track``: labels across the frames of a sequence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from prelabel.cli._common import console


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * float(v):.2f}"


def run_track_eval(
    labels: str,
    gt: str,
    *,
    gt_format: str | None,
    fmt: str | None,
    preset: str,
    class_map: str | None,
    gt_class_map: str | None,
    classes: str | None,
    inclusive: bool | None,
    json_out: str | None,
) -> None:
    """``prelabel eval --track``: MOTA, IDF1, MOTP, HOTA, FP, FN, ID switches per class and overall."""
    import warnings

    from rich.table import Table

    from prelabel.errors import FormatError, PrelabelError, UnknownNameError
    from prelabel.quality.classmaps import parse_class_map
    from prelabel.quality.inputs import detect_format, load_records
    from prelabel.quality.mot import BDD_TRACK_CLASSES, MOTConfig, bdd_config, evaluate_tracking

    gt_fmt = (gt_format or detect_format(Path(gt))).lower()
    gts = load_records(gt, gt_fmt)
    preds = load_records(labels, fmt)
    if not gts:
        raise FormatError(gt, "the ground truth holds no frames")
    presets = ("auto", "scalabel", "bdd", "plain")
    if preset not in presets:
        raise UnknownNameError("tracking evaluation preset", preset, presets)
    gt_cats = {lab.category for r in gts for lab in r.labels}
    if preset == "auto":
        preset = "scalabel" if gt_fmt in ("scalabel", "bdd") or gt_cats <= set(BDD_TRACK_CLASSES) else "plain"
    cfg = bdd_config() if preset in ("scalabel", "bdd") else MOTConfig(inclusive_pixels=False)
    cfg.class_map = parse_class_map(class_map)
    cfg.gt_class_map = parse_class_map(gt_class_map)
    if classes:
        cfg.classes = [c.strip() for c in classes.split(",") if c.strip()]
    if inclusive is not None:
        cfg.inclusive_pixels = inclusive
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = evaluate_tracking(preds, gts, cfg)
    if preds and len(res.unmatched_prediction_frames) == len(preds):
        raise PrelabelError(
            f"none of the {len(preds)} predicted frames pairs with the {len(gts)} ground-truth frames (by id or "
            f"file stem); predicted ids look like {[p.frame.id for p in preds[:3]]}, ground truth like "
            f"{[g.frame.id for g in gts[:3]]}"
        )
    for w in caught:
        console.print(f"[yellow]warning:[/] {w.message}", highlight=False)
    table = Table(title=f"{labels} vs {gt} ({preset} rules, {res.sequences} sequences, {res.frames} frames)")
    cols = ("class", "GT", "MOTA", "IDF1", "MOTP", "HOTA", "FP", "FN", "IDSw", "MT", "ML")
    for col in cols:
        table.add_column(col, justify="left" if col == "class" else "right")
    for name, row in res.rows.items():
        if name in res.classes and not row["GT"] and not row["FP"]:
            continue
        table.add_row(
            name,
            str(row["GT"]),
            *(_pct(row[k]) for k in ("MOTA", "IDF1", "MOTP", "HOTA")),
            *(str(row[k]) for k in ("FP", "FN", "IDSw", "MT", "ML")),
        )
    console.print(table)
    s = res.summary()
    console.print(
        f"MOTA {_pct(s['MOTA'])}  IDF1 {_pct(s['IDF1'])}  MOTP {_pct(s['MOTP'])}  HOTA {_pct(s['HOTA'])}  "
        f"FP {s['FP']}  FN {s['FN']}  IDSw {s['IDSw']}"
    )
    if json_out:
        from prelabel import storage

        storage.write_text(json_out, json.dumps({"labels": labels, "gt": gt, "preset": preset, **res.to_dict()}))
        console.print(f"wrote {json_out}")


def register(app: typer.Typer) -> None:
    """Tracking commands (added below as they land)."""
    del app
