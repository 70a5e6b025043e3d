"""Video files as frames: every n-th frame or a target rate, decoded with OpenCV (FFmpeg inside the wheel).

Frames are ``video://<video>#<index>`` (0-based decode index); ``timestamp_ns`` is the frame's time from the start
of the video (index / fps); ids are ``<video stem>/<index:06d>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel import limits
from prelabel.core.labels import Frame
from prelabel.errors import UnreadableInputError
from prelabel.sources.remote import localize
from prelabel.sources.uris import parse_video_uri, video_uri

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv")

Decoded = tuple[Frame, npt.NDArray[np.uint8] | None, str | None]


def is_video(spec: str) -> bool:
    return spec.lower().endswith(VIDEO_SUFFIXES)


def _open(spec: str) -> Any:
    import cv2

    path = localize(spec)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise UnreadableInputError(spec, "not a video OpenCV can decode")
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    try:
        limits.check_pixels(width, height, spec)  # from the container's header, before a frame is decoded
    except Exception:
        cap.release()
        raise
    return cap


def sample_indices(count: int, video_fps: float, *, fps: float | None = None, every: int | None = None) -> list[int]:
    """Frame indices to keep: every ``every``-th frame, or about ``fps`` frames per second, or all frames."""
    if fps is not None and every is not None:
        raise ValueError("sample by fps or by every n-th frame, not both")
    if every is not None:
        if every < 1:
            raise ValueError(f"every must be >= 1; got {every}")
        return list(range(0, count, every))
    if fps is not None:
        if fps <= 0:
            raise ValueError(f"fps must be > 0; got {fps}")
        if not video_fps or fps >= video_fps:
            return list(range(count))
        step = video_fps / fps
        out: list[int] = []
        k = 0
        while round(k * step) < count:
            out.append(round(k * step))
            k += 1
        return out
    return list(range(count))


def video_frames(spec: str, *, fps: float | None = None, every: int | None = None) -> Iterator[Frame]:
    import cv2

    cap = _open(spec)
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        vfps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0) or None
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0) or None
    finally:
        cap.release()
    if count <= 0:
        raise UnreadableInputError(spec, "the video reports no frames")
    stem = Path(spec.rstrip("/").rsplit("/", 1)[-1]).stem
    for i in sample_indices(count, vfps, fps=fps, every=every):
        yield Frame(
            id=f"{stem}/{i:06d}",
            uri=video_uri(spec, i),
            width=width,
            height=height,
            sensor=stem,
            timestamp_ns=round(i / vfps * 1e9) if vfps else None,
            meta={"frame_index": i, "video_fps": vfps},
        )


def read_video_frames(video: str, frames: list[Frame]) -> Iterator[Decoded]:
    """Decode the given frames of one video in one forward pass (grab everything, retrieve only what is wanted)."""
    wanted: dict[int, list[Frame]] = {}
    for f in frames:
        wanted.setdefault(parse_video_uri(f.uri)[1], []).append(f)
    try:
        cap = _open(video)
    except Exception as e:
        for fs in wanted.values():
            for f in fs:
                yield f, None, str(e)
        return
    try:
        last = max(wanted)
        i = 0
        while i <= last:
            if not cap.grab():
                break
            if i in wanted:
                ok, bgr = cap.retrieve()
                for f in wanted.pop(i):
                    if ok and bgr is not None:
                        yield f, np.ascontiguousarray(bgr[:, :, ::-1]), None
                    else:
                        yield f, None, f"cannot read {f.uri}: frame {i} did not decode"
            i += 1
    finally:
        cap.release()
    for idx, fs in wanted.items():
        for f in fs:
            yield f, None, f"cannot read {f.uri}: the video ended before frame {idx}"


def load_video_image(frame: Frame) -> npt.NDArray[np.uint8]:
    """Random access to one frame (seek, then decode). Sequential reads use :func:`read_video_frames`."""
    import cv2

    video, index = parse_video_uri(frame.uri)
    cap = _open(video)
    try:
        if index:
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, bgr = cap.read()
    finally:
        cap.release()
    if not ok or bgr is None:
        raise UnreadableInputError(frame.uri, f"frame {index} is past the end of the video or does not decode")
    return np.ascontiguousarray(bgr[:, :, ::-1])
