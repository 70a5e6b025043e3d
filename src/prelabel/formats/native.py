"""prelabel's own labels files (``*.jsonl``, one FrameRecord per line): the lossless format. See docs/schema.md."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prelabel.core.labels import FrameRecord
from prelabel.formats import FormatSpec
from prelabel.formats._common import WriteSummary, atomic_text_writer, check_dst, first_json_line, local_dir
from prelabel.labelfile import iter_records

FORMAT = "labels"


def read(src: str, *, strict: bool = True) -> Iterator[FrameRecord]:
    """Stream records from a labels file (a torn final line is skipped with a warning)."""
    return iter_records(src, strict=strict)


def write(records: Iterable[FrameRecord], dst: str, *, overwrite: bool = False) -> WriteSummary:
    """Write every record (failed ones included, they carry their error) as one JSON line, atomically."""
    check_dst(dst, overwrite)
    summary = WriteSummary(format=FORMAT, dst=dst, files=[dst])
    with atomic_text_writer(dst) as fh:
        for rec in records:
            fh.write(rec.to_json() + "\n")
            summary.frames += 1
            summary.labels += len(rec.labels)
    return summary


def sniff(src: str) -> bool:
    """JSON lines whose first record has a ``frame``; a ``*.jsonl`` whose first line is not a JSON object; the
    folder ``prelabel label --out DIR`` wrote (it holds ``labels.jsonl``)."""
    folder = local_dir(src)
    if folder is not None:
        return (folder / "labels.jsonl").is_file()
    first = first_json_line(src)
    if isinstance(first, dict):
        return "frame" in first and "source-ref" not in first
    return src.lower().endswith(".jsonl")


SPEC = FormatSpec(
    name="labels",
    description="prelabel's own labels files (*.jsonl, one frame record per line): lossless",
    geometries=("box2d", "mask", "polygon", "box3d", "track", "score"),
    reader=read,
    writer=write,
    sniff=sniff,
)
