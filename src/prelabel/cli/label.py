"""``prelabel label``: pre-label every frame of an input with a model."""

from __future__ import annotations

from pathlib import Path

import typer

from prelabel.cli._common import EXIT_OK, EXIT_SOME_FAILED, console, friendly_errors, set_limit


def resolve_out(out: str) -> Path:
    """``--out`` names a labels file (``*.jsonl``) or a folder that gets ``labels.jsonl``."""
    p = Path(out)
    if p.suffix == ".jsonl":
        return p
    return p / "labels.jsonl"


def print_summary(summary: object, out: Path | str, this_run: object | None = None) -> None:
    from rich.table import Table

    from prelabel.inference.runner import RunSummary

    assert isinstance(summary, RunSummary)
    table = Table(title="labels per class", show_edge=False)
    table.add_column("class")
    table.add_column("labels", justify="right")
    for name, n in summary.labels_per_class.most_common():
        table.add_row(name, str(n))
    console.print(table)
    run = this_run if isinstance(this_run, RunSummary) else summary
    console.print(
        f"frames: {summary.frames}  labelled: {summary.labelled}  failed: {summary.failed}  "
        f"labels: {summary.labels}  time: {run.seconds:.1f} s ({run.fps:.2f} frames/s)"
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
        input: str | None = typer.Argument(
            None,
            help="Image folder, glob ('frames/*.png'), image file, .txt list, frame index (.jsonl), video file, "
            "ROS1 bag, rosbag2 folder or MCAP file; a local path or s3:// URI. Omit with --resume.",
        ),
        model: str = typer.Option(
            "ssd-mobilenet-v2-coco", "--model", "-m", help="Zoo id, registry team/name@version or endpoint URL."
        ),
        out: str | None = typer.Option(
            None, "--out", "-o", help="Labels file (*.jsonl) or folder (gets labels.jsonl); local or s3://."
        ),
        min_score: float = typer.Option(0.25, "--min-score", help="Drop detections scored below this."),
        threads: int = typer.Option(2, "--threads", help="Inference threads."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing labels file."),
        cache: str | None = typer.Option(None, "--cache", envvar="PRELABEL_CACHE", help="Model cache folder."),
        topics: list[str] | None = typer.Option(
            None, "--topics", "-t", help="Bag camera topics (repeat or comma-separate); default: every image topic."
        ),
        fps: float | None = typer.Option(None, "--fps", help="Video: sample about this many frames per second."),
        every: int | None = typer.Option(None, "--every", help="Video: keep every n-th frame."),
        resume: str | None = typer.Option(None, "--resume", help="Finish an interrupted job (its id or folder)."),
        executor: str | None = typer.Option(
            None, "--executor", help="Where to run: local (threads, the default) or ray; --resume keeps the job's."
        ),
        ray_actors: int = typer.Option(2, "--ray-actors", help="Ray executor: predictor actors."),
        state: str | None = typer.Option(
            None, "--state", envvar="PRELABEL_STATE", help="Job state folder (default ~/.local/state/prelabel/jobs)."
        ),
        retry_failed: bool = typer.Option(False, "--retry-failed", help="With --resume: label failed frames again."),
        tiled: bool = typer.Option(False, "--tiled", help="Also run on overlapping tiles (small, distant objects)."),
        tta: bool = typer.Option(False, "--tta", help="Horizontal-flip test-time augmentation."),
        masks: str | None = typer.Option(None, "--masks", help="Add an instance mask to every box: sam (MobileSAM)."),
        max_pixels: int | None = typer.Option(
            None,
            "--max-pixels",
            min=1,
            help="Refuse (as a per-frame failure) images whose header declares more pixels than this "
            "(default 64,000,000; env PRELABEL_MAX_PIXELS).",
        ),
    ) -> None:
        """Pre-label every frame as a persisted, resumable job; writes the labels file and prints a summary.

        Exit code 0: every frame labelled; 1: some frames failed (recorded with reasons); 2: bad usage or input.
        """
        from prelabel.cli.jobs import run_label_job
        from prelabel.limits import ENV_MAX_PIXELS

        set_limit(ENV_MAX_PIXELS, max_pixels)

        predictor_options: dict[str, object] = {"min_score": min_score, "threads": threads}
        if cache:
            predictor_options["cache"] = cache
        if masks:
            from prelabel.models.sam import check_masker

            check_masker(masks)  # an unknown mask model fails before a job exists
        predictor_options.update({k: v for k, v in {"tiled": tiled, "tta": tta, "masks": masks}.items() if v})
        topic_list = [t.strip() for arg in topics or [] for t in arg.split(",") if t.strip()] or None
        executor_options: dict[str, object] | None = {"actors": ray_actors} if executor == "ray" else None
        summary, this_run, out_uri, job_id, fps_run = run_label_job(
            input=input,
            out=out,
            model=model,
            predictor_options=predictor_options,
            overwrite=overwrite,
            topics=topic_list,
            fps=fps,
            every=every,
            resume=resume,
            executor=executor,
            executor_options=executor_options,
            state=state,
            retry_failed=retry_failed,
        )
        print_summary(summary, out_uri, this_run=this_run)
        console.print(f"job {job_id}: {this_run.frames} frames this run ({fps_run:.2f} frames/s)", highlight=False)
        raise typer.Exit(EXIT_SOME_FAILED if summary.failed else EXIT_OK)
