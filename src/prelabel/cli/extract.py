"""``prelabel extract``: ROS bag / MCAP to PNG frames, point-cloud files and a frame index."""

from __future__ import annotations

import typer

from prelabel.cli._common import console, friendly_errors, progress_bar, set_limit


def register(app: typer.Typer) -> None:
    @app.command("extract")
    @friendly_errors
    def extract(
        bag: str = typer.Argument(
            ..., help="ROS1 .bag, rosbag2 folder (sqlite3 or mcap) or .mcap file; local or s3://."
        ),
        out: str = typer.Option(..., "--out", "-o", help="Output folder or s3:// prefix."),
        topics: list[str] | None = typer.Option(
            None, "--topics", "-t", help="Camera / PointCloud2 topics (repeat or comma-separate); default: all."
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing index."),
        max_pixels: int | None = typer.Option(
            None,
            "--max-pixels",
            min=1,
            help="Skip (as a failed item) images whose header declares more pixels than this "
            "(default 64,000,000; env PRELABEL_MAX_PIXELS).",
        ),
    ) -> None:
        """Write camera frames as PNGs and point clouds as .bin files, plus index.jsonl (one Frame per file, with
        timestamps, frame ids and CameraInfo calibration). Label them with: prelabel label OUT/index.jsonl"""
        from prelabel import storage
        from prelabel.limits import ENV_MAX_PIXELS
        from prelabel.sources.extract import INDEX, extract_bag

        set_limit(ENV_MAX_PIXELS, max_pixels)

        topic_list = [t.strip() for arg in topics or [] for t in arg.split(",") if t.strip()] or None
        with progress_bar("files") as progress:
            task = progress.add_task("extracting", total=None)
            written = extract_bag(bag, out, topic_list, overwrite=overwrite, on_item=lambda _f: progress.advance(task))
        for topic, n in sorted(written.items()):
            console.print(f"{topic}: {n} files", highlight=False)
        console.print(f"index written to {storage.join(out, INDEX)}", highlight=False)
        if any(topic.endswith("(failed)") for topic in written):
            raise typer.Exit(1)  # some items failed (named above); the rest were written
