"""``prelabel eval | fuse | compose | calibrate | route | select | report``: quality of a label set and what to do
with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from prelabel.cli._common import EXIT_OK, check_output, console, friendly_errors, percent


def _check_out(path: str, overwrite: bool) -> Path:
    return Path(check_output(str(Path(path)), overwrite))


def _print_eval(res: Any, title: str) -> None:
    from rich.table import Table

    table = Table(title=title, show_edge=False)
    for col in ("class", "gt", "det", "AP", "AP50", "AP75"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for row in res.rows():
        table.add_row(row["class"], str(row["gt"]), str(row["det"]), *(percent(row[k]) for k in ("AP", "AP50", "AP75")))
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
            help="Prediction classes -> GT classes: a shipped map (coco80-to-kitti, coco80-to-bdd...), "
            "'a=b,c=d' or a JSON class map.",
        ),
        gt_class_map: str | None = typer.Option(None, "--gt-class-map", help="Rename/drop GT classes (same forms)."),
        classes: str | None = typer.Option(None, "--classes", help="Comma-separated classes to evaluate."),
        min_height: float | None = typer.Option(None, "--min-height", help="Ignore boxes lower than this (px)."),
        inclusive: bool | None = typer.Option(
            None,
            "--inclusive-pixels/--exclusive-pixels",
            help="x2/y2 name the last pixel (Scalabel); default by preset.",
        ),
        compose: str | None = typer.Option(
            None, "--compose", help="First compose parts (person + bike -> cyclist): a rule set name or JSON file."
        ),
        plots: str | None = typer.Option(None, "--plots", help="Folder for PR curve PNGs (IoU 0.5 and 0.75)."),
        json_out: str | None = typer.Option(None, "--json", help="Write the figures as JSON here."),
        track: bool = typer.Option(
            False, "--track", help="Tracking metrics instead: MOTA, IDF1, MOTP, HOTA, FP, FN, ID switches."
        ),
        three_d: bool = typer.Option(
            False, "--3d", help="3D boxes: KITTI BEV/3D AP|R40, nuScenes centre-distance AP, box errors."
        ),
        difficulty: str = typer.Option("moderate", "--difficulty", help="--3d: KITTI easy | moderate | hard."),
    ) -> None:
        """COCO-style AP, AP50, AP75 per class against ground truth (101-point, IoU .50:.05:.95, 100 dets).

        With --3d: KITTI-style BEV and 3D AP (40 recall points), nuScenes-style AP and box errors."""
        if track:
            from prelabel.cli.tracking import run_track_eval

            run_track_eval(
                labels,
                gt,
                gt_format=gt_format,
                fmt=fmt,
                preset=preset,
                class_map=class_map,
                gt_class_map=gt_class_map,
                classes=classes,
                inclusive=inclusive,
                json_out=json_out,
            )
            raise typer.Exit(EXIT_OK)
        if three_d:
            from prelabel.cli.eval3d import run_eval3d

            run_eval3d(labels, gt, gt_format, fmt, difficulty, json_out)
            return

        from prelabel.quality.flows import evaluate_files

        run = evaluate_files(
            labels, gt, fmt=fmt, gt_format=gt_format, preset=preset, class_map=class_map, gt_class_map=gt_class_map,
            classes=[c.strip() for c in classes.split(",") if c.strip()] if classes else None,
            min_height=min_height, inclusive=inclusive, compose=compose,
        )  # fmt: skip
        res = run.result
        for message in run.warnings:
            console.print(f"[yellow]warning:[/] {message}", highlight=False)
        _print_eval(res, f"{labels} vs {gt} ({run.preset} rules, {res.frames} frames)")
        s = res.summary()
        console.print(f"AP {percent(s['AP'])}  AP50 {percent(s['AP50'])}  AP75 {percent(s['AP75'])}")
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

            storage.write_text(json_out, json.dumps(run.to_dict(labels, gt), indent=2))
            console.print(f"wrote {json_out}")
        raise typer.Exit(EXIT_OK)

    @app.command("fuse")
    @friendly_errors
    def fuse_cmd(
        inputs: list[str] = typer.Argument(
            ..., help="Two or more label sets (one per model, same frames): labels files or any readable format."
        ),
        out: str = typer.Option(..., "--out", "-o", help="Fused labels file (*.jsonl)."),
        method: str = typer.Option("wbf", "--method", help="wbf | nms | vote."),
        weights: str | None = typer.Option(None, "--weights", help="One weight per input, comma-separated."),
        class_map: list[str] = typer.Option(
            [],
            "--class-map",
            help="Class map per input, in order (repeat), or one for all: kitti | bdd | nuscenes | driving | a "
            "shipped map's name, 'a=b,c=d' or a JSON file (as prelabel label --class-map).",
        ),
        classes: str | None = typer.Option(
            None, "--classes", help="Keep only these classes in the fused labels (after the class maps): a,b,..."
        ),
        iou: float = typer.Option(0.55, "--iou", help="IoU above which boxes of one class are the same object."),
        skip_score: float = typer.Option(0.0, "--skip-score", help="Ignore input boxes scored below this."),
        min_votes: int | None = typer.Option(
            None, "--min-votes", help="vote: models that must agree (default: a majority)."
        ),
        names: str | None = typer.Option(None, "--names", help="Names for the inputs in the provenance."),
        score_mode: str = typer.Option("mean", "--score", help="wbf/vote fused score: mean | max | noisy-or."),
        compose: str | None = typer.Option(
            None,
            "--compose",
            help="Compose parts (person + bike -> cyclist) in the fused labels: a rule set name or JSON file.",
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    ) -> None:
        """Fuse several models' labels into one set; each fused box records which models agreed."""
        from collections import Counter

        from prelabel.errors import PrelabelError
        from prelabel.inference.ontology import Ontology
        from prelabel.labelfile import write_records
        from prelabel.quality.classmaps import parse_class_map
        from prelabel.quality.inputs import load_records
        from prelabel.refine.fusion import fuse_records

        dest = _check_out(out, overwrite)
        if len(inputs) < 2:
            raise PrelabelError(f"fuse needs at least two labels files; got {len(inputs)}")
        keep = Ontology.from_value({"classes": classes, "dedupe": "none"}, "--classes")
        sets = [load_records(p) for p in inputs]
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
            score_mode=score_mode,
        )
        if compose:
            from prelabel.refine.compose import compose_records

            fused = compose_records(fused, compose)
        if keep is not None and keep.classes:
            found = {lab.category for r in fused for lab in r.labels}
            missing = [c for c in keep.classes if c not in found]
            if missing:
                console.print(f"note: no {', '.join(missing)} in the fused labels; found: {', '.join(sorted(found))}")
            fused = keep.apply_records(fused)
        write_records(str(dest), fused)
        agree = Counter(lab.attributes["agreement"] for r in fused for lab in r.labels if "agreement" in lab.attributes)
        composed = sum("composed_from" in lab.attributes for r in fused for lab in r.labels)
        console.print(
            f"fused {len(sets)} label sets ({', '.join(set_names)}) with {method}: {len(fused)} frames, "
            f"{sum(agree.values())} labels; by agreement: "
            + ", ".join(f"{k} model(s): {agree[k]}" for k in sorted(agree))
            + (f"; composed: {composed}" if compose else "")
        )
        console.print(f"labels written to {dest}")

    @app.command("compose")
    @friendly_errors
    def compose_cmd(
        labels: str = typer.Argument(..., help="Labels to compose: labels file (*.jsonl) or any readable format."),
        out: str = typer.Option(..., "--out", "-o", help="Composed labels file (*.jsonl)."),
        rules: str = typer.Option(
            "cyclists", "--rules", help="A shipped rule set (cyclists, bdd-riders) or a JSON rules file."
        ),
        fmt: str | None = typer.Option(None, "--format", help="Format of LABELS (default: guessed)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    ) -> None:
        """Compose part labels into one object (person + bicycle -> cyclist); see docs/quality.md."""
        from collections import Counter

        from prelabel.labelfile import write_records
        from prelabel.quality.inputs import load_records
        from prelabel.refine.compose import compose_records, load_rules

        dest = _check_out(out, overwrite)
        rule_list = load_rules(rules)
        records = load_records(labels, fmt)
        composed = compose_records(records, rule_list)
        write_records(str(dest), composed)
        made = Counter(lab.category for r in composed for lab in r.labels if "composed_from" in lab.attributes)
        console.print(
            f"composed {len(composed)} frames with {len(rule_list)} rule(s) ({rules}): "
            + (", ".join(f"{n} {c}" for c, n in sorted(made.items())) or "nothing paired")
        )
        console.print(f"labels written to {dest}")

    @app.command("calibrate")
    @friendly_errors
    def calibrate_cmd(
        labels: str = typer.Argument(..., help="Machine labels (*.jsonl) covering the verified frames."),
        verified: str = typer.Option(
            ...,
            "--verified",
            help="Human-verified slice: ground truth (any readable "
            "format) or a finished review job's labels (review states).",
        ),
        verified_format: str | None = typer.Option(None, "--verified-format", help="Format of --verified."),
        out: str = typer.Option(..., "--out", "-o", help="Thresholds file (JSON)."),
        target: float = typer.Option(0.95, "--target-precision", help="Precision the auto-accepted labels keep."),
        min_support: int = typer.Option(10, "--min-support", help="Verified labels needed above a threshold."),
        iou: float = typer.Option(0.5, "--iou", help="IoU at which a machine box counts as correct."),
        preset: str = typer.Option("auto", "--preset", help="auto | kitti | scalabel | coco (matching rules)."),
        class_map: str | None = typer.Option(None, "--class-map", help="Machine classes -> verified classes."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    ) -> None:
        """Per-class score thresholds for a target precision, from a human-verified slice."""
        from prelabel.quality.flows import calibrate_files

        dest = _check_out(out, overwrite)
        _preds, th, _ = calibrate_files(
            labels, verified, verified_format=verified_format, target=target, min_support=min_support, iou=iou,
            preset=preset, class_map=class_map,
        )  # fmt: skip
        th.save(str(dest))
        _print_thresholds(th)
        console.print(f"thresholds written to {dest}")

    @app.command("route")
    @friendly_errors
    def route_cmd(
        labels: str = typer.Argument(..., help="Machine labels (*.jsonl) to split."),
        out_dir: str = typer.Option(..., "--out-dir", "-o", help="Folder for auto.jsonl, review.jsonl, route.json."),
        thresholds: str | None = typer.Option(None, "--thresholds", help="Thresholds from 'prelabel calibrate'."),
        verified: str | None = typer.Option(
            None,
            "--verified",
            help="Human answers so far: recalibrate from them "
            "and route only the frames people have not labelled (a round).",
        ),
        verified_format: str | None = typer.Option(None, "--verified-format", help="Format of --verified."),
        target: float = typer.Option(0.95, "--target-precision", help="With --verified: target precision."),
        min_support: int = typer.Option(10, "--min-support", help="With --verified: labels needed per threshold."),
        iou: float = typer.Option(0.5, "--iou", help="With --verified: IoU at which a box counts as correct."),
        preset: str = typer.Option("auto", "--preset", help="With --verified: matching rules."),
        class_map: str | None = typer.Option(None, "--class-map", help="With --verified: classes -> verified."),
        drop_below: float = typer.Option(0.0, "--drop-below", help="Drop labels scored below this altogether."),
        next_batch: int = typer.Option(0, "--next-batch", help="Also pick this many waiting frames for people."),
        report: bool = typer.Option(True, "--report/--no-report", help="Also write report.html (plots inline)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    ) -> None:
        """Split labels into auto-accepted and to-review; report expected precision/recall and the work left."""
        from prelabel.quality.flows import route_round

        done = route_round(
            labels, out_dir, thresholds=thresholds, verified=verified, verified_format=verified_format,
            target=target, min_support=min_support, iou=iou, preset=preset, class_map=class_map,
            drop_below=drop_below, next_batch=next_batch, report=report, overwrite=overwrite,
        )  # fmt: skip
        _print_route(done.result, done.human_frames)
        folder = Path(out_dir)
        console.print(f"wrote {', '.join(sorted(p.name for p in folder.iterdir()))} to {folder}")

    @app.command("select")
    @friendly_errors
    def select_cmd(
        source: str = typer.Argument(
            ..., help="Labels file (*.jsonl; uncertainty + diversity) or images (folder, glob, list; diversity only)."
        ),
        budget: int = typer.Option(..., "--budget", "-n", help="How many frames people can label."),
        out: str | None = typer.Option(None, "--out", "-o", help="Write the chosen frames (id<TAB>uri) here."),
        max_distance: float = typer.Option(
            0.3,
            "--max-distance",
            help="Frames whose 256-bit dHashes differ in at most this fraction of bits are one scene.",
        ),
        exclude: str | None = typer.Option(
            None, "--exclude", help="Labels file or id list of frames already labelled by people."
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
        keyframes: str | None = typer.Option(
            None,
            "--keyframes",
            help="Keyframes per sequence of tracked labels instead: every (evenly spaced) | events (where tracks "
            "are born, die or disagree); the rest is filled by 'prelabel interpolate'.",
        ),
    ) -> None:
        """Choose frames for a labeling budget: most uncertain first, near-identical frames counted once."""
        if keyframes:
            from prelabel.cli.tracking import run_select_keyframes

            run_select_keyframes(source, budget, keyframes, _check_out(out, overwrite) if out else None)
            return
        from prelabel.core.labels import Frame, FrameRecord
        from prelabel.labelfile import read_records
        from prelabel.quality.selection import select_frames
        from prelabel.sources.images import image_frames

        dest = _check_out(out, overwrite) if out else None
        items: list[FrameRecord] | list[Frame] = (
            read_records(source) if source.endswith(".jsonl") else image_frames(source)
        )
        skip: set[str] = set()
        if exclude:
            skip = (
                {r.frame.id for r in read_records(exclude)}
                if exclude.endswith(".jsonl")
                else {ln.split("\t")[0].strip() for ln in Path(exclude).read_text().splitlines() if ln.strip()}
            )
        sel = select_frames(items, budget, max_distance=max_distance, exclude=skip)
        uri = {
            (x.frame if isinstance(x, FrameRecord) else x).id: (x.frame if isinstance(x, FrameRecord) else x).uri
            for x in items
        }
        lines = [f"{f}\t{uri[f]}" for f in sel.frames]
        for ln in lines:
            console.print(ln, highlight=False)
        console.print(
            f"chose {len(sel.frames)} of {len(sel.scores)} frames ({sel.groups} distinct scenes; "
            f"{sel.duplicates_skipped} near-duplicates skipped)"
        )
        if dest:
            dest.write_text("".join(ln + "\n" for ln in lines))
            console.print(f"wrote {dest}")

    @app.command("report")
    @friendly_errors
    def report_cmd(
        labels: str = typer.Argument(..., help="Labels file (*.jsonl) of the run."),
        out: str = typer.Option(..., "--out", "-o", help="HTML report file."),
        gt: str | None = typer.Option(None, "--gt", help="Ground truth: adds AP tables and PR curves."),
        gt_format: str | None = typer.Option(None, "--gt-format", help="Format of --gt."),
        preset: str = typer.Option("auto", "--preset", help="Evaluation rules with --gt."),
        class_map: str | None = typer.Option(None, "--class-map", help="Labels' classes -> GT classes."),
        thresholds: str | None = typer.Option(None, "--thresholds", help="Thresholds: adds routed fractions."),
        title: str | None = typer.Option(None, "--title", help="Report title."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    ) -> None:
        """One self-contained HTML page: counts, score histograms, PR curves, routed fractions (PNGs inline)."""
        from prelabel.labelfile import read_records
        from prelabel.quality.calibration import Thresholds
        from prelabel.quality.evaluate import evaluate
        from prelabel.quality.inputs import detect_format, load_records
        from prelabel.quality.routing import route
        from prelabel.viz.report import build_report

        dest = _check_out(out, overwrite)
        recs = read_records(labels)
        res = None
        if gt:
            from prelabel.quality.flows import eval_config

            gt_fmt = (gt_format or detect_format(Path(gt))).lower()
            gts = load_records(gt, gt_fmt)
            cats = {lab.category for r in recs for lab in r.labels}
            cfg, _ = eval_config(
                gt_fmt, preset, cats, {lab.category for r in gts for lab in r.labels}, class_map=class_map
            )
            res = evaluate(recs, gts, cfg)
        routed = route(recs, Thresholds.load(thresholds)) if thresholds else None
        html = build_report(recs, title=title or f"prelabel report: {labels}", evaluation=res, routing=routed)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(html, encoding="utf-8")
        console.print(f"wrote {dest} ({len(html) // 1024} KiB)")


def _print_thresholds(th: Any) -> None:
    from rich.table import Table

    table = Table(title=f"thresholds for precision >= {th.target_precision:.2f} (IoU {th.iou})", show_edge=False)
    for col in ("class", "threshold", "precision", "recall", "support", "verified", "correct"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for name, c in th.classes.items():
        table.add_row(
            name,
            "never" if c.threshold is None else f"{c.threshold:.3f}",
            percent(c.precision),
            percent(c.recall),
            str(c.support),
            str(c.verified),
            str(c.correct),
        )
    console.print(table)


def _print_route(res: Any, human: int) -> None:
    from rich.table import Table

    table = Table(title="routing", show_edge=False)
    for col in ("class", "labels", "auto", "review", "threshold", "exp. precision", "exp. recall"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for name, c in sorted(res.per_class.items(), key=lambda kv: -kv[1].labels):
        table.add_row(
            name,
            str(c.labels),
            str(c.auto),
            str(c.review),
            "never" if c.threshold is None else f"{c.threshold:.3f}",
            percent(c.expected_precision),
            percent(c.expected_recall),
        )
    console.print(table)
    console.print(
        f"frames: {res.frames} (+{human} labelled by people)  to people: {res.frames_to_people} frames, "
        f"{res.labels_to_people} boxes  auto-accepted: {res.labels_auto} boxes, expected precision "
        f"{percent(res.expected_precision)} %, expected recall {percent(res.expected_recall)} %"
    )
