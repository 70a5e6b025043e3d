"""What a review job is made from: a prelabel labels file, or a Ground Truth input manifest (DESIGN §6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prelabel import storage
from prelabel.core.labels import FrameRecord
from prelabel.errors import FormatError, InputNotFoundError
from prelabel.formats._common import parse_json_text


@dataclass
class LoadedSource:
    records: list[FrameRecord]
    lines: list[dict[str, Any] | None]  # the manifest line of each record (None for a labels file)
    format: str  # "labels" | "groundtruth"
    attribute: str | None  # the manifest's label attribute (None for a labels file)


def detect_format(uri: str) -> str:
    """``groundtruth`` when the first line has a ``source-ref``, ``labels`` when it is a frame record."""
    if not storage.exists(uri):
        raise InputNotFoundError(uri, what="labels file or manifest")
    with (
        storage.filesystem(uri).open(uri, "rb")
        if not storage.is_local(uri)
        else open(storage.local_path(uri), "rb") as fh
    ):
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            try:
                first = parse_json_text(line, f"{uri}:1")
            except FormatError as e:
                raise FormatError(f"{uri}:1", f"{e.reason}; expected a labels file or a manifest") from None
            if isinstance(first, dict) and "source-ref" in first:
                return "groundtruth"
            if isinstance(first, dict) and "frame" in first:
                return "labels"
            keys = ", ".join(sorted(first)[:6]) if isinstance(first, dict) else type(first).__name__
            raise FormatError(
                uri,
                f"line 1 has neither 'frame' (a labels file) nor 'source-ref' (a Ground Truth manifest); got {keys}",
            )
    raise FormatError(uri, "empty file; expected a labels file or a Ground Truth manifest")


def load_job_source(uri: str, *, attribute: str | None = None) -> LoadedSource:
    """Records (and, for a manifest, each record's line) from a labels file or a Ground Truth input manifest.

    ``attribute``: the manifest's label attribute when a line holds several (found by itself otherwise).
    """
    fmt = detect_format(uri)
    if fmt == "labels":
        from prelabel.labelfile import read_records

        records = read_records(uri)
        return LoadedSource(records=records, lines=[None] * len(records), format="labels", attribute=None)
    from prelabel.review.manifests import read_manifest

    records, lines, attr = read_manifest(uri, attribute=attribute)
    return LoadedSource(records=records, lines=list(lines), format="groundtruth", attribute=attr)
