"""One entry point for every kind of input: list its frames, decode one frame, decode many frames in order.

Inputs: image folders, globs, image files and ``.txt`` lists (:mod:`.images`), frame index files (``.jsonl`` of
:class:`Frame`, as written by ``prelabel extract``; lines of labels records work too), video files (:mod:`.video`),
ROS1 bags, rosbag2 folders and MCAP files (:mod:`.rosbag`). Each may be a local path or an ``s3://`` URI.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from prelabel import storage
from prelabel.core.labels import Frame
from prelabel.errors import FormatError, InputNotFoundError, PrelabelError
from prelabel.sources import uris

Decoded = tuple[Frame, npt.NDArray[np.uint8] | None, str | None]


def input_kind(spec: str) -> str:
    """``bag``, ``video``, ``index`` or ``images``."""
    from prelabel.sources.rosbag import is_bag
    from prelabel.sources.video import is_video

    if spec.lower().endswith(".jsonl"):
        return "index"
    if is_video(spec):
        return "video"
    if is_bag(spec):
        return "bag"
    return "images"


def index_frames(spec: str) -> Iterator[Frame]:
    """Frames from a JSON-lines index (one :class:`Frame` or labels record per line)."""
    if not storage.exists(spec):
        raise InputNotFoundError(spec, what="frame index")
    for n, line in enumerate(storage.read_text(spec).splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            yield Frame.model_validate(obj["frame"] if "frame" in obj and "uri" not in obj else obj)
        except (ValueError, KeyError, TypeError) as e:
            raise FormatError(spec, f"line {n} is not a frame: {str(e).splitlines()[0]}") from e


def iter_frames(
    spec: str,
    *,
    topics: Iterable[str] | None = None,
    fps: float | None = None,
    every: int | None = None,
) -> Iterator[Frame]:
    """Every frame of an input, streamed in a stable order (the order a job labels them in)."""
    kind = input_kind(spec)
    if kind == "index":
        yield from index_frames(spec)
    elif kind == "video":
        from prelabel.sources.video import video_frames

        yield from video_frames(spec, fps=fps, every=every)
    elif kind == "bag":
        from prelabel.sources.rosbag import bag_frames

        yield from bag_frames(spec, topics)
    else:
        from prelabel.sources.images import image_frames

        yield from image_frames(spec)


def load_frame_image(frame: Frame) -> npt.NDArray[np.uint8]:
    """RGB uint8 pixels of any frame: image file, ``bag://`` message or ``video://`` frame (random access)."""
    if frame.uri.startswith(uris.BAG):
        from prelabel.sources.rosbag import load_bag_image

        return load_bag_image(frame)
    if frame.uri.startswith(uris.VIDEO):
        from prelabel.sources.video import load_video_image

        return load_video_image(frame)
    from prelabel.sources.images import load_image

    return load_image(frame)


def _safe_load(frame: Frame) -> Decoded:
    try:
        return frame, load_frame_image(frame), None
    except PrelabelError as e:
        return frame, None, str(e)
    except Exception as e:  # a decoder bug on one frame must not stop a bulk run
        return frame, None, f"{type(e).__name__}: {e}"


def _container_chunks(frames: Iterable[Frame], chunk: int) -> Iterator[tuple[str | None, list[Frame]]]:
    """Runs of consecutive frames from the same bag or video (at most ``chunk`` each); image files one by one."""
    run: list[Frame] = []
    key: str | None = None
    for f in frames:
        k = uris.container_of(f.uri)
        if run and (k != key or len(run) >= chunk):
            yield key, run
            run = []
        key = k
        run.append(f)
        if k is None:
            yield None, run
            run = []
    if run:
        yield key, run


def iter_decoded(frames: Iterable[Frame], *, workers: int = 2, chunk: int = 64) -> Iterator[Decoded]:
    """Decode frames as they come: image files on ``workers`` threads (in order, a bounded window ahead),
    bag and video frames in one sequential pass per run of consecutive frames. Never raises for a bad frame."""
    from prelabel.sources.rosbag import read_bag_images
    from prelabel.sources.video import read_video_frames

    window = max(1, workers) * 2
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="prelabel-decode") as pool:
        pending: list[Future[Decoded]] = []
        for key, run in _container_chunks(frames, chunk):
            if key is None:
                pending.append(pool.submit(_safe_load, run[0]))
                while len(pending) >= window:
                    yield pending.pop(0).result()
                continue
            while pending:
                yield pending.pop(0).result()
            if key.startswith(uris.BAG):
                yield from read_bag_images(key[len(uris.BAG) :], run)
            else:
                yield from read_video_frames(key[len(uris.VIDEO) :], run)
        while pending:
            yield pending.pop(0).result()
