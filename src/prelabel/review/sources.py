"""What a review job is made from: a prelabel labels file, or a Ground Truth input manifest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prelabel import storage
from prelabel.core.labels import FrameRecord
from prelabel.errors import FormatError, InputNotFoundError, PrelabelError
from prelabel.formats._common import parse_json_text


@dataclass
class LoadedSource:
    records: list[FrameRecord]
    lines: list[dict[str, Any] | None]  # the manifest line of each record (None for a labels file)
    format: str  # "labels" | "groundtruth"
    attribute: str | None  # the manifest's label attribute (None for a labels file)


def detect_format(uri: str) -> str:
    """``groundtruth`` or ``labels``, from line 1 read once; anything else is an error saying why."""
    return _format_and_line1(uri)[0]


def _format_and_line1(uri: str) -> tuple[str, dict[str, Any]]:
    """The source's format and its line 1 (the first non-blank line), read once and parsed strictly.

    A ``source-ref`` makes a Ground Truth manifest, else a ``frame`` a labels file: for a first line these are the
    rules of the two formats' own ``sniff`` (``formats.sniff(uri, among=("groundtruth", "labels"))``, which
    ``tests/review/test_sources.py`` holds to the same answers), here with errors that say what line 1 holds.
    """
    if not storage.exists(uri):
        raise InputNotFoundError(uri, what="labels file or manifest")
    with storage.open(uri, "rb") as fh:
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            try:
                first = parse_json_text(line, f"{uri}:1")
            except FormatError as e:
                raise FormatError(f"{uri}:1", f"{e.reason}; expected a labels file or a manifest") from None
            if isinstance(first, dict) and "source-ref" in first:
                return "groundtruth", first
            if isinstance(first, dict) and "frame" in first:
                return "labels", first
            keys = ", ".join(sorted(first)[:6]) if isinstance(first, dict) else type(first).__name__
            raise FormatError(
                uri,
                f"line 1 has neither 'frame' (a labels file) nor 'source-ref' (a Ground Truth manifest); got {keys}",
            )
    raise FormatError(uri, "empty file; expected a labels file or a Ground Truth manifest")


def _is_video_manifest(first: dict[str, Any]) -> bool:
    """A Ground Truth video-frame manifest: its lines' ``source-ref`` names a sequence file (``.json``)."""
    return str(first.get("source-ref", "")).split("?")[0].endswith(".json")


def load_job_source(uri: str, *, attribute: str | None = None) -> LoadedSource:
    """Records (and, for a manifest, each record's line) from a labels file or a Ground Truth input manifest
    (a video-frame tracking manifest gives every frame of its sequences, format ``groundtruth-video``).

    ``attribute``: the manifest's label attribute when a line holds several (found by itself otherwise).
    """
    fmt, first = _format_and_line1(uri)
    if fmt == "labels":
        from prelabel.labelfile import read_records

        records = read_records(uri)
        return LoadedSource(records=records, lines=[None] * len(records), format="labels", attribute=None)
    if _pointcloud_manifest(uri, first):  # before the video check: 3D tracking manifests are sequence files too
        return _load_pointcloud_manifest(uri, attribute)
    if _is_video_manifest(first):
        from prelabel.formats import groundtruth_video

        records = list(groundtruth_video.read(uri, label_attribute=attribute))
        return LoadedSource(records=records, lines=[None] * len(records), format="groundtruth-video", attribute=None)
    from prelabel.review.manifests import read_manifest

    records, lines, attr = read_manifest(uri, attribute=attribute)
    return LoadedSource(records=records, lines=list(lines), format="groundtruth", attribute=attr)


_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _pointcloud_manifest(uri: str, first: dict[str, Any]) -> bool:
    """A Ground Truth 3D point cloud manifest (line 1: ``first``): frame lines (``source-ref-metadata``), or lines
    naming sequence files (``source-ref`` ending in ``.json``) whose frames are not images (a video-frame
    sequence's are)."""
    ref = str(first.get("source-ref", "")).split("?")[0]
    if "source-ref-metadata" in first:
        return True
    if not ref.lower().endswith(".json"):
        return False
    from pathlib import Path, PurePosixPath

    from prelabel.formats.groundtruth_video import _resolve

    base = str(PurePosixPath(uri).parent) if "://" in uri else str(Path(uri).parent)
    try:
        doc = parse_json_text(storage.read_bytes(_resolve(ref, base)), ref)
    except (OSError, PrelabelError):
        return False  # unreadable: the video reader names what is wrong
    frames = doc.get("frames") if isinstance(doc, dict) else None
    head = frames[0] if isinstance(frames, list) and frames and isinstance(frames[0], dict) else {}
    name = str(head.get("frame", "")).lower()
    return bool(name) and not name.endswith(_IMAGE_SUFFIXES)


def _load_pointcloud_manifest(uri: str, attribute: str | None) -> LoadedSource:
    """Scenes and their cuboid pre-labels from a Ground Truth 3D manifest (detection frames or tracking
    sequences); each record keeps its input line (a sequence's line for each of its samples)."""
    from prelabel.sources.scenes import groundtruth3d, groundtruth3d_labels

    records = list(groundtruth3d.read(uri, attribute=attribute))
    raw = [parse_json_text(ln, f"{uri}:{n + 1}") for n, ln in enumerate(storage.read_bytes(uri).decode().splitlines())]
    raw = [d for d in raw if isinstance(d, dict)]
    lines: list[dict[str, Any] | None] = []
    attr = None
    if raw and "source-ref-metadata" in raw[0]:
        lines = list(raw)
        attr = attribute or groundtruth3d_labels.detection_attribute(raw[0])
    else:
        by_seq: dict[str, dict[str, Any]] = {}
        for n, d in enumerate(raw):
            seq = groundtruth3d.sequence_file(str(d.get("source-ref")))
            by_seq[str(seq.get("seq-no", n))] = d
        lines = [by_seq.get(r.frame.sequence or "") for r in records]
        key = groundtruth3d_labels.tracking_attribute(raw[0], attribute) if raw else None
        attr = key[: -len("-ref")] if key else None
    if len(lines) != len(records):
        raise FormatError(uri, f"{len(records)} frames read but {len(lines)} lines; expected one line per frame")
    return LoadedSource(records=records, lines=lines, format="groundtruth", attribute=attr)
