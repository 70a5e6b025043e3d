"""CVAT for images 1.1 XML (``annotations.xml``), read and write.

``<image id name width height>`` holds ``<box label xtl ytl xbr ybr occluded z_order source>``,
``<polygon label points="x,y;x,y;...">`` and ``<mask label rle left top width height>`` shapes, each with
``<attribute name="...">value</attribute>`` children. Coordinates are absolute pixels, ``xtl..xbr`` pixel edges
(as prelabel's ``xyxy``). CVAT's mask RLE runs row-major inside the mask's own box, starting with a run of 0s.
``source="manual"`` shapes were drawn by a person (``human:cvat``); ``auto``/``semi-auto`` ones are imports.
A ``score`` attribute carries a model's score both ways. Other shapes (polylines, points, ellipses, cuboids,
skeletons) and image tags are skipped and counted in a warning.
"""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from prelabel import storage
from prelabel.core.labels import Box2D, Frame, FrameRecord, Label, Mask, Polygon, ReviewState
from prelabel.errors import FormatError, InputNotFoundError
from prelabel.formats import FormatSpec
from prelabel.formats._common import (
    WriteSummary,
    atomic_text_writer,
    check_dst,
    clamp_score,
    frame_id_from_name,
    head,
    import_source,
    label_id,
    num,
    primary_box,
)

FORMAT = "cvat"
_SHAPES = ("box", "polygon", "mask")


def _f(el: ET.Element, name: str, where: str) -> float:
    v = el.get(name)
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise FormatError(where, f"attribute {name!r} must be a number; got {v!r}") from e


def _points(text: str | None, where: str) -> list[float]:
    try:
        pts = [float(c) for pair in (text or "").split(";") if pair.strip() for c in pair.split(",")]
    except ValueError as e:
        raise FormatError(where, f"points must be 'x,y;x,y;...'; got {text!r}") from e
    if len(pts) % 2 or len(pts) < 6:
        raise FormatError(where, f"a polygon needs at least 3 x,y points; got {text!r}")
    return pts


def decode_mask(rle: str, left: int, top: int, width: int, height: int, frame_w: int, frame_h: int, where: str) -> Mask:
    try:
        counts = [int(c) for c in rle.replace(" ", "").split(",") if c != ""]
    except ValueError as e:
        raise FormatError(where, f"mask rle must be comma-separated integers; {e}") from e
    if sum(counts) != width * height:
        raise FormatError(where, f"mask rle covers {sum(counts)} pixels; the mask box is {width}x{height}")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    local = np.repeat(values, counts).reshape(height, width)
    full = np.zeros((frame_h, frame_w), dtype=bool)
    full[top : top + height, left : left + width] = local[: max(0, frame_h - top), : max(0, frame_w - left)]
    return Mask.from_array(full)


def encode_mask(mask: Mask) -> tuple[str, int, int, int, int] | None:
    arr = mask.to_array()
    ys, xs = np.nonzero(arr)
    if xs.size == 0:
        return None
    left, top, right, bottom = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
    local = arr[top : bottom + 1, left : right + 1].ravel()
    change = np.flatnonzero(local[1:] != local[:-1]) + 1
    runs = np.diff(np.concatenate(([0], change, [local.size]))).tolist()
    if local[0]:
        runs = [0, *runs]
    return ", ".join(str(int(r)) for r in runs), left, top, right - left + 1, bottom - top + 1


def read(src: str, *, image_dir: str | None = None, worker: str = "cvat") -> Iterator[FrameRecord]:
    """Records from a CVAT for images 1.1 ``annotations.xml``, one per ``<image>``, streamed."""
    path = storage.local_path(src)
    if not path.is_file():
        raise InputNotFoundError(str(path), what="CVAT annotations file")
    skipped: dict[str, int] = {}
    try:
        for _event, el in ET.iterparse(path, events=("end",)):
            if el.tag != "image":
                continue
            yield _image(el, str(path), image_dir, worker, skipped)
            el.clear()
    except ET.ParseError as e:
        raise FormatError(str(path), f"not valid XML: {e}") from e
    if skipped:
        warnings.warn(f"{path}: skipped shapes prelabel does not hold: {skipped}", stacklevel=2)


