"""``prelabel anonymise``: blur faces into new files, with a record of what was blurred."""

from __future__ import annotations

import typer

from prelabel.cli._common import EXIT_OK, EXIT_SOME_FAILED, comma_list, console, friendly_errors, print_failures


def register(app: typer.Typer) -> None:
    @app.command("anonymise")
    @friendly_errors
    def anonymise_cmd(
        input: str = typer.Argument(
            ..., help="Image file, folder, glob, .txt list, video file, ROS1 bag, rosbag2 folder or MCAP file."
        ),
        out: str = typer.Option(..., "--out", "-o", help="New folder for the blurred copies and anonymised.jsonl."),
        min_score: float = typer.Option(0.2, "--min-score", help="CenterFace score from which a face is blurred."),
        scale: float = typer.Option(1.3, "--scale", help="Blur this many times each face box (about its centre)."),
        topics: list[str] | None = typer.Option(None, "--topics", "-t", help="Bag camera topics (default: all)."),
        fps: float | None = typer.Option(None, "--fps", help="Video: keep about this many frames per second."),
        every: int | None = typer.Option(None, "--every", help="Video: keep every n-th frame."),
        threads: int = typer.Option(2, "--threads", help="Inference threads."),
        device: str | None = typer.Option(None, "--device", help="cpu (default) | cuda[:N] | tensorrt | openvino."),
        cache: str | None = typer.Option(None, "--cache", envvar="PRELABEL_CACHE", help="Model cache folder."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Reuse a non-empty --out folder."),
    ) -> None:
        """Blur faces (CenterFace) in every frame into NEW files under --out; never touches the input.

        Writes blurred images (or <video>.anonymised.mp4, or one PNG per bag image message) and anonymised.jsonl,
        a labels file with every blurred face box. Exit 0: all frames done; 1: some frames failed; 2: bad input.
        """
        from prelabel.privacy.anonymise import RECORD, anonymise

        topic_list = comma_list(topics)
        s = anonymise(
            input, out, topics=topic_list, fps=fps, every=every, min_score=min_score, scale=scale,
            threads=threads, device=device, cache=cache, overwrite=overwrite,
        )  # fmt: skip
        console.print(f"frames: {s.frames}  faces blurred: {s.faces}  failed: {s.failed}", highlight=False)
        print_failures(s.failures)
        console.print(f"blurred copies in {out}; record of what was blurred: {out}/{RECORD}", highlight=False)
        raise typer.Exit(EXIT_SOME_FAILED if s.failed else EXIT_OK)
