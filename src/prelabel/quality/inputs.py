"""Load a label set (predictions or ground truth) from a path, whatever its format, as :class:`FrameRecord` s.

prelabel labels files (``*.jsonl``) are read directly. Other formats go through ``prelabel.formats.<name>.read``
when that module exists; Scalabel/BDD JSON and KITTI ``label_2`` folders also have a small built-in reader here
(boxes only) so that evaluation works on its own.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from prelabel.core.labels import Box2D, Frame, FrameRecord, Label, make_label_id
from prelabel.errors import FormatError, InputNotFoundError, UnknownNameError

FORMATS = ("labels", "scalabel", "bdd", "kitti", "coco", "groundtruth")


def detect_format(path: Path) -> str:
    """Guess a label set's format from its path and first bytes."""
    if path.is_dir():
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


def _bbox_or_none(x1: float, y1: float, x2: float, y2: float) -> Box2D | None:
    if x2 < x1 or y2 < y1:
        return None
    return Box2D(x1=x1, y1=y1, x2=x2, y2=y2)


def read_scalabel(path: Path) -> list[FrameRecord]:
    """Scalabel/BDD JSON (a list of frames, or ``{"frames": [...]}``): box2d labels with scores and attributes."""
    try:
        data: Any = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise FormatError(str(path), f"not readable as Scalabel JSON: {e}") from e
    frames = data.get("frames", []) if isinstance(data, dict) else data
    if not isinstance(frames, list):
        raise FormatError(str(path), f"expected a list of frames; got {type(frames).__name__}")
    out: list[FrameRecord] = []
    for i, fr in enumerate(frames):
        if not isinstance(fr, dict) or "name" not in fr:
            raise FormatError(str(path), f"frame {i} has no 'name'")
        name = str(fr["name"])
        size = fr.get("size") or {}
        frame = Frame(
            id=name,
            uri=str(fr.get("url") or name),
            width=size.get("width"),
            height=size.get("height"),
            meta={k: fr[k] for k in ("videoName", "frameIndex") if k in fr},
        )
        labels: list[Label] = []
        for j, lab in enumerate(fr.get("labels") or []):
            b = lab.get("box2d")
            if not b:
                continue
            box = _bbox_or_none(float(b["x1"]), float(b["y1"]), float(b["x2"]), float(b["y2"]))
            if box is None:
                raise FormatError(str(path), f"frame {name} label {lab.get('id', j)}: box2d has x2 < x1 or y2 < y1")
            score = lab.get("score")
            labels.append(
                Label(
                    id=make_label_id(name, j, lab.get("id", "")),
                    category=str(lab["category"]),
                    source="import:scalabel",
                    score=None if score is None else min(max(float(score), 0.0), 1.0),
                    box=box,
                    track_id=None if lab.get("id") is None else str(lab["id"]),
                    attributes=dict(lab.get("attributes") or {}),
                )
            )
        out.append(FrameRecord(frame=frame, labels=labels))
    return out


def read_kitti(path: Path) -> list[FrameRecord]:
    """KITTI object labels (``label_2/*.txt``; type trunc occ alpha left top right bottom ...) as 2D boxes."""
    folder = path / "label_2" if (path / "label_2").is_dir() else path
    images = folder.parent / "image_2"
    out: list[FrameRecord] = []
    for txt in sorted(folder.glob("*.txt")):
        labels: list[Label] = []
        for n, line in enumerate(txt.read_text("utf-8").splitlines()):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 8:
                raise FormatError(
                    f"{txt}:{n + 1}", f"expected at least 8 fields (type ... left top right bottom); got {len(parts)}"
                )
            x1, y1, x2, y2 = (float(v) for v in parts[4:8])
            box = _bbox_or_none(x1, y1, x2, y2)
            if box is None:
                raise FormatError(f"{txt}:{n + 1}", "box has right < left or bottom < top")
            score = float(parts[15]) if len(parts) > 15 else None
            labels.append(
                Label(
                    id=make_label_id(txt.stem, n),
                    category=parts[0],
                    source="import:kitti",
                    score=None if score is None else min(max(score, 0.0), 1.0),
                    box=box,
                    attributes={"truncated": float(parts[1]), "occluded": int(float(parts[2]))},
                )
            )
        img = images / f"{txt.stem}.png"
        out.append(FrameRecord(frame=Frame(id=txt.stem, uri=str(img)), labels=labels))
    if not out:
        raise FormatError(str(path), "no KITTI label files (*.txt) found")
    return out


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
    module_name = "scalabel" if fmt == "bdd" else fmt
    reader = None
    try:
        reader = getattr(importlib.import_module(f"prelabel.formats.{module_name}"), "read", None)
    except ImportError:
        reader = None
    if fmt in ("scalabel", "bdd"):
        return read_scalabel(path)  # the built-in reader keeps crowd attributes and scores exactly
    if fmt == "kitti" and reader is None:
        return read_kitti(path)
    if reader is None:
        raise UnknownNameError("label format with a reader", fmt, ["labels", "scalabel", "bdd", "kitti"])
    return list(reader(str(path)))
