"""Bag to files: camera frames as PNGs, point clouds as KITTI-style ``.bin``, and an index of :class:`Frame` s.

Layout under ``out`` (a local folder or ``s3://`` prefix)::

    <topic slug>/<header stamp ns>.png      one per camera message (RGB, lossless)
    <topic slug>/<header stamp ns>.bin      one per PointCloud2 message (float32 x y z intensity rows)
    vehicle/<header stamp ns>.bin           one merged sweep per revolution of the VelodyneScan topics (raw packets,
                                             Ford style: :mod:`prelabel.sources.velodyne`), vehicle frame
    index.jsonl                              one Frame per file: id, uri, size, sensor (topic), timestamp_ns,
                                             calibration (CameraInfo), meta.source = the bag:// frame it came from;
                                             meta.root_from_sensor (4x4) where the bag's /tf_static (or a
                                             URDF) places the message's frame in the rig

``prelabel label out/index.jsonl`` labels the extracted frames with their timestamps and calibration.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from prelabel import storage
from prelabel.core.labels import Frame
from prelabel.errors import OutputExistsError, UnknownNameError
from prelabel.sources.pointcloud import COLUMNS, pointcloud2_to_xyzi, write_bin
from prelabel.sources.rosbag import IMAGE_TYPES, POINTCLOUD, bag_frames, choose_topics, open_bag, stamp_ns, topic_slug
from prelabel.sources.velodyne import SCAN_TYPE

INDEX = "index.jsonl"


def _png(rgb: object) -> bytes:
    import cv2
    import numpy as np

    assert isinstance(rgb, np.ndarray)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise ValueError("PNG encoding failed")
    return bytes(buf)


def extract_bag(
    bag: str,
    out: str,
    topics: Iterable[str] | None = None,
    *,
    overwrite: bool = False,
    on_item: Callable[[Frame], None] | None = None,
    urdf: str | None = None,
    velodyne: dict[str, Any] | None = None,
    errors: list[str] | None = None,
    camera_info: dict[str, str] | None = None,
) -> Counter[str]:
    """Write the chosen topics' images and point clouds under ``out``; returns files written per topic.

    Topics default to every camera, point-cloud and VelodyneScan topic. Frames that fail to decode are skipped and
    counted under ``"<topic> (failed)"`` (with the reason in ``errors`` where given); the rest go on. ``urdf``
    gives the rig instead of the bag's ``/tf_static`` (a URDF or TransformStamped YAML, see
    :func:`prelabel.sources.rig.load_rig`); ``camera_info`` maps an image topic to a ROS calibration YAML for
    images the bag has no CameraInfo for; ``velodyne`` options (``model``, ``calibration``,
    ``tolerance_ms``) go to :func:`prelabel.sources.velodyne.read_sweeps`."""
    index_uri = storage.join(out, INDEX)
    if storage.exists(index_uri) and not overwrite:
        raise OutputExistsError(index_uri)
    from prelabel.sources.rig import camera_info_yaml

    cams = {t: camera_info_yaml(f) for t, f in (camera_info or {}).items()}
    with open_bag(bag) as reader:
        chosen = choose_topics(reader, topics, (*IMAGE_TYPES, POINTCLOUD, SCAN_TYPE))
        available = reader.topics()
        rig = _rig(reader, urdf)
    for t in cams:
        if t not in available or available[t][0] not in IMAGE_TYPES:
            raise UnknownNameError(f"camera topic of --camera-info in {bag}", t, [a for a in chosen if a in available])
    image_topics = [t for t in chosen if available[t][0] in IMAGE_TYPES]
    cloud_topics = [t for t in chosen if available[t][0] == POINTCLOUD]
    scan_topics = [t for t in chosen if available[t][0] == SCAN_TYPE]
    written: Counter[str] = Counter()
    with storage.open(index_uri, "w", newline="\n") as index:  # nothing appears unless the extraction finishes

        def add(frame: Frame) -> None:
            if frame.sensor in cams and frame.calibration is None and frame.kind != "pointcloud":
                frame = frame.model_copy(update={"calibration": cams[frame.sensor][0]})
            fid = str(frame.meta.get("frame_id", "")).lstrip("/")
            if fid in rig and "root_from_sensor" not in frame.meta:
                frame = frame.model_copy(update={"meta": {**frame.meta, "root_from_sensor": rig[fid].tolist()}})
            index.write(frame.model_dump_json(exclude_none=True) + "\n")

        _extract(bag, out, image_topics, cloud_topics, add, written, on_item)
        if scan_topics:
            from prelabel.sources.velodyne import extract_frames

            errs: list[str] = []
            for f in extract_frames(bag, out, topics=scan_topics, urdf=urdf, errors=errs, **(velodyne or {})):
                add(f)
                written["vehicle (merged VelodyneScan)"] += 1
                if on_item:
                    on_item(f)
            if errs:
                written["VelodyneScan (failed)"] += len(errs)
                if errors is not None:
                    errors.extend(errs)
    return written


def _rig(reader: Any, urdf: str | None) -> dict[str, Any]:
    """``{frame: root_from_frame}`` from the URDF or the bag's ``/tf_static`` (empty when neither is there)."""
    from prelabel.sources.rig import TF_STATIC, load_rig, rig_from_tf

    if urdf is not None:
        return load_rig(urdf)
    if TF_STATIC not in reader.topics():
        return {}
    return rig_from_tf([m.msg for m in reader.messages([TF_STATIC])])


def _extract(
    bag: str,
    out: str,
    image_topics: list[str],
    cloud_topics: list[str],
    add: Callable[[Frame], None],
    written: Counter[str],
    on_item: Callable[[Frame], None] | None,
) -> None:
    from prelabel.sources.frames import iter_decoded

    if image_topics:
        for frame, rgb, _error in iter_decoded(bag_frames(bag, image_topics)):
            if rgb is None:
                written[f"{frame.sensor} (failed)"] += 1
                continue
            uri = storage.join(out, f"{frame.id}.png")
            storage.write_bytes(uri, _png(rgb))
            h, w = rgb.shape[:2]
            meta = {**frame.meta, "source": frame.uri}
            f = frame.model_copy(update={"uri": uri, "width": w, "height": h, "meta": meta})
            add(f)
            written[frame.sensor or ""] += 1
            if on_item:
                on_item(f)
    if cloud_topics:
        with open_bag(bag) as reader:
            for m in reader.messages(cloud_topics):
                stamp = stamp_ns(m.msg, m.log_time_ns)
                fid = f"{topic_slug(m.topic)}/{stamp}"
                try:
                    pts = pointcloud2_to_xyzi(m.msg, f"{bag} {m.topic} @ {m.log_time_ns}")
                except Exception:
                    written[f"{m.topic} (failed)"] += 1
                    continue
                uri = storage.join(out, f"{fid}.bin")
                write_bin(pts, uri)
                frame_id = getattr(getattr(m.msg, "header", None), "frame_id", "")
                f = Frame(
                    id=fid,
                    uri=uri,
                    sensor=m.topic,
                    timestamp_ns=stamp,
                    kind="pointcloud",
                    meta={
                        "log_time_ns": m.log_time_ns,
                        "frame_id": str(frame_id),
                        "points": int(pts.shape[0]),
                        "columns": list(COLUMNS),
                        "dtype": "float32",
                    },
                )
                add(f)
                written[m.topic] += 1
                if on_item:
                    on_item(f)
