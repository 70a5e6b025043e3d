"""YOLO txt labels (Darknet / Ultralytics), detect and segment, read and write.

One ``<frame>.txt`` per image, one object per line, coordinates normalised to the image size:
detect ``class cx cy w h [conf]``; segment ``class x1 y1 x2 y2 ... [conf]`` (a polygon). Class names come from
``classes.txt`` / ``obj.names`` (one per line) or ``data.yaml`` (``names``). The image size needed to
un-normalise comes from the image beside the labels (``images/`` mirrors ``labels/``), or ``image_size``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from prelabel import storage
from prelabel.core.labels import Box2D, Frame, FrameRecord, Label, Polygon
from prelabel.errors import FormatError, InputNotFoundError
from prelabel.formats import FormatSpec
from prelabel.formats._common import (
    WriteSummary,
    check_dst,
    clamp_score,
    find_image,
    import_source,
    label_id,
    local_dir,
    num,
    require_size,
    write_small_file,
)

FORMAT = "yolo"
_CLASS_FILES = ("classes.txt", "obj.names", "classes.names")


def _parse_yaml_names(path: Path) -> list[str] | None:
    """``names`` from a data.yaml: a list or an ``{id: name}`` mapping."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML comes with the project's dependencies
        return None
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names, key=int)]
    if isinstance(names, list):
        return [str(n) for n in names]
    return None


def load_classes(spec: str | Sequence[str] | None, search: Iterable[Path] = ()) -> list[str] | None:
    """Class names from a list, a names file, a data.yaml, or found in the ``search`` folders."""
    if spec is not None and not isinstance(spec, str):
        return [str(s) for s in spec]
    candidates: list[Path] = [Path(spec)] if spec else []
    if spec is None:
        for folder in search:
            candidates += [folder / n for n in (*_CLASS_FILES, "data.yaml", "dataset.yaml")]
    for p in candidates:
        if p.is_file():
            if p.suffix in (".yaml", ".yml"):
                names = _parse_yaml_names(p)
                if names is not None:
                    return names
                continue
            return [ln.strip() for ln in p.read_text("utf-8").splitlines() if ln.strip()]
    if spec:
        raise InputNotFoundError(str(spec), what="YOLO classes file")
    return None


def _roots(src: Path) -> tuple[Path, list[Path]]:
    """(labels folder, label files)."""
    if src.is_file():
        return src.parent, [src]
    labels = src / "labels" if (src / "labels").is_dir() else src
    files = sorted(p for p in labels.rglob("*.txt") if p.name not in _CLASS_FILES)
    return labels, files


def read(
    src: str,
    *,
    classes: str | Sequence[str] | None = None,
    image_dir: str | None = None,
    image_size: tuple[int, int] | None = None,
) -> Iterator[FrameRecord]:
    """Records from a YOLO labels folder (or a dataset folder holding ``labels/`` and ``images/``)."""
    path = storage.local_path(src)
    if not path.exists():
        raise InputNotFoundError(str(path), what="YOLO labels")
    labels_dir, files = _roots(path)
    if not files:
        raise FormatError(str(path), "no YOLO label files (*.txt) found")
    names = load_classes(classes, [labels_dir, labels_dir.parent])
    images_root = Path(image_dir) if image_dir else labels_dir.parent / "images"
    for txt in files:
        rel = txt.relative_to(labels_dir).with_suffix("")
        fid = rel.as_posix()
        img = find_image(images_root / rel.parent, rel.name) if images_root.is_dir() else None
        uri = str(img) if img is not None else str(images_root / rel.parent / f"{rel.name}.jpg")
        size = image_size or (_size_of(img) if img is not None else None)
        frame = Frame(id=fid, uri=uri, width=size[0] if size else None, height=size[1] if size else None)
        labels = [] if not txt.stat().st_size else _read_lines(txt, fid, names, size)
        yield FrameRecord(frame=frame, labels=labels)


def _size_of(img: Path) -> tuple[int, int] | None:
    return storage.image_size(img)


def _read_lines(txt: Path, fid: str, names: list[str] | None, size: tuple[int, int] | None) -> list[Label]:
    labels = []
    for n, line in enumerate(txt.read_text("utf-8").splitlines()):
        parts = line.split()
        if not parts:
            continue
        where = f"{txt}:{n + 1}"
        if size is None:
            raise FormatError(
                where,
                "YOLO coordinates are normalised; the image size is unknown (no image found "
                "beside the labels); pass image_dir or image_size=(width, height)",
            )
        w, h = size
        try:
            cls = int(parts[0])
            vals = [float(v) for v in parts[1:]]
        except ValueError as e:
            raise FormatError(where, f"expected 'class x y ...' numbers; {e}") from e
        if any(not math.isfinite(v) for v in vals):
            raise FormatError(where, "coordinates must be finite numbers")
        if names is not None and not 0 <= cls < len(names):
            raise FormatError(where, f"class {cls} is outside the {len(names)} class names")
        category = names[cls] if names is not None else str(cls)
        score = None
        box: Box2D | None
        polygon = None
        if len(vals) in (4, 5):
            cx, cy, bw, bh = vals[:4]
            score = vals[4] if len(vals) == 5 else None
            if not all(0.0 <= v <= 1.0 for v in (cx, cy, bw, bh)):
                raise FormatError(where, f"detect line values must be normalised to [0, 1]; got {vals[:4]}")
            box = Box2D(x1=(cx - bw / 2) * w, y1=(cy - bh / 2) * h, x2=(cx + bw / 2) * w, y2=(cy + bh / 2) * h)
        elif len(vals) >= 6:
            if len(vals) % 2:
                score, vals = vals[-1], vals[:-1]
            if not all(-1e-6 <= v <= 1.0 + 1e-6 for v in vals):
                raise FormatError(where, "segment polygon coordinates must be normalised to [0, 1]")
            ring = [v * (w if i % 2 == 0 else h) for i, v in enumerate(vals)]
            polygon = Polygon(rings=[ring])
            box = polygon.bounds()
        else:
            raise FormatError(
                where, f"expected 'class cx cy w h [conf]' or 'class x1 y1 x2 y2 x3 y3 ...'; got {len(parts)} fields"
            )
        labels.append(
            Label(
                id=label_id(FORMAT, fid, n),
                category=category,
                source=import_source(FORMAT),
                score=clamp_score(score),
                box=box,
                polygon=polygon,
            )
        )
    return labels


