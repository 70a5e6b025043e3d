"""``prelabel show``: draw a frame's labels over its image."""

from __future__ import annotations

import typer

from prelabel.cli._common import console, friendly_errors


def register(app: typer.Typer) -> None:
    @app.command("show")
    @friendly_errors
    def show(
        labels: str = typer.Argument(..., help="Labels file (*.jsonl)."),
        frame: str | None = typer.Option(None, "--frame", "-f", help="Frame id to draw."),
        all_frames: bool = typer.Option(False, "--all", help="Draw every frame into the -o folder."),
        out: str = typer.Option(..., "--out", "-o", help="PNG file (one frame) or folder (--all)."),
        min_score: float = typer.Option(0.0, "--min-score", help="Hide labels scored below this."),
    ) -> None:
        """Draw boxes and masks with class and score on the frame (or on every frame with --all).

        Scenes (LiDAR sweeps with cameras, e.g. from label --3d) draw as a bird's-eye view plus every camera with
        the 3D boxes projected, one PNG per sample."""
        from prelabel import storage
        from prelabel.errors import PrelabelError, UnknownNameError
        from prelabel.labelfile import iter_records
        from prelabel.sources.images import load_image
        from prelabel.viz.overlay import draw_labels, save_png

        if (frame is None) == (not all_frames):
            raise PrelabelError("give exactly one of --frame ID or --all")
        drawn = 0
        seen: list[str] = []
        for rec in iter_records(labels):
            seen.append(rec.frame.id)
            if frame is not None and rec.frame.id != frame:
                continue
            if rec.status == "failed":
                console.print(f"[yellow]skipped[/] {rec.frame.id}: the run failed on it ({rec.error})")
                continue
            if rec.frame.kind == "pointcloud":  # a scene: bird's-eye view plus every camera
                from prelabel.viz.scene import draw_scene

                picture = draw_scene(rec.frame, rec.labels, min_score=min_score)
            else:
                picture = draw_labels(load_image(rec.frame), rec.labels, min_score=min_score)
            dest = out if frame is not None else storage.join(out, rec.frame.id.replace("/", "__") + ".png")
            save_png(picture, dest)
            drawn += 1
            if frame is not None:
                console.print(f"wrote {dest} ({len(rec.labels)} labels)")
                return
        if frame is not None:
            raise UnknownNameError("frame", frame, seen[:50])
        console.print(f"wrote {drawn} pictures to {out}")
