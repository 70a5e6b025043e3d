"""Pascal VOC XML annotations, one ``<frame>.xml`` per image, read and write.

``<object>``: ``name``, ``pose``, ``truncated``, ``difficult``, ``occluded``, ``bndbox`` ``xmin ymin xmax ymax``.
VOC counts pixels from 1 and includes ``xmax``: the box covers pixels xmin..xmax. In prelabel's pixel-edge
``xyxy`` that is ``x1 = xmin - 1, x2 = xmax`` (as the VOC devkit and Detectron read it); the writer does the
reverse. A ``<score>`` element is written and read when a label has one (VOC tools ignore it).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prelabel import storage
from prelabel.core.labels import Box2D, Frame, FrameRecord, Label
from prelabel.errors import FormatError, InputNotFoundError
from prelabel.formats import FormatSpec
from prelabel.formats._common import (
    WriteSummary,
    check_dst,
    clamp_score,
    find_image,
    head,
    import_source,
    label_id,
    local_dir,
    num,
    primary_box,
    write_small_file,
)

FORMAT = "voc"


def _text(el: ET.Element | None, tag: str, default: str | None = None) -> str | None:
    if el is None:
        return default
    child = el.find(tag)
    return child.text.strip() if child is not None and child.text is not None else default


def _float(el: ET.Element, tag: str, where: str) -> float:
    v = _text(el, tag)
    if v is None:
        raise FormatError(where, f"<bndbox> needs <{tag}>")
    try:
        return float(v)
    except ValueError as e:
        raise FormatError(where, f"<{tag}> must be a number; got {v!r}") from e


def read_file(xml: Path, image_dir: Path | None, base: Path | None = None) -> FrameRecord:
    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as e:
        raise FormatError(str(xml), f"not valid XML: {e}") from e
    if root.tag != "annotation":
        raise FormatError(str(xml), f"expected an <annotation> root element; got <{root.tag}>")
    filename = _text(root, "filename") or f"{xml.stem}.jpg"
    fid = xml.relative_to(base).with_suffix("").as_posix() if base is not None else xml.stem
    size = root.find("size")
    width = int(float(_text(size, "width", "0") or 0)) or None
    height = int(float(_text(size, "height", "0") or 0)) or None
    folder = image_dir or (xml.parent.parent / "JPEGImages")
    img = find_image(folder, Path(filename).stem) if folder.is_dir() else None
    uri = str(img) if img is not None else (_text(root, "path") or str(folder / filename))
    labels = []
    for i, obj in enumerate(root.findall("object")):
        where = f"{xml}: object {i + 1}"
        name = _text(obj, "name")
        if not name:
            raise FormatError(where, "an <object> needs a <name>")
        bb = obj.find("bndbox")
        if bb is None:
            raise FormatError(where, "an <object> needs a <bndbox>")
        xmin, ymin, xmax, ymax = (_float(bb, t, where) for t in ("xmin", "ymin", "xmax", "ymax"))
        if xmax < xmin - 1 or ymax < ymin - 1:
            raise FormatError(where, f"<bndbox> needs xmin <= xmax and ymin <= ymax; got {xmin} {ymin} {xmax} {ymax}")
        attrs: dict[str, Any] = {}
        for tag in ("pose", "truncated", "difficult", "occluded"):
            v = _text(obj, tag)
            if v is not None:
                attrs[tag] = int(v) if v.lstrip("-").isdigit() else v
        score = _text(obj, "score")
        labels.append(
            Label(
                id=label_id(FORMAT, fid, i),
                category=name,
                source=import_source(FORMAT),
                score=clamp_score(float(score)) if score is not None else None,
                box=Box2D(x1=xmin - 1, y1=ymin - 1, x2=max(xmax, xmin - 1), y2=max(ymax, ymin - 1)),
                attributes=attrs,
            )
        )
    return FrameRecord(
        frame=Frame(id=fid, uri=uri, width=width, height=height, meta={"filename": filename}), labels=labels
    )


def read(src: str, *, image_dir: str | None = None) -> Iterator[FrameRecord]:
    """Records from a folder of VOC XML files (or a VOC root with ``Annotations/``), or one XML file."""
    path = storage.local_path(src)
    if not path.exists():
        raise InputNotFoundError(str(path), what="VOC annotations")
    folder = Path(image_dir) if image_dir else None
    if path.is_file():
        yield read_file(path, folder)
        return
    ann = path / "Annotations" if (path / "Annotations").is_dir() else path
    files = sorted(ann.rglob("*.xml"))
    if not files:
        raise FormatError(str(path), "no VOC annotation files (*.xml) found")
    for xml in files:
        yield read_file(xml, folder, ann)


def _sub(parent: ET.Element, tag: str, text: object) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = str(text)
    return el


def to_xml(rec: FrameRecord, summary: WriteSummary) -> str:
    f = rec.frame
    root = ET.Element("annotation")
    filename = f.meta.get("filename") or Path(f.uri).name
    _sub(root, "folder", Path(f.uri).parent.name)
    _sub(root, "filename", filename)
    _sub(root, "path", f.uri)
    src = ET.SubElement(root, "source")
    _sub(src, "database", "prelabel")
    size = ET.SubElement(root, "size")
    _sub(size, "width", f.width or 0)
    _sub(size, "height", f.height or 0)
    _sub(size, "depth", 3)
    _sub(root, "segmented", 0)
    for lb in rec.labels:
        xyxy = primary_box(lb)
        if xyxy is None:
            summary.drop("labels without a 2D box")
            continue
        if lb.mask is not None or lb.polygon is not None:
            summary.drop("masks and polygons (VOC keeps the box)")
        obj = ET.SubElement(root, "object")
        _sub(obj, "name", lb.category)
        a = lb.attributes
        _sub(obj, "pose", a.get("pose", "Unspecified"))
        trunc = a.get("truncated", 0)
        _sub(obj, "truncated", int(float(trunc) > 0) if isinstance(trunc, int | float) else trunc)
        _sub(obj, "difficult", int(a.get("difficult", 0)))
        if "occluded" in a:
            _sub(obj, "occluded", a["occluded"])
        if lb.score is not None:
            _sub(obj, "score", lb.score)
        bb = ET.SubElement(obj, "bndbox")
        x1, y1, x2, y2 = xyxy
        for tag, v in (("xmin", x1 + 1), ("ymin", y1 + 1), ("xmax", x2), ("ymax", y2)):
            _sub(bb, tag, num(v, 6))
        summary.labels += 1
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def write(records: Iterable[FrameRecord], dst: str, *, overwrite: bool = False) -> WriteSummary:
    """One ``<frame id>.xml`` per frame under ``dst``."""
    out = storage.local_path(dst)
    summary = WriteSummary(format=FORMAT, dst=str(out))
    for rec in summary.usable(records):
        target = out / f"{rec.frame.id}.xml"
        check_dst(str(target), overwrite)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_small_file(target, to_xml(rec, summary))
        summary.files.append(str(target))
        summary.frames += 1
    return summary


def sniff(src: str) -> bool:
    """A Pascal VOC ``.xml`` file (root ``<annotation>``), or a folder of them (or holding ``Annotations/``)."""
    folder = local_dir(src)
    if folder is not None:
        return (folder / "Annotations").is_dir() or any(folder.glob("*.xml"))
    return src.lower().endswith(".xml") and b"<annotation>" in head(src)


SPEC = FormatSpec(
    name="voc",
    description="Pascal VOC XML, one file per image",
    geometries=("box2d",),
    reader=read,
    writer=write,
    sniff=sniff,
)