def _mask_ring(label: Label) -> list[float] | None:
    """The largest outer contour of a mask as a polygon ring (OpenCV imported only when a mask needs it)."""
    import cv2
    import numpy as np

    assert label.mask is not None
    arr = label.mask.to_array().astype(np.uint8)
    contours, _ = cv2.findContours(arr, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    c = max(contours, key=cv2.contourArea).reshape(-1, 2)
    if len(c) < 3:
        return None
    return [float(v) for xy in c for v in xy]


def write(
    records: Iterable[FrameRecord],
    dst: str,
    *,
    task: Literal["detect", "segment"] = "detect",
    classes: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
    scores: bool = False,
    overwrite: bool = False,
) -> WriteSummary:
    """One ``<frame id>.txt`` per frame under ``dst`` plus ``classes.txt``.

    ``classes`` (or ``categories``): class list (ids are positions; other categories are dropped and counted); every
    category seen, sorted (the records are read twice, so pass a list for a one-pass stream).
    ``task="segment"`` writes polygons (a mask's largest contour when a label has only a mask).
    ``scores`` appends each label's score (Ultralytics ``save_conf``).
    """
    if task not in ("detect", "segment"):
        raise FormatError("task", f"must be 'detect' or 'segment'; got {task!r}")
    out = storage.local_path(dst)
    recs: Iterable[FrameRecord] = records
    classes = classes if classes is not None else categories
    if classes is None:
        recs = list(records)
        classes = sorted({lb.category for r in recs for lb in r.labels})
    index = {c: i for i, c in enumerate(classes)}
    summary = WriteSummary(format=FORMAT, dst=str(out), categories=list(classes))
    check_dst(str(out / "classes.txt"), overwrite)
    out.mkdir(parents=True, exist_ok=True)
    for rec in summary.usable(recs):
        w, h = require_size(rec.frame.id, rec.frame.uri, rec.frame.width, rec.frame.height, "YOLO")
        lines = []
        for lb in rec.labels:
            if lb.category not in index:
                summary.drop(f"labels of categories outside the list ({lb.category})")
                continue
            fields: list[str]
            if task == "segment":
                ring = lb.polygon.rings[0] if lb.polygon is not None else None
                if lb.polygon is not None and len(lb.polygon.rings) > 1:
                    summary.drop("polygon rings after the first")
                if ring is None and lb.mask is not None:
                    ring = _mask_ring(lb)
                if ring is None and lb.box is not None:
                    b = lb.box
                    ring = [b.x1, b.y1, b.x2, b.y1, b.x2, b.y2, b.x1, b.y2]
                if ring is None:
                    summary.drop("labels without 2D geometry")
                    continue
                fields = [f"{num(v / (w if i % 2 == 0 else h), 8)}" for i, v in enumerate(ring)]
            else:
                xyxy = lb.box.xyxy if lb.box is not None else (lb.polygon.bounds().xyxy if lb.polygon else None)
                if xyxy is None:
                    summary.drop("labels without a 2D box")
                    continue
                x1, y1, x2, y2 = xyxy
                fields = [f"{num(v, 8)}" for v in ((x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h)]
            if scores:
                fields.append(f"{num(lb.score if lb.score is not None else 1.0, 6)}")
            lines.append(" ".join([str(index[lb.category]), *fields]))
        target = out / f"{rec.frame.id}.txt"
        check_dst(str(target), overwrite)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_small_file(target, "".join(ln + "\n" for ln in lines))
        summary.files.append(str(target))
        summary.frames += 1
        summary.labels += len(lines)
    storage.write_text(str(out / "classes.txt"), "".join(c + "\n" for c in classes))
    summary.files.append(str(out / "classes.txt"))
    return summary


def sniff(src: str) -> bool:
    """A folder holding a ``data.yaml`` or ``classes.txt`` beside its label files."""
    folder = local_dir(src)
    return folder is not None and ((folder / "data.yaml").is_file() or (folder / "classes.txt").is_file())


SPEC = FormatSpec(
    name="yolo",
    description="YOLO txt labels (detect: normalised cx cy w h; segment: polygons), one file per image",
    geometries=("box2d", "polygon", "score"),
    reader=read,
    writer=write,
    sniff=sniff,
)
