"""Load a label set (predictions or ground truth) from a path, whatever its format, as :class:`FrameRecord` s.

prelabel labels files (``*.jsonl``) are read directly; other formats go through ``prelabel.formats.<name>.read``.
The format is guessed from the path when not given.
"""

from __future__ import annotations

from pathlib import Path

from prelabel.core.labels import FrameRecord
from prelabel.errors import FormatError, InputNotFoundError, UnknownNameError

FORMATS = ("labels", "scalabel", "bdd", "kitti", "coco", "groundtruth")


def detect_format(path: Path) -> str:
    """Guess a label set's format from its path and first bytes."""
    if path.is_dir():
        if (path / "labels.jsonl").is_file():  # the folder `prelabel label --out DIR` wrote
            return "labels"
        if (path / "label_2").is_dir() or any(path.glob("*.txt")):
            return "kitti"
        raise FormatError(str(path), "a folder of labels must be KITTI (label_2/ or *.txt); pass --format")
    name = path.name.lower()
    if name.endswith(".jsonl"):
        return "labels"
    if name.endswith(".manifest"):
        return "groundtruth"
    if name.endswith(".json"):
        with open(path, "rb") as f:
            head = f.read(4096).lstrip()
        if head.startswith(b"["):
            return "scalabel"
        if b'"frames"' in head or b'"config"' in head:
            return "scalabel"
        return "coco"
    raise FormatError(str(path), f"cannot tell the label format from the name; pass --format (one of {FORMATS})")


def read_scalabel(path: str | Path) -> list[FrameRecord]:
    """Scalabel/BDD JSON through ``prelabel.formats.scalabel`` (crowd attributes and scores kept)."""
    from prelabel import formats

    return list(formats.read("scalabel", str(path)))


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
