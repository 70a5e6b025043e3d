"""``prelabel label SCENES --3d``: 3D pre-labels for every scene, written as a labels file."""

from __future__ import annotations

from collections import Counter
from typing import Any

from prelabel.cli._common import check_output, console, print_failures


def run_label3d(
    src: str,
    out: str | None,
    model: str,
    *,
    tiled: bool,
    masks: str | None,
    threads: int,
    cache: str | None,
    overwrite: bool,
    min_score: float | None,
    lift_min_score: float | None = None,
    unknown_objects: bool = False,
    track: bool = False,
) -> int:
    """Label, write ``out`` (a ``*.jsonl`` or a folder getting ``labels3d.jsonl``), print a summary; the failures.

    ``min_score`` is the 2D detector's floor (None: 0.05); ``lift_min_score`` the lift's own 2D-score floor (None:
    :class:`prelabel.lidar.lift.LiftOptions`' default, 0.25): fainter 2D boxes are kept for fusing several models'
    boxes but not lifted. ``unknown_objects`` adds the unclaimed LiDAR clusters as low-score ``unknown`` boxes;
    ``track`` tracks and refines the boxes over each sequence (:func:`prelabel.lidar.tracks.refine_records`), after
    checking that every scene has its ego pose."""
    from prelabel import storage
    from prelabel.errors import PrelabelError
    from prelabel.labelfile import write_records
    from prelabel.lidar.run import label_scenes

    if out is None:
        raise PrelabelError("--3d needs --out (a labels file *.jsonl or a folder)")
    dest = out if out.endswith(".jsonl") else storage.join(out, "labels3d.jsonl")
    check_output(dest, overwrite)
    if model == "ssd-mobilenet-v2-coco":  # the 2D default; with --3d it is tiled NanoDet, the best 2D setting here
        model = "nanodet-m-coco"
        tiled = True
    records = []
    per_class: Counter[str] = Counter()
    failures = []
    # the detector keeps 2D boxes from 0.05 (fusion of several models uses them all); lifting takes those from
    # --lift-min-score (default 0.25: on the KITTI benchmark, lifting from 0.15 gives the same 3D AP in 3x the time)
    from prelabel.lidar.lift import LiftOptions
    from prelabel.lidar.unknown import UnknownOptions
    from prelabel.sources.scenes import read_scenes

    options = LiftOptions() if lift_min_score is None else LiftOptions(min_score=lift_min_score)
    models = [m.strip() for m in model.split(",") if m.strip()]
    from prelabel.sources.rosbag import is_bag

    if is_bag(src):
        src = _bag_scenes(src, dest, overwrite)
    scenes = list(read_scenes(src))
    ok = [r for r in scenes if r.status == "ok"]
    if ok and not unknown_objects and not any(r.frame.cameras for r in ok):
        raise PrelabelError(
            f"{src}: none of its {len(ok)} scenes has a camera image to take 2D detections from (e.g. Argoverse 2 "
            "logs shared without images); pass --unknown-objects to box the LiDAR clusters alone as low-score "
            "'unknown' objects"
        )
    if track:
        _check_poses(src, scenes)
    labelled = label_scenes(
        scenes, model=models, tiled=tiled, masks=masks, threads=threads, cache=cache,
        min_score=0.05 if min_score is None else min_score,
        options=options, unknown=UnknownOptions() if unknown_objects else None,
    )  # fmt: skip
    if track:
        from prelabel.lidar.tracks import refine_records

        labelled = iter(refine_records(list(labelled)))
    for rec in labelled:
        if rec.status == "ok":
            per_class.update(lb.category for lb in rec.labels)
        else:
            failures.append((rec.frame.id, rec.error or ""))
        records.append(rec)
    write_records(dest, records)
    for name, n in per_class.most_common():
        console.print(f"{name}: {n}", highlight=False)
    console.print(f"scenes: {len(records)}  failed: {len(failures)}  3D labels: {sum(per_class.values())}")
    if track:
        from prelabel.cli.track3d import track_counts

        tracks, refined = track_counts(records)
        console.print(f"3D tracks: {tracks}  boxes refined over their track: {refined}")
    print_failures(failures)
    console.print(f"labels written to {dest}", highlight=False)
    return len(failures)


def _check_poses(src: str, scenes: list[Any]) -> None:
    """``--track`` needs every scene's ego pose (world_from_ego); say which scene lacks it and where poses come
    from, before any model runs."""
    from prelabel.errors import PrelabelError

    ok = [r for r in scenes if r.status == "ok"]
    missing = [r.frame.id for r in ok if r.frame.ego_pose is None]
    if missing:
        raise PrelabelError(
            f"{src}: --track needs the ego pose (world_from_ego) of every scene; {len(missing)} of {len(ok)} have "
            f"none (first: {missing[0]}); expected scenes with poses: KITTI tracking (oxts), nuScenes, Argoverse 2, "
            "or a Ground Truth 3D manifest with ego-vehicle-pose"
        )


def _bag_scenes(bag: str, dest: str, overwrite: bool) -> str:
    """Extract a ROS bag / MCAP (images, PointCloud2 or raw VelodyneScan sweeps, rig from /tf_static) beside the
    labels file, in ``<bag stem>-scenes/``, and pair its scenes; returns the scenes file. Bags without /tf_static
    need ``prelabel extract --scenes --extrinsics`` first."""
    from pathlib import PurePosixPath

    from prelabel import storage
    from prelabel.cli.extract import print_extracted
    from prelabel.errors import PrelabelError
    from prelabel.labelfile import write_records
    from prelabel.sources.extract import INDEX, extract_bag
    from prelabel.sources.scenes.bagindex import scenes_from_index

    parent = dest.rsplit("/", 1)[0] if "/" in dest else "."
    folder = storage.join(parent, f"{PurePosixPath(bag.rstrip('/')).stem}-scenes")
    errors: list[str] = []
    written = extract_bag(bag, folder, overwrite=overwrite, errors=errors)
    print_extracted(written, errors)
    scenes = storage.join(folder, "scenes.jsonl")
    recs = list(scenes_from_index(storage.join(folder, INDEX)))
    write_records(scenes, recs)
    sweeps = [r for r in recs if r.frame.kind == "pointcloud"]
    if sweeps and all(r.status == "failed" for r in sweeps):
        raise PrelabelError(
            f"{bag}: none of its {len(sweeps)} sweeps pairs with its cameras ({sweeps[0].error}); give the rig "
            f"when extracting: prelabel extract {bag} -o DIR --scenes --extrinsics FILE (or --rig URDF_OR_YAML), then "
            "prelabel label DIR/scenes.jsonl --3d"
        )
    console.print(f"bag extracted to {folder}; scenes in {scenes}", highlight=False)
    return scenes
