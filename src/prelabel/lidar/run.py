"""Pre-label scenes in 3D: a 2D detector on every camera image, then :func:`prelabel.lidar.lift.lift_frame`.

Python API::

    from prelabel.lidar.run import label_scenes
    records = label_scenes("../shared/data/kitti/training", model="nanodet-m-coco", tiled=True)

Each output record is the scene's ``kind="pointcloud"`` frame with 3D labels in its LiDAR frame (``box3d.frame ==
"lidar"``; attributes name the camera and 2D box each came from). A sample that fails (unreadable sweep, bad
calibration, a camera image that does not decode) is a failed record with the reason; the others go on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from prelabel.core.labels import Frame, FrameRecord, Label
from prelabel.errors import PrelabelError
from prelabel.lidar.lift import LiftOptions, lift_frame, to_labels
from prelabel.lidar.unknown import UnknownOptions


def camera_frame(scene: Frame, cam: Any) -> Frame:
    """The image frame of one scene camera (what the 2D detector sees)."""
    return Frame(
        id=f"{scene.id}/{cam.name}",
        uri=cam.uri,
        width=cam.width,
        height=cam.height,
        sensor=cam.name,
        timestamp_ns=cam.timestamp_ns,
    )


def sensor_origin(scene: Frame) -> tuple[float, float, float]:
    """Where the LiDAR sits in the sweep's own frame (x y z, m): ``meta.sensor_origin`` when the scene gives it (a
    sweep written in the ego frame: a merged multi-LiDAR sweep gives its LiDARs' mean position), else the origin
    (a sweep in its LiDAR's frame: KITTI, nuScenes). The viewing rays of the 3D lifting start there."""
    raw = (scene.meta or {}).get("sensor_origin")
    if raw is None:
        return (0.0, 0.0, 0.0)
    try:
        x, y, z = (float(v) for v in raw)
    except (TypeError, ValueError) as e:
        raise PrelabelError(f"{scene.id}: meta.sensor_origin should be [x, y, z] in metres; got {raw!r}") from e
    if not all(map(math.isfinite, (x, y, z))):
        raise PrelabelError(f"{scene.id}: meta.sensor_origin should be finite [x, y, z] in metres; got {raw!r}")
    return (x, y, z)


def label_scene(
    rec: FrameRecord,
    detect: Callable[[Frame], FrameRecord],
    options: LiftOptions | None = None,
    unknown: UnknownOptions | None = None,
) -> FrameRecord:
    """One scene record to a record with 3D labels (or a failed one naming why). With ``unknown`` options, the
    clusters no 2D detection claimed are added as low-score ``unknown`` labels (:mod:`prelabel.lidar.unknown`),
    and a scene without cameras is labelled from its clusters alone."""
    from prelabel.lidar.ground import fit_ground
    from prelabel.lidar.unknown import to_labels as unknown_labels
    from prelabel.lidar.unknown import unknown_boxes
    from prelabel.sources.scenes.points import load

    if rec.status == "failed":
        return rec
    scene = rec.frame
    try:
        points = load(scene)
        origin = sensor_origin(scene)
        dets: dict[str, list[Label]] = {}
        for cam in scene.cameras or []:
            out = detect(camera_frame(scene, cam))
            if out.status == "failed":
                raise PrelabelError(f"camera {cam.name} of {scene.id}: {out.error}")
            dets[cam.name] = out.labels
        if not scene.cameras and unknown is None:
            raise PrelabelError(
                f"{scene.id}: the scene has no camera to take 2D detections from; expected at least "
                "one camera image within the time tolerance, or pass --unknown-objects (Python: unknown=) to box "
                "the LiDAR clusters alone as low-score 'unknown' objects"
            )
        ground = fit_ground(points[:, :3])  # once per scene: the lifting and the unknown clusters share it
        lifted = lift_frame(points, scene.cameras, dets, options, ground=ground, sensor=origin) if scene.cameras else []
        labels = to_labels(lifted, scene.id)
        if unknown is not None:
            found = unknown_boxes(points, ground, [it.box for it in lifted], unknown, origin)
            labels += unknown_labels(found, scene.id)
    except PrelabelError as e:
        return FrameRecord(frame=scene, status="failed", error=str(e))
    except ValueError as e:
        return FrameRecord(frame=scene, status="failed", error=f"{scene.id}: {e}")
    return FrameRecord(frame=scene, labels=labels)


def label_scenes(
    src: str | Iterable[FrameRecord],
    *,
    model: str | Sequence[str] = "nanodet-m-coco",
    tiled: bool = True,
    masks: str | None = None,
    min_score: float = 0.05,
    threads: int = 2,
    cache: str | None = None,
    options: LiftOptions | None = None,
    unknown: UnknownOptions | None = None,
) -> Iterator[FrameRecord]:
    """Records with 3D labels for every scene of ``src`` (a scene source or scene records). Several ``model`` s
    are run on every camera image and their boxes fused (WBF) before lifting; ``unknown`` adds the unclaimed
    clusters (see :func:`label_scene`)."""
    from prelabel.inference.predictor import Predictor
    from prelabel.sources.scenes import read_scenes

    scenes = read_scenes(src) if isinstance(src, str) else src
    models = [model] if isinstance(model, str) else list(model)
    predictors = [
        Predictor(m, tiled=tiled, masks=masks, min_score=min_score, threads=threads, cache=cache) for m in models
    ]
    detect = predictors[0].predict_frame if len(predictors) == 1 else _fused(predictors)
    for rec in scenes:
        yield label_scene(rec, detect, options, unknown)


def _fused(predictors: Sequence[Any]) -> Callable[[Frame], FrameRecord]:
    """Several detectors on one image, merged by weighted box fusion (IoU 0.5, boxes under 0.2 skipped: the
    setting ``bench_fusion`` chose for tiled NanoDet + CenterNet on held-out KITTI frames)."""
    from prelabel.refine.fusion import fuse_records

    def detect(frame: Frame) -> FrameRecord:
        runs = [[p.predict_frame(frame)] for p in predictors]
        return fuse_records(runs, iou_threshold=0.5, skip_score=0.2)[0]

    return detect
