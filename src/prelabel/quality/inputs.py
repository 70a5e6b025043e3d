"""Load a label set (predictions or ground truth) from a path, whatever its format, as :class:`FrameRecord` s.

prelabel labels files (``*.jsonl``) are read directly; other formats go through ``prelabel.formats.<name>.read``.
The format is guessed from the path when not given.
"""

from __future__ import annotations

from pathlib import Path

from prelabel.core.labels import FrameRecord
from prelabel.errors import InputNotFoundError, UnknownNameError

FORMATS = ("labels", "scalabel", "bdd", "kitti", "coco", "groundtruth", "mot", "cvat-video", "groundtruth-video")


def detect_format(path: Path) -> str:
    """Guess a label set's format among :data:`FORMATS`, by asking each format's ``sniff``."""
    from prelabel import formats

    return formats.sniff(str(path), among=FORMATS)


def read_kitti(path: str | Path) -> list[FrameRecord]:
    """KITTI ``label_2`` labels through ``prelabel.formats.kitti``."""
    from prelabel import formats

    return list(formats.read("kitti", str(path)))


def load_records(src: str | Path, fmt: str | None = None) -> list[FrameRecord]:
    """Read a label set as frame records. ``fmt``: one of :data:`FORMATS`, or None to guess from the path."""
    path = Path(src)
    if not path.exists():
        raise InputNotFoundError(str(path), what="label set")
    fmt = (fmt or detect_format(path)).lower()
    if fmt not in FORMATS:
        raise UnknownNameError("label format", fmt, FORMATS)
    if fmt == "labels":
        from prelabel.labelfile import read_records

        return read_records(path)
    from prelabel import formats

    try:
        module = formats.get(fmt)
    except ImportError as e:
        raise UnknownNameError("readable label format", fmt, [n for n in FORMATS if n != fmt]) from e
    return list(module.read(str(path)))
