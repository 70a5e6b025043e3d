"""``prelabel extract``: ROS bag / MCAP to PNG frames, point-cloud files and a frame index."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from prelabel.cli._common import (
    check_output,
    comma_list,
    console,
    friendly_errors,
    print_failures,
    progress_bar,
    set_limit,
)


def register(app: typer.Typer) -> None:
    @app.command("extract")
    @friendly_errors
    def extract(
        bag: str = typer.Argument(
            ...,
            help="ROS1 .bag, rosbag2 folder (sqlite3 or mcap) or .mcap file; local or s3://. Or a scene source "
            "(KITTI object/tracking folder, nuScenes info .pkl, Argoverse 2 log, PCD files): writes scenes.jsonl.",
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
        tolerance_ms: float | None = typer.Option(
            None, "--tolerance-ms", help="Scenes: largest camera/pose time gap to a sweep (default per dataset)."
        ),
        scenes: bool = typer.Option(False, "--scenes", help="Bags: also pair sweeps and images into scenes.jsonl."),
        extrinsics: str | None = typer.Option(
            None,
            "--extrinsics",
            help="Bags without /tf_static: JSON {camera topic: 4x4 camera_from_lidar} or KITTI calib.",
        ),
        urdf: str | None = typer.Option(
            None,
            "--rig",
            "--urdf",
            help="The sensor rig instead of the bag's /tf_static: a URDF (fixed joints), or TransformStamped YAML "
            "files (a file or folder; Ford's calibration extrinsics).",
        ),
        camera_info: list[str] | None = typer.Option(
            None,
            "--camera-info",
            help="TOPIC=FILE.yaml: intrinsics (ROS calibration YAML) for an image topic the bag has no CameraInfo "
            "for (repeat per camera).",
        ),
        velodyne_calibration: str | None = typer.Option(
            None,
            "--velodyne-calibration",
            help="VelodyneScan topics: the sensor's calibration YAML (e.g. Ford's lidarIntrinsics.yaml); "
            "default: the decoder's own table for the model.",
        ),
        velodyne_model: str = typer.Option(
            "HDL32E", "--velodyne-model", help="VelodyneScan topics: HDL32E | HDL64E_S2 | HDL64E_S3 | VLP16 | ..."
        ),
    ) -> None:
        """Write camera frames as PNGs and point clouds as .bin files, plus index.jsonl (one Frame per file, with
        timestamps, frame ids and CameraInfo calibration). Raw Velodyne packets (VelodyneScan topics, Ford style)
        are decoded and merged into one vehicle-frame sweep per revolution. Label them with: prelabel label
        OUT/index.jsonl, or with --scenes: prelabel label OUT/scenes.jsonl --3d"""
        from prelabel import storage
        from prelabel.limits import ENV_MAX_PIXELS
        from prelabel.sources.extract import INDEX, extract_bag

        scene_kind = _scene_kind(bag)
        if scene_kind is not None:
            _extract_scenes(bag, scene_kind, out, overwrite, tolerance_ms)
            return

        set_limit(ENV_MAX_PIXELS, max_pixels)

        topic_list = comma_list(topics)
        errors: list[str] = []
        velodyne = {"model": velodyne_model, "calibration": velodyne_calibration}
        infos = {}
        for pair in camera_info or []:
            topic, sep, path = pair.partition("=")
            if not sep or not topic or not path:
                raise typer.BadParameter(f"--camera-info must be TOPIC=FILE.yaml; got {pair!r}")
            infos[topic] = path
        with progress_bar("files") as progress:
            task = progress.add_task("extracting", total=None)
            written = extract_bag(
                bag, out, topic_list, overwrite=overwrite, on_item=lambda _f: progress.advance(task), urdf=urdf,
                velodyne=velodyne, errors=errors, camera_info=infos,
            )  # fmt: skip
        print_extracted(written, errors)
        console.print(f"index written to {storage.join(out, INDEX)}", highlight=False)
        if scenes:
            from prelabel.sources.scenes.bagindex import TOLERANCE_MS, load_extrinsics, scenes_from_index

            ext = load_extrinsics(extrinsics) if extrinsics else None
            recs = scenes_from_index(storage.join(out, INDEX), ext, tolerance_ms=tolerance_ms or TOLERANCE_MS)
            _write_scenes(list(recs), "bag", storage.join(out, "scenes.jsonl"), overwrite)
        if any(topic.endswith("(failed)") for topic in written):
            raise typer.Exit(1)  # some items failed (named above); the rest were written


def print_extracted(written: Mapping[str, int], errors: list[str], most: int = 20) -> None:
    """What ``extract_bag`` wrote (files per topic) and the first ``most`` of the items it could not."""
    for topic, n in sorted(written.items()):
        console.print(f"{topic}: {n} files", highlight=False)
    for line in errors[:most]:
        console.print(f"[red]failed[/] {line}", highlight=False)


def _scene_kind(src: str) -> str | None:
    """The scene reader for ``src``, or None when it is not a scene source (then it is a bag)."""
    from prelabel.errors import PrelabelError
    from prelabel.sources.scenes import detect

    if src.endswith((".bag", ".mcap", ".jsonl")):
        return None
    try:
        return detect(src)
    except PrelabelError:
        return None


def _extract_scenes(src: str, kind: str, out: str, overwrite: bool, tolerance_ms: float | None) -> None:
    """Write one scene per sample (a pointcloud Frame with its cameras) to OUT/scenes.jsonl (or OUT if *.jsonl)."""
    from prelabel import storage
    from prelabel.sources.scenes import read_scenes

    dest = out if out.endswith(".jsonl") else storage.join(out, "scenes.jsonl")
    _write_scenes(list(read_scenes(src, kind=kind, tolerance_ms=tolerance_ms)), kind, dest, overwrite)


def _write_scenes(records: list[Any], kind: str, dest: str, overwrite: bool) -> None:
    from prelabel.labelfile import write_records

    write_records(check_output(dest, overwrite), records)
    failed = [r for r in records if r.status == "failed"]
    unmatched = sum(len(r.frame.meta.get("unmatched", [])) for r in records)
    console.print(f"{kind}: {len(records)} scenes, {len(failed)} failed, {unmatched} camera images left unmatched")
    print_failures([(r.frame.id, r.error) for r in failed])
    for r in records:
        for note in r.frame.meta.get("unmatched", [])[:3]:
            console.print(f"[yellow]unmatched[/] {r.frame.id}: {note}", highlight=False)
    console.print(
        f"scenes written to {dest}; label them with: prelabel label {dest} --3d -o labels3d.jsonl", highlight=False
    )
