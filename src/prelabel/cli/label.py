"""``prelabel label``: pre-label every frame of an input with a model."""

from __future__ import annotations

from pathlib import Path

import typer

from prelabel.cli._common import EXIT_OK, EXIT_SOME_FAILED, console, friendly_errors, progress_bar


def resolve_out(out: str) -> Path:
    """``--out`` names a labels file (``*.jsonl``) or a folder that gets ``labels.jsonl``."""
    p = Path(out)
    if p.suffix == ".jsonl":
        return p
    return p / "labels.jsonl"


def print_summary(summary: object, out: Path) -> None:
    from rich.table import Table

    from prelabel.inference.runner import RunSummary

    assert isinstance(summary, RunSummary)
    table = Table(title="labels per class", show_edge=False)
    table.add_column("class")
    table.add_column("labels", justify="right")
    for name, n in summary.labels_per_class.most_common():
        table.add_row(name, str(n))
    console.print(table)
    console.print(
        f"frames: {summary.frames}  labelled: {summary.labelled}  failed: {summary.failed}  "
        f"labels: {summary.labels}  time: {summary.seconds:.1f} s ({summary.fps:.2f} frames/s)"
    )
    for frame_id, reason in summary.failures[:20]:
        console.print(f"[red]failed[/] {frame_id}: {reason}", highlight=False)
    if len(summary.failures) > 20:
        console.print(f"... and {len(summary.failures) - 20} more failures (see the records in {out})")
    console.print(f"labels written to {out}")


def register(app: typer.Typer) -> None:
    @app.command("label")
    @friendly_errors
    def label(
        input: str = typer.Argument(..., help="Image folder, glob ('frames/*.png'), image file or .txt list."),
        model: str = typer.Option("ssd-mobilenet-v2-coco", "--model", "-m", help="Zoo model id (see 'models list')."),
        out: str = typer.Option(..., "--out", "-o", help="Labels file (*.jsonl) or folder (gets labels.jsonl)."),
        min_score: float = typer.Option(0.25, "--min-score", help="Drop detections scored below this."),
        threads: int = typer.Option(2, "--threads", help="Inference threads."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing labels file."),
        cache: str | None = typer.Option(None, "--cache", envvar="PRELABEL_CACHE", help="Model cache folder."),
    ) -> None:
        """Pre-label every frame; writes one JSON record per frame as it goes and prints a summary.

        Exit code 0: every frame labelled; 1: some frames failed (recorded with reasons); 2: bad usage or input.
        """
        from prelabel.errors import OutputExistsError
        from prelabel.inference.predictor import Predictor
        from prelabel.inference.runner import run
        from prelabel.labelfile import LabelWriter
        from prelabel.sources.images import image_frames

        out_path = resolve_out(out)
        if out_path.exists() and not overwrite:
            raise OutputExistsError(str(out_path), hint="pass --overwrite to replace it")
        frames = image_frames(input)
        predictor = Predictor(model, cache=cache, min_score=min_score, threads=threads)
        with progress_bar() as progress, LabelWriter(out_path) as writer:
            task = progress.add_task(f"labelling with {predictor.detector.model_id}", total=len(frames))
            summary = run(predictor, frames, writer, on_record=lambda _r: progress.advance(task))
        print_summary(summary, out_path)
        raise typer.Exit(EXIT_SOME_FAILED if summary.failed else EXIT_OK)
