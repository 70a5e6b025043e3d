"""``prelabel track3d``: track 3D labels over each sequence in the world frame and refine every track offline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import typer

from prelabel.cli._common import check_output, console, friendly_errors

if TYPE_CHECKING:
    from prelabel.core.labels import FrameRecord


def track_counts(records: Sequence[FrameRecord]) -> tuple[int, int]:
    """(distinct track ids, boxes refined over their track) in tracked 3D labels."""
    tracks = {lb.track_id for r in records for lb in r.labels if lb.track_id}
    refined = sum(1 for r in records for lb in r.labels if lb.attributes.get("track_refined"))
    return len(tracks), refined


def register(app: typer.Typer) -> None:
    @app.command("track3d")
    @friendly_errors
    def track3d(
        labels: str = typer.Argument(..., help="3D labels of scenes with ego poses (e.g. from label --3d)."),
        out: str = typer.Option(..., "--out", "-o", help="Labels file (*.jsonl) to write."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    ) -> None:
        """Track boxes in the world frame (Kalman + Hungarian), then per track: one size, static objects held
        fixed, smoothed motion, heading from motion. Writes the labels with track ids and refined boxes."""
        from prelabel.labelfile import read_records, write_records
        from prelabel.lidar.tracks import refine_records

        check_output(out, overwrite)
        recs = refine_records(read_records(labels))
        write_records(out, recs)
        tracks, refined = track_counts(recs)
        console.print(
            f"{len(recs)} frames, {tracks} tracks, {refined} boxes refined; written to {out}", highlight=False
        )
