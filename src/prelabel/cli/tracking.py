"""``prelabel track | interpolate`` and ``prelabel eval --track``: labels across the frames of a sequence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from prelabel.cli._common import EXIT_OK, check_output, console, friendly_errors, percent


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
    from rich.table import Table

    from prelabel.quality.flows import evaluate_tracking_files

    cls = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    run = evaluate_tracking_files(
        labels, gt, fmt=fmt, gt_format=gt_format, preset=preset, class_map=class_map, gt_class_map=gt_class_map,
        classes=cls, inclusive=inclusive,
    )  # fmt: skip
    res, preset = run.result, run.preset
    for w in run.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
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
            *(percent(row[k]) for k in ("MOTA", "IDF1", "MOTP", "HOTA")),
            *(str(row[k]) for k in ("FP", "FN", "IDSw", "MT", "ML")),
        )
    console.print(table)
    s = res.summary()
    console.print(
        f"MOTA {percent(s['MOTA'])}  IDF1 {percent(s['IDF1'])}  MOTP {percent(s['MOTP'])}  HOTA {percent(s['HOTA'])}  "
        f"FP {s['FP']}  FN {s['FN']}  IDSw {s['IDSw']}"
    )
    if json_out:
        from prelabel import storage

        storage.write_text(json_out, json.dumps(run.to_dict(labels, gt)))
        console.print(f"wrote {json_out}")


def run_select_keyframes(source: str, budget: int, mode: str, dest: Path | None) -> None:
    """``prelabel select --keyframes every|events``: keyframes per sequence, id<TAB>uri<TAB>reasons."""
    from prelabel.quality.inputs import load_records
    from prelabel.refine.keyframes import choose_keyframes

    records = load_records(source)
    choice = choose_keyframes(records, budget, mode=mode)
    uri = {r.frame.id: r.frame.uri for r in records}
    lines = [f"{f}\t{uri[f]}\t{','.join(choice.reasons[f][:4])}" for f in choice.frames]
    for ln in lines:
        console.print(ln, highlight=False)
    console.print(
        f"chose {len(choice.frames)} keyframes of {len(records)} frames ({mode}) over {len(choice.per_sequence)} "
        f"sequence(s)"
    )
    if dest is not None:
        dest.write_text("".join(ln + "\n" for ln in lines))
        console.print(f"wrote {dest}")


def _groups(spec: str | None) -> dict[str, str]:
    from prelabel.errors import FormatError

    if not spec:
        return {}
    out: dict[str, str] = {}
    for part in spec.split(","):
        if "=" not in part or not part.split("=", 1)[0].strip() or not part.split("=", 1)[1].strip():
            raise FormatError(spec, f"class group entry {part!r} is not 'class=group' (e.g. pedestrian=human)")
        a, b = (x.strip() for x in part.split("=", 1))
        out[a] = b
    return out


def _keyframe_rule(spec: str) -> Any:
    """``every:N``, ``human`` (frames labelled or reviewed by people) or a file of frame ids."""
    from prelabel.core.labels import FrameRecord, ReviewState
    from prelabel.errors import FormatError, InputNotFoundError
    from prelabel.refine.interpolate import every_nth

    if spec.startswith("every:"):
        try:
            return every_nth(int(spec.split(":", 1)[1]))
        except ValueError as e:
            raise FormatError(spec, "expected every:N with a whole number N, e.g. every:10") from e
    if spec == "human":
        done = (ReviewState.ACCEPTED, ReviewState.ADJUSTED)

        def human(rec: FrameRecord) -> bool:
            return bool(rec.labels) and all(lab.source.startswith("human:") or lab.review in done for lab in rec.labels)

        return human
    path = Path(spec)
    if not path.is_file():
        raise InputNotFoundError(spec, what="keyframe list (every:N, human, or a file of frame ids)")
    ids = {ln.split("\t")[0].strip() for ln in path.read_text().splitlines() if ln.strip()}
    return lambda rec: rec.frame.id in ids


def register(app: typer.Typer) -> None:
    @app.command("interpolate")
    @friendly_errors
    def interpolate_cmd(
        labels: str = typer.Argument(
            ..., help="Tracked labels whose keyframes people verified (*.jsonl or any format)."
        ),
        out: str = typer.Option(..., "--out", "-o", help="Labels file (*.jsonl) with the frames between filled."),
        keyframes: str = typer.Option(
            "human", "--keyframes", help="Which frames are keyframes: every:N | human | a file of frame ids."
        ),
        mode: str = typer.Option("linear", "--mode", help="linear | guided (snap to --detections where they agree)."),
        detections: str | None = typer.Option(None, "--detections", help="Tracker/detector labels for --mode guided."),
        snap_iou: float = typer.Option(0.5, "--snap-iou", help="guided: IoU with the linear box needed to snap."),
        snap_score: float = typer.Option(0.3, "--snap-score", help="guided: detections scored lower are ignored."),
        fmt: str | None = typer.Option(None, "--format", help="Format of LABELS (default: guessed)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    ) -> None:
        """Fill the frames between verified keyframes, per track (marked attributes.interpolated)."""
        from prelabel.errors import PrelabelError
        from prelabel.labelfile import write_records
        from prelabel.quality.inputs import load_records
        from prelabel.refine.interpolate import interpolate_records

        dest = Path(check_output(str(Path(out)), overwrite))
        if mode == "guided" and not detections:
            raise PrelabelError("--mode guided needs --detections (the tracker's or detector's labels)")
        rule = _keyframe_rule(keyframes)
        records = load_records(labels, fmt)
        dets = None
        if detections:
            dets = [
                r.model_copy(
                    update={"labels": [lab for lab in r.labels if lab.score is None or lab.score >= snap_score]}
                )
                for r in load_records(detections)
            ]
        result, filled = interpolate_records(records, rule, detections=dets, mode=mode, snap_iou=snap_iou)
        n_keys = sum(1 for r in records if rule(r))
        if n_keys == 0:
            raise PrelabelError(f"no keyframes in {labels} by the rule {keyframes!r}; expected every:N, human or ids")
        write_records(str(dest), result)
        snapped = sum(bool(lab.attributes.get("snapped")) for r in result for lab in r.labels)
        console.print(
            f"{n_keys} keyframes of {len(records)} frames: filled {filled} boxes ({mode}"
            + (f", {snapped} snapped to detections" if mode == "guided" else "")
            + ")"
        )
        console.print(f"labels written to {dest}")
        raise typer.Exit(EXIT_OK)

    @app.command("track")
    @friendly_errors
    def track_cmd(
        labels: str = typer.Argument(..., help="Labels to track: labels file (*.jsonl) or any readable format."),
        out: str = typer.Option(..., "--out", "-o", help="Tracked labels file (*.jsonl)."),
        fmt: str | None = typer.Option(None, "--format", help="Format of LABELS (default: guessed)."),
        refine: bool = typer.Option(
            False, "--refine", help="Offline refinement: stitch, class vote, drop weak tracks, smooth, fill, rescore."
        ),
        preset: str = typer.Option(
            "default", "--preset", help="Tuned settings: default | bdd (BDD100K at 5 Hz, see docs/tracking.md)."
        ),
        class_groups: str | None = typer.Option(
            None, "--class-groups", help="Classes tracked together, 'pedestrian=human,rider=human'."
        ),
        high_score: float | None = typer.Option(None, "--high-score", help="First-association score."),
        low_score: float | None = typer.Option(None, "--low-score", help="Boxes below this are not tracked."),
        min_track_score: float | None = typer.Option(
            None, "--min-track-score", help="With --refine: drop tracks whose mean score is lower."
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    ) -> None:
        """Give every box a track id across the frames of its sequence (ByteTrack association, Kalman motion)."""
        from prelabel.errors import UnknownNameError
        from prelabel.labelfile import write_records
        from prelabel.quality.inputs import load_records
        from prelabel.refine.presets import PRESETS
        from prelabel.refine.tracking import track_records

        dest = Path(check_output(str(Path(out)), overwrite))
        if preset not in PRESETS:
            raise UnknownNameError("tracking preset", preset, PRESETS)
        tcfg, rcfg = PRESETS[preset]()
        if class_groups is not None:
            tcfg.class_groups = rcfg.class_groups = _groups(class_groups)
        if high_score is not None:
            tcfg.high_score = high_score
            tcfg.new_track_score = max(tcfg.new_track_score, high_score)
        if low_score is not None:
            tcfg.low_score = low_score
        if min_track_score is not None:
            rcfg.min_track_score = min_track_score
        records = load_records(labels, fmt)
        tracked = track_records(records, tcfg)
        n_tracks = len({(r.frame.sequence, lab.track_id) for r in tracked for lab in r.labels})
        msg = f"tracked {len(tracked)} frames: {n_tracks} tracks"
        if refine:
            from prelabel.refine.offline import refine_records

            tracked, rep = refine_records(tracked, rcfg)
            msg += (
                f"; refined to {rep.tracks_out} tracks ({rep.stitched} stitched, {rep.dropped_tracks} weak tracks "
                f"with {rep.dropped_labels} boxes dropped, {rep.filled} boxes filled in gaps, "
                f"{rep.relabelled} boxes took their track's class)"
            )
        write_records(str(dest), tracked)
        console.print(msg)
        console.print(f"labels written to {dest}")
        raise typer.Exit(EXIT_OK)
