"""One entry point for every kind of input: list its frames, decode one frame, decode many frames in order.

Inputs: image folders, globs, image files and ``.txt`` lists (:mod:`.images`), frame index files (``.jsonl`` of
:class:`Frame`, as written by ``prelabel extract``; lines of labels records work too), video files (:mod:`.video`),
ROS1 bags, rosbag2 folders and MCAP files (:mod:`.rosbag`). Each may be a local path or an ``s3://`` URI.
More kinds come from ``prelabel.sources`` entry points (a :class:`SourceSpec`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel import storage
from prelabel.core.labels import Frame
from prelabel.errors import FormatError, InputNotFoundError, PrelabelError
from prelabel.plugins import Registry
from prelabel.sources import uris

Decoded = tuple[Frame, npt.NDArray[np.uint8] | None, str | None]


@dataclass(frozen=True)
class SourceSpec:
    """A kind of input: how to recognise it, list its frames and (for frames with its own URIs) decode one.

    ``frames(spec, **options)`` gets only the options the user gave (``topics`` for bags, ``fps``/``every`` for
    video). ``load_image(frame)`` decodes frames whose ``uri`` starts with ``uri_prefix`` (plugins with their own
    URI scheme); frames pointing at image files need neither. A plugin is a ``SourceSpec`` named by a
    ``prelabel.sources`` entry point; plugins are asked before the built-ins.
    """

    name: str
    description: str
    matches: Callable[[str], bool]
    frames: Callable[..., Iterator[Frame]]
    load_image: Callable[[Frame], npt.NDArray[np.uint8]] | None = None
    uri_prefix: str | None = None


def _is_index(spec: str) -> bool:
    return spec.lower().endswith(".jsonl")


def _is_video(spec: str) -> bool:
    from prelabel.sources.video import is_video

    return is_video(spec)


def _is_bag(spec: str) -> bool:
    from prelabel.sources.rosbag import is_bag

    return is_bag(spec)


def _video_frames(spec: str, **options: Any) -> Iterator[Frame]:
    from prelabel.sources.video import video_frames

    return video_frames(spec, **options)


def _bag_frames(spec: str, topics: Iterable[str] | None = None) -> Iterator[Frame]:
    from prelabel.sources.rosbag import bag_frames

    return bag_frames(spec, topics)


def _image_frames(spec: str) -> Iterator[Frame]:
    from prelabel.sources.images import image_frames

    return iter(image_frames(spec))


INDEX = SourceSpec("index", "frame index (.jsonl of frames or labels records)", _is_index, lambda s: index_frames(s))
VIDEO = SourceSpec("video", "video file (sampled with fps/every)", _is_video, _video_frames)
BAG = SourceSpec("bag", "ROS1 bag, rosbag2 folder or MCAP file", _is_bag, _bag_frames)
IMAGES = SourceSpec("images", "image folder, glob, image file or .txt list", lambda s: True, _image_frames)
#: The built-ins, in the order they are asked (images takes whatever is left).
BUILTIN_ORDER = ("index", "video", "bag", "images")


def _check_source(name: str, obj: Any) -> SourceSpec:
    if not isinstance(obj, SourceSpec):
        raise TypeError(f"expected a prelabel.sources.frames.SourceSpec, got {type(obj).__name__}")
    return obj


REGISTRY: Registry[SourceSpec] = Registry(
    "prelabel.sources",
    "frame source",
    {n: f"prelabel.sources.frames:{n.upper()}" for n in BUILTIN_ORDER},
    _check_source,
)


def _plugins() -> list[SourceSpec]:
    names = [n for n in REGISTRY.names() if n not in REGISTRY.builtins]
    return [spec for n, spec in REGISTRY.load_all().items() if n in names]


def input_kind(spec: str) -> str:
    """The source that takes ``spec``: a plugin's name, else ``index``, ``video``, ``bag`` or ``images``."""
    for plugin in _plugins():
        if plugin.matches(spec):
            return plugin.name
    return next(name for name in BUILTIN_ORDER if REGISTRY.get(name).matches(spec))


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
    source = REGISTRY.get(input_kind(spec))
    options = {k: v for k, v in {"topics": topics, "fps": fps, "every": every}.items() if v is not None}
    yield from source.frames(spec, **options)


def load_frame_image(frame: Frame) -> npt.NDArray[np.uint8]:
    """RGB uint8 pixels of any frame: image file, ``bag://`` message, ``video://`` frame (random access), or a
    plugin source's own URI."""
    if frame.uri.startswith(uris.BAG):
        from prelabel.sources.rosbag import load_bag_image

        return load_bag_image(frame)
    if frame.uri.startswith(uris.VIDEO):
        from prelabel.sources.video import load_video_image

        return load_video_image(frame)
    if "://" in frame.uri and not storage.is_local(frame.uri) and not frame.uri.startswith("s3://"):
        for plugin in _plugins():
            if plugin.load_image is not None and plugin.uri_prefix and frame.uri.startswith(plugin.uri_prefix):
                return plugin.load_image(frame)
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


def iter_decoded(
    frames: Iterable[Frame],
    *,
    workers: int = 2,
    chunk: int = 64,
    window: int | None = None,
    initializer: Callable[[], object] | None = None,
) -> Iterator[Decoded]:
    """Decode frames as they come: image files on ``workers`` threads (in order, at most ``window`` ahead; default
    twice the workers), bag and video frames in one sequential pass per run of consecutive frames. Never raises for
    a bad frame. ``initializer`` runs first on each decoding thread (the bulk pipeline lowers their priority)."""
    from prelabel.sources.rosbag import read_bag_images
    from prelabel.sources.video import read_video_frames

    window = max(1, window or max(1, workers) * 2)
    with ThreadPoolExecutor(
        max_workers=max(1, workers), thread_name_prefix="prelabel-decode", initializer=initializer
    ) as pool:
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
