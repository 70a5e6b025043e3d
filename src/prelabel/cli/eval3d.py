"""``prelabel eval --3d``: print and optionally save the 3D figures."""

from __future__ import annotations

import json
from pathlib import Path

from prelabel.cli._common import console


def run_eval3d(
    labels: str, gt: str, gt_format: str | None, fmt: str | None, difficulty: str, json_out: str | None
) -> None:
    from rich.table import Table

    from prelabel.errors import UnknownNameError
    from prelabel.quality.ap3d import DIFFICULTY
    from prelabel.quality.eval3d import evaluate3d
    from prelabel.quality.inputs import detect_format, load_records

    if difficulty not in DIFFICULTY:
        raise UnknownNameError("difficulty", difficulty, DIFFICULTY)
    gts = load_records(gt, (gt_format or detect_format(Path(gt))).lower())
    preds = load_records(labels, fmt)
    res = evaluate3d(gts, preds, difficulty)
    table = Table(title=f"KITTI AP|R40 ({difficulty})", show_edge=False)
    for col in ("class", "IoU", "BEV AP", "3D AP", "ground truth"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for r in res["kitti"]:
        table.add_row(r["class"], f"{r['iou']:g}", _f(r["bev_ap"]), _f(r["ap_3d"]), str(r["ground_truth"]))
    console.print(table)
    for cls, v in res["nuscenes"].items():
        console.print(f"{cls} nuScenes-style AP (0.5/1/2/4 m): mean {_f(v['mean'])}", highlight=False)
    for cls, e in res["errors"].items():
        cells = ", ".join(f"{k} {_f(v, 3)}" for k, v in e.items())
        console.print(f"{cls} box errors (matched within 2 m): {cells}", highlight=False)
    for cls, v in res["no_edit"].items():
        console.print(f"{cls}: {_f(v)} % of ground truth needs no edit", highlight=False)
    if json_out:
        Path(json_out).write_text(json.dumps(res, indent=2), "utf-8")
        console.print(f"figures written to {json_out}", highlight=False)


def _f(v: float | None, nd: int = 1) -> str:
    return "-" if v is None else f"{v:.{nd}f}"