def _image(el: ET.Element, src: str, image_dir: str | None, worker: str, skipped: dict[str, int]) -> FrameRecord:
    name = el.get("name")
    if not name:
        raise FormatError(src, f"<image id={el.get('id')!r}> has no name")
    where = f"{src}: image {name}"
    w, h = int(_f(el, "width", where)), int(_f(el, "height", where))
    fid = frame_id_from_name(name)
    uri = str(Path(image_dir) / name) if image_dir else name
    labels: list[Label] = []
    for i, shape in enumerate(el):
        if shape.tag not in _SHAPES:
            skipped[shape.tag] = skipped.get(shape.tag, 0) + 1
            continue
        swhere = f"{where} {shape.tag} {i + 1}"
        category = shape.get("label")
        if not category:
            raise FormatError(swhere, "a shape needs a label")
        attrs: dict[str, Any] = {a.get("name", ""): (a.text or "") for a in shape.findall("attribute")}
        score = attrs.pop("score", None)
        for k in ("occluded", "z_order"):
            if shape.get(k) is not None:
                attrs[k] = int(shape.get(k, "0"))
        if shape.get("group_id"):
            attrs["group_id"] = shape.get("group_id")
        box = polygon = mask = None
        if shape.tag == "box":
            x1, y1, x2, y2 = (_f(shape, k, swhere) for k in ("xtl", "ytl", "xbr", "ybr"))
            if x2 < x1 or y2 < y1:
                raise FormatError(swhere, f"box needs xtl <= xbr and ytl <= ybr; got {x1} {y1} {x2} {y2}")
            box = Box2D(x1=x1, y1=y1, x2=x2, y2=y2)
        elif shape.tag == "polygon":
            polygon = Polygon(rings=[_points(shape.get("points"), swhere)])
        else:
            left, top, mw, mh = (int(_f(shape, k, swhere)) for k in ("left", "top", "width", "height"))
            mask = decode_mask(shape.get("rle", ""), left, top, mw, mh, w, h, swhere)
        human = shape.get("source", "manual") == "manual" and score is None
        labels.append(
            Label(
                id=label_id(FORMAT, fid, i),
                category=category,
                source=f"human:{worker}" if human else import_source(FORMAT),
                score=clamp_score(float(score)) if score not in (None, "") else None,
                review=ReviewState.ACCEPTED if human else ReviewState.PENDING,
                box=box,
                polygon=polygon,
                mask=mask,
                attributes=attrs,
            )
        )
    return FrameRecord(frame=Frame(id=fid, uri=uri, width=w, height=h, meta={"cvat_id": el.get("id")}), labels=labels)


def write(
    records: Iterable[FrameRecord],
    dst: str,
    *,
    task_name: str = "prelabel",
    overwrite: bool = False,
) -> WriteSummary:
    """Write ``annotations.xml`` (CVAT for images 1.1). Boxes, polygons and masks; the label list in ``<meta>``."""
    check_dst(dst, overwrite)
    summary = WriteSummary(format=FORMAT, dst=dst, files=[dst])
    recs = list(records)
    names = sorted({lb.category for r in recs for lb in r.labels})
    summary.categories = names
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    meta = ET.SubElement(ET.SubElement(root, "meta"), "task")
    ET.SubElement(meta, "name").text = task_name
    ET.SubElement(meta, "size").text = str(len(recs))
    ET.SubElement(meta, "mode").text = "annotation"
    labels_el = ET.SubElement(meta, "labels")
    for n in names:
        lab = ET.SubElement(labels_el, "label")
        ET.SubElement(lab, "name").text = n
        ET.SubElement(lab, "attributes")
    for idx, rec in enumerate(recs):
        if rec.status == "failed":
            summary.drop("failed frames")
            continue
        f = rec.frame
        name = str(f.meta.get("cvat_name") or (Path(f.uri).name if Path(f.uri).stem == Path(f.id).name else f.id))
        img = ET.SubElement(root, "image", id=str(idx), name=name, width=str(f.width or 0), height=str(f.height or 0))
        for lb in rec.labels:
            common = {
                "label": lb.category,
                "source": "manual" if lb.source.startswith("human:") else "auto",
                "occluded": str(int(lb.attributes.get("occluded", 0) or 0)),
                "z_order": str(int(lb.attributes.get("z_order", 0) or 0)),
            }
            shapes: list[ET.Element] = []
            if lb.mask is not None:
                enc = encode_mask(lb.mask)
                if enc is not None:
                    rle, left, top, mw, mh = enc
                    shapes.append(
                        ET.SubElement(
                            img,
                            "mask",
                            {
                                **common,
                                "rle": rle,
                                "left": str(left),
                                "top": str(top),
                                "width": str(mw),
                                "height": str(mh),
                            },
                        )
                    )
            elif lb.polygon is not None:
                for ring in lb.polygon.rings:
                    pts = ";".join(f"{num(ring[k], 6)},{num(ring[k + 1], 6)}" for k in range(0, len(ring), 2))
                    shapes.append(ET.SubElement(img, "polygon", {**common, "points": pts}))
            else:
                xyxy = primary_box(lb)
                if xyxy is None:
                    summary.drop("labels without 2D geometry")
                    continue
                x1, y1, x2, y2 = xyxy
                shapes.append(
                    ET.SubElement(
                        img,
                        "box",
                        {
                            **common,
                            "xtl": f"{num(x1, 6)}",
                            "ytl": f"{num(y1, 6)}",
                            "xbr": f"{num(x2, 6)}",
                            "ybr": f"{num(y2, 6)}",
                        },
                    )
                )
            if lb.box3d is not None:
                summary.drop("3D boxes")
            for shape in shapes:
                for k, v in lb.attributes.items():
                    if k in ("occluded", "z_order"):
                        continue
                    ET.SubElement(shape, "attribute", name=str(k)).text = str(v)
                if lb.score is not None:
                    ET.SubElement(shape, "attribute", name="score").text = repr(lb.score)
            summary.labels += 1 if shapes else 0
        summary.frames += 1
    ET.indent(root)
    with atomic_text_writer(dst) as fh:
        fh.write('<?xml version="1.0" encoding="utf-8"?>\n')
        fh.write(ET.tostring(root, encoding="unicode") + "\n")
    return summary


def sniff(src: str) -> bool:
    """A ``.xml`` file whose root is ``<annotations>``."""
    return src.lower().endswith(".xml") and b"<annotations" in head(src)


SPEC = FormatSpec(
    name="cvat",
    description="CVAT for images 1.1 XML",
    geometries=("box2d", "polygon", "score"),
    reader=read,
    writer=write,
    sniff=sniff,
)
