"""``prelabel eval | fuse | calibrate | route | select | report``: quality of a label set and what to do with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from prelabel.cli._common import EXIT_OK, console, friendly_errors


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def _check_out(path: str, overwrite: bool) -> Path:
    from prelabel.errors import OutputExistsError

    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputExistsError(str(p), hint="pass --overwrite to replace it")
    return p


def _eval_config(
    gt_fmt: str,
    preset: str,
    pred_categories: set[str],
    gt_categories: set[str],
    class_map: str | None,
    gt_class_map: str | None,
    classes: str | None,
    min_height: float | None,
    inclusive: bool | None,
) -> Any:
    from prelabel.core.vocab import COCO80
    from prelabel.errors import UnknownNameError
    from prelabel.quality.classmaps import parse_class_map
    from prelabel.quality.evaluate import EvalConfig, kitti_config

    presets = ("auto", "kitti", "scalabel", "coco")
    if preset not in presets:
        raise UnknownNameError("evaluation preset", preset, presets)
    if preset == "auto":
        preset = {"kitti": "kitti", "scalabel": "scalabel", "bdd": "scalabel"}.get(gt_fmt, "coco")
    coco_preds = bool(pred_categories) and pred_categories <= set(COCO80) and not pred_categories <= gt_categories
    pmap = parse_class_map(class_map)
    if pmap is None and coco_preds and preset in ("kitti", "scalabel"):
        pmap = parse_class_map("coco-to-kitti" if preset == "kitti" else "coco-to-bdd")
    cfg = kitti_config(pmap) if preset == "kitti" else EvalConfig(class_map=pmap, inclusive_pixels=preset == "scalabel")
    cfg.gt_class_map = parse_class_map(gt_class_map)
    if classes:
        cfg.classes = [c.strip() for c in classes.split(",") if c.strip()]
    if min_height is not None:
        cfg.min_height = min_height
    if inclusive is not None:
        cfg.inclusive_pixels = inclusive
    return cfg, preset


def _print_eval(res: Any, title: str) -> None:
    from rich.table import Table

    table = Table(title=title, show_edge=False)
    for col in ("class", "gt", "det", "AP", "AP50", "AP75"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for row in res.rows():
        table.add_row(
            row["class"], str(row["gt"]), str(row["det"]), _pct(row["AP"]), _pct(row["AP50"]), _pct(row["AP75"])
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    @app.command("eval")
    @friendly_errors
    def eval_cmd(
        labels: str = typer.Argument(..., help="Labels to score: labels file (*.jsonl) or any readable format."),
        gt: str = typer.Option(
            ...,
            "--gt",
            help="Ground truth: KITTI folder, Scalabel/BDD JSON, COCO JSON, Ground Truth manifest, or a labels file.",
        ),
        gt_format: str | None = typer.Option(None, "--gt-format", help="Format of --gt (default: guessed)."),
        fmt: str | None = typer.Option(None, "--format", help="Format of LABELS (default: guessed)."),
        preset: str = typer.Option(
            "auto", "--preset", help="auto | kitti | scalabel | coco (rules of that benchmark)."
        ),
        class_map: str | None = typer.Option(
            None,
            "--class-map",
            help="Prediction classes -> GT classes: preset (coco-to-kitti, coco-to-bdd), 'a=b,c=d' or a JSON file.",
        ),
        gt_class_map: str | None = typer.Option(None, "--gt-class-map", help="Rename/drop GT classes (same forms)."),
        classes: str | None = typer.Option(None, "--classes", help="Comma-separated classes to evaluate."),
        min_height: float | None = typer.Option(None, "--min-height", help="Ignore boxes lower than this (px)."),
        inclusive: bool | None = typer.Option(
            None,
            "--inclusive-pixels/--exclusive-pixels",
            help="x2/y2 name the last pixel (Scalabel); default by preset.",
        ),
        plots: str | None = typer.Option(None, "--plots", help="Folder for PR curve PNGs (IoU 0.5 and 0.75)."),
        json_out: str | None = typer.Option(None, "--json", help="Write the figures as JSON here."),
    ) -> None:
        """COCO-style AP, AP50, AP75 per class against ground truth (101-point, IoU .50:.05:.95, 100 dets)."""
        import warnings

        from prelabel.quality.evaluate import evaluate
        from prelabel.quality.inputs import detect_format, load_records

        gt_fmt = (gt_format or detect_format(Path(gt))).lower()
        gts = load_records(gt, gt_fmt)
        preds = load_records(labels, fmt)
        cfg, used = _eval_config(
            gt_fmt,
            preset,
            {lab.category for r in preds for lab in r.labels},
            {lab.category for r in gts for lab in r.labels},
            class_map,
            gt_class_map,
            classes,
            min_height,
            inclusive,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = evaluate(preds, gts, cfg)
        for w in caught:
            console.print(f"[yellow]warning:[/] {w.message}", highlight=False)
        _print_eval(res, f"{labels} vs {gt} ({used} rules, {res.frames} frames)")
        s = res.summary()
        console.print(f"AP {_pct(s['AP'])}  AP50 {_pct(s['AP50'])}  AP75 {_pct(s['AP75'])}")
        if plots:
            from prelabel.viz.plots import pr_curves

            out = Path(plots)
            out.mkdir(parents=True, exist_ok=True)
            for iou in (0.5, 0.75):
                ap = {c: res.ap(c, iou) for c in res.classes}
                png = pr_curves(res.pr_points(iou), title=f"precision-recall at IoU {iou}", ap=ap)
                dest = out / f"pr_iou{int(iou * 100)}.png"
                dest.write_bytes(png)
                console.print(f"wrote {dest}")
        if json_out:
            from prelabel import storage

            storage.write_text(
                json_out, json.dumps({"labels": labels, "gt": gt, "preset": used, **res.to_dict()}, indent=2)
            )
            console.print(f"wrote {json_out}")
        raise typer.Exit(EXIT_OK)

    @app.command("fuse")
    @friendly_errors
    def fuse_cmd(
        inputs: list[str] = typer.Argument(..., help="Two or more labels files (one per model), same frames."),
        out: str = typer.Option(..., "--out", "-o", help="Fused labels file (*.jsonl)."),
        method: str = typer.Option("wbf", "--method", help="wbf | nms | vote."),
        weights: str | None = typer.Option(None, "--weights", help="One weight per input, comma-separated."),
        class_map: list[str] = typer.Option(
            [],
            "--class-map",
            help="Class map per input, in order (repeat), or one for all: preset, 'a=b,c=d' or JSON file.",
        ),
        iou: float = typer.Option(0.55, "--iou", help="IoU above which boxes of one class are the same object."),
        skip_score: float = typer.Option(0.0, "--skip-score", help="Ignore input boxes scored below this."),
        min_votes: int | None = typer.Option(
            None, "--min-votes", help="vote: models that must agree (default: a majority)."
        ),
        names: str | None = typer.Option(None, "--names", help="Names for the inputs in the provenance."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    ) -> None:
        """Fuse several models' labels into one set; each fused box records which models agreed."""
        from collections import Counter

        from prelabel.errors import PrelabelError
        from prelabel.labelfile import read_records, write_records
        from prelabel.labels.fusion import fuse_records
        from prelabel.quality.classmaps import parse_class_map

        dest = _check_out(out, overwrite)
        if len(inputs) < 2:
            raise PrelabelError(f"fuse needs at least two labels files; got {len(inputs)}")
        sets = [read_records(p) for p in inputs]
        w = [float(x) for x in weights.split(",")] if weights else None
        maps = [parse_class_map(c) for c in class_map]
        if len(maps) == 1:
            maps = maps * len(sets)
        if maps and len(maps) != len(sets):
            raise PrelabelError(f"got {len(maps)} --class-map for {len(sets)} inputs; give one, or one per input")
        set_names = [n.strip() for n in names.split(",")] if names else None
        if set_names is None:
            srcs = [
                next((lab.source for r in s for lab in r.labels), Path(p).stem)
                for s, p in zip(sets, inputs, strict=True)
            ]
            set_names = [s if srcs.count(s) == 1 else f"{s}#{Path(p).stem}" for s, p in zip(srcs, inputs, strict=True)]
        fused = fuse_records(
            sets,
            method=method,
            weights=w,
            class_maps=maps or None,
            iou_threshold=iou,
            skip_score=skip_score,
            min_votes=min_votes,
            names=set_names,
        )
        write_records(str(dest), fused)
        agree = Counter(lab.attributes["agreement"] for r in fused for lab in r.labels)
        console.print(
            f"fused {len(sets)} label sets ({', '.join(set_names)}) with {method}: {len(fused)} frames, "
            f"{sum(agree.values())} labels; by agreement: "
            + ", ".join(f"{k} model(s): {agree[k]}" for k in sorted(agree))
        )
        console.print(f"labels written to {dest}")
