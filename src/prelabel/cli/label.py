"""``prelabel label``: pre-label every frame of an input with a model."""

from __future__ import annotations

from pathlib import Path

import typer

from prelabel.cli._common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    comma_list,
    console,
    err_console,
    friendly_errors,
    print_failures,
    progress_bar,
    set_limit,
)


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
    print_failures(summary.failures, records=out)
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
        model: str | None = typer.Option(
            None,
            "--model",
            "-m",
            help="Zoo id, registry team/name@version, endpoint URL or your own .onnx file (Ultralytics exports are "
            "read as-is). Default: the 'best' preset.",
        ),
        preset: str | None = typer.Option(
            None, "--preset", help="fast | balanced | best: measured model/tiling/fusion settings (see README)."
        ),
        device: str | None = typer.Option(
            None, "--device", help="cpu (default) | cuda | cuda:N | tensorrt | openvino (ONNX Runtime providers)."
        ),
        classes: str | None = typer.Option(
            None,
            "--classes",
            help="Keep only these classes (comma-separated, names after --class-map); for an .onnx file without "
            "class names: its class names in output order.",
        ),
        class_map: str | None = typer.Option(
            None, "--class-map", help="Label ontology: kitti | bdd | nuscenes | driving | a class-map JSON file."
        ),
        decoder: str | None = typer.Option(None, "--decoder", help="Override the decoder of an .onnx file."),
        out: str | None = typer.Option(
            None, "--out", "-o", help="Labels file (*.jsonl) or folder (gets labels.jsonl); local or s3://."
        ),
        min_score: float | None = typer.Option(
            None,
            "--min-score",
            help="Drop detections scored below this (default 0.25; presets: per class). With --3d: the 2D "
            "detector's floor (default 0.05); what is lifted to 3D is set by --lift-min-score.",
        ),
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
        ray_cpus_per_actor: float = typer.Option(
            0.5, "--ray-cpus-per-actor", help="Ray executor: CPUs each predictor actor reserves (fractions allowed)."
        ),
        ray_address: str | None = typer.Option(
            None,
            "--ray-address",
            envvar="PRELABEL_RAY_ADDRESS",
            help="Ray executor: join this running cluster (host:port of its head) instead of starting Ray here.",
        ),
        state: str | None = typer.Option(
            None, "--state", envvar="PRELABEL_STATE", help="Job state folder (default ~/.local/state/prelabel/jobs)."
        ),
        retry_failed: bool = typer.Option(False, "--retry-failed", help="With --resume: label failed frames again."),
        tiled: bool = typer.Option(False, "--tiled", help="Also run on overlapping tiles (small, distant objects)."),
        tta: bool = typer.Option(False, "--tta", help="Horizontal-flip test-time augmentation."),
        masks: str | None = typer.Option(
            None,
            "--masks",
            help="Add an instance mask to every box: sam (MobileSAM) or native (a segmentation model's own masks).",
        ),
        max_pixels: int | None = typer.Option(
            None,
            "--max-pixels",
            min=1,
            help="Refuse (as a per-frame failure) images whose header declares more pixels than this "
            "(default 64,000,000; env PRELABEL_MAX_PIXELS).",
        ),
        three_d: bool = typer.Option(
            False,
            "--3d",
            help="INPUT is a scene source (KITTI, nuScenes, AV2, scenes .jsonl, or a bag with /tf_static: "
            "PointCloud2 or raw VelodyneScan sweeps plus images): 3D boxes from LiDAR. Default model: "
            "tiled nanodet-m-coco; several models (a,b) have their 2D boxes fused (WBF) before lifting.",
        ),
        unknown_objects: bool = typer.Option(
            False,
            "--unknown-objects",
            help="With --3d: also box the LiDAR clusters no 2D detection claimed, as low-score 'unknown' objects "
            "(score <= 0.3; a size guess in attributes); scenes without camera images are labelled this way.",
        ),
        lift_min_score: float | None = typer.Option(
            None,
            "--lift-min-score",
            min=0.0,
            max=1.0,
            help="With --3d: lift only 2D boxes scored at least this (default 0.25: the benchmark's choice, same 3D "
            "AP in a third of the time of 0.15); fainter 2D boxes still take part in fusing several models' boxes.",
        ),
        track: bool = typer.Option(
            False,
            "--track",
            help="With --3d: track the 3D boxes over each sequence in the world frame and refine every track "
            "offline (as prelabel track3d); needs ego poses (KITTI tracking, nuScenes, Argoverse 2).",
        ),
    ) -> None:
        """Pre-label every frame as a persisted, resumable job; writes the labels file and prints a summary.

        Exit code 0: every frame labelled; 1: some frames failed (recorded with reasons); 2: bad usage or input.
        """
        if three_d:
            from prelabel.cli.label3d import run_label3d

            if input is None:
                raise typer.BadParameter("--3d needs INPUT (a scene source)")
            failed = run_label3d(
                input,
                out,
                model or "nanodet-m-coco",
                tiled=tiled,
                masks=masks,
                threads=threads,
                cache=cache,
                overwrite=overwrite,
                min_score=min_score,
                lift_min_score=lift_min_score,
                unknown_objects=unknown_objects,
                track=track,
            )
            raise typer.Exit(EXIT_SOME_FAILED if failed else EXIT_OK)
        if unknown_objects or track or lift_min_score is not None:
            raise typer.BadParameter("--unknown-objects, --track and --lift-min-score go with --3d (LiDAR scenes)")
        from prelabel.limits import ENV_MAX_PIXELS

        set_limit(ENV_MAX_PIXELS, max_pixels)
        from prelabel.errors import PrelabelError
        from prelabel.inference.labelling import resume_job, run_job, start_job
        from prelabel.inference.presets import label_settings

        model, predictor_options = label_settings(
            model=model,
            preset=preset,
            min_score=min_score,
            threads=threads,
            device=device,
            classes=classes,
            class_map=class_map,
            decoder=decoder,
            tiled=tiled,
            tta=tta,
            masks=masks,
        )
        if cache:
            predictor_options["cache"] = cache
        topic_list = comma_list(topics)
        executor_options: dict[str, object] | None = None
        if executor == "ray":
            executor_options = {"actors": ray_actors, "cpus_per_actor": ray_cpus_per_actor}
            if ray_address:
                executor_options["address"] = ray_address
        if resume:
            job = resume_job(
                resume, state=state, executor=executor, executor_options=executor_options, retry_failed=retry_failed
            )
            err_console.print(f"resuming job {job.id}: {job.counts()['pending']} frames pending", highlight=False)
        else:
            if input is None or out is None:
                raise PrelabelError("give an INPUT and --out (or --resume JOB to finish an interrupted job)")
            job = start_job(
                input, out, model, predictor_options=predictor_options, overwrite=overwrite, topics=topic_list,
                fps=fps, every=every, executor=executor or "local", executor_options=executor_options, state=state,
            )  # fmt: skip
            err_console.print(
                f"job {job.id} (state in {job.dir}; if interrupted: prelabel label --resume {job.id})", highlight=False
            )
        counts = job.counts()
        try:
            with progress_bar() as progress:
                task = progress.add_task(f"labelling with {job.config.model}", total=counts["total"])
                progress.update(task, completed=counts["done"] + counts["failed"])
                result = run_job(job, on_progress=lambda n: progress.advance(task, n))
        except KeyboardInterrupt:
            err_console.print(f"interrupted; finish it with: prelabel label --resume {job.id}", highlight=False)
            raise
        summary, this_run = result.whole, result.this_run
        print_summary(summary, result.output, this_run=this_run)
        console.print(f"job {job.id}: {this_run.frames} frames this run ({result.fps:.2f} frames/s)", highlight=False)
        raise typer.Exit(EXIT_SOME_FAILED if summary.failed else EXIT_OK)
