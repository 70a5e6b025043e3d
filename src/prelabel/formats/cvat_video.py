"""CVAT for video 1.1 XML: tracks of boxes across frames, read and write.

``<track id label source>`` holds ``<box frame outside occluded keyframe xtl ytl xbr ybr z_order>`` shapes with
``<attribute name>`` children. A box with ``outside="1"`` says the object has left the picture from that frame on
(no label); ``keyframe="0"`` boxes were interpolated by CVAT and come in with ``attributes.interpolated``. The task
(``<meta><task><name>``, ``<size>``) names the sequence and its frame count; frame ids are
``<sequence>/<frame:06d>``. Writing: each track's boxes are keyframes unless ``attributes.interpolated``; where a
track is not seen on the next frame (a gap or its end before the last frame), an ``outside="1"`` keyframe closes
it. Scores travel as a ``score`` attribute. Tracks' ``source="manual"`` means drawn by a person (``human:cvat``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from prelabel import storage
from prelabel.core.labels import Box2D, Frame, FrameRecord, Label
from prelabel.core.sequences import check_track_ids, place
from prelabel.errors import FormatError, InputNotFoundError
from prelabel.formats import FormatSpec
from prelabel.formats._common import (
    WriteSummary,
    atomic_text_writer,
    clamp_score,
    import_source,
    label_id,
    num,
    sequence_targets,
)

FORMAT = "cvat-video"
_RESERVED = {"interpolated", "keyframe", "occluded", "z_order", "score", "outside"}


def _float(el: ET.Element, name: str, where: str) -> float:
    try:
        return float(el.attrib[name])
    except (KeyError, ValueError) as e:
        raise FormatError(where, f"<box> needs a numeric {name!r}; got {el.attrib.get(name)!r}") from e


def read(src: str, *, worker: str = "cvat") -> Iterator[FrameRecord]:
    """Records, one per frame of the task (frames without boxes included when the task gives its size)."""
    if not storage.is_local(src):
        raise FormatError(src, "CVAT XML is read from local disk; copy it down first")
    path = storage.local_path(src)
    if not path.is_file():
        raise InputNotFoundError(str(path), what="CVAT for video XML")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise FormatError(str(path), f"not valid XML: {e}") from e
    task = root.find("meta/task")
    seq = (task.findtext("name") if task is not None else None) or path.stem
    size_text = task.findtext("size") if task is not None else None
    width = root.findtext("meta/task/original_size/width")
    height = root.findtext("meta/task/original_size/height")
    by_frame: dict[int, list[Label]] = defaultdict(list)
    for tr in root.iter("track"):
        tid = tr.attrib.get("id")
        cat = tr.attrib.get("label")
        if tid is None or not cat:
            raise FormatError(str(path), f"a <track> needs an id and a label; got {tr.attrib}")
        manual = tr.attrib.get("source", "manual") == "manual"
        for box in tr.iter("box"):
            where = f"{path}: track {tid}"
            if box.attrib.get("outside", "0") == "1":
                continue
            frame_no = int(_float(box, "frame", where))
            attrs: dict[str, Any] = {a.attrib.get("name", ""): a.text or "" for a in box.iter("attribute")}
            score = clamp_score(attrs.pop("score")) if "score" in attrs else None
            if box.attrib.get("keyframe", "1") == "0":
                attrs["interpolated"] = True
            if box.attrib.get("occluded", "0") == "1":
                attrs["occluded"] = True
            fid = f"{seq}/{frame_no:06d}"
            labels = by_frame[frame_no]
            labels.append(
                Label(
                    id=label_id(FORMAT, fid, len(labels), tid),
                    category=cat,
                    source=f"human:{worker}" if manual and score is None else import_source("cvat"),
                    score=score,
                    box=Box2D(
                        x1=_float(box, "xtl", where),
                        y1=_float(box, "ytl", where),
                        x2=_float(box, "xbr", where),
                        y2=_float(box, "ybr", where),
                    ),
                    track_id=tid,
                    attributes=attrs,
                )
            )
    frames = range(int(size_text)) if size_text and size_text.isdigit() else sorted(by_frame)
    recs = []
    for frame_no in frames:
        fid = f"{seq}/{frame_no:06d}"
        frame = Frame(
            id=fid,
            uri=fid,
            sequence=seq,
            index=frame_no,
            width=int(width) if width and width.isdigit() else None,
            height=int(height) if height and height.isdigit() else None,
        )
        recs.append(FrameRecord(frame=frame, labels=by_frame.get(frame_no, [])))
    check_track_ids(recs, str(path))
    yield from recs


def _box_el(parent: ET.Element, frame_no: int, lab: Label | None, prev: Label | None) -> None:
    src = lab or prev
    assert src is not None and src.box is not None
    x1, y1, x2, y2 = src.box.xyxy
    el = ET.SubElement(
        parent,
        "box",
        frame=str(frame_no),
        outside="0" if lab is not None else "1",
        occluded="1" if src.attributes.get("occluded") is True else "0",
        keyframe="0" if lab is not None and lab.attributes.get("interpolated") else "1",
        xtl=f"{num(x1, 2)}",
        ytl=f"{num(y1, 2)}",
        xbr=f"{num(x2, 2)}",
        ybr=f"{num(y2, 2)}",
        z_order="0",
    )
    if lab is not None:
        if lab.score is not None:
            ET.SubElement(el, "attribute", name="score").text = f"{num(lab.score, 6)}"
        for k, v in lab.attributes.items():
            if k not in _RESERVED and isinstance(v, str | int | float | bool):
                ET.SubElement(el, "attribute", name=k).text = str(v)


def write(records: Iterable[FrameRecord], dst: str, *, overwrite: bool = False) -> WriteSummary:
    """Write one sequence as CVAT for video 1.1 XML (several sequences: one ``<sequence>.xml`` each in a folder)."""
    summary = WriteSummary(format=FORMAT, dst=dst)
    for seq, frames, target in sequence_targets(summary, records, dst, ".xml", overwrite=overwrite):
        root = ET.Element("annotations")
        ET.SubElement(root, "version").text = "1.1"
        task = ET.SubElement(ET.SubElement(root, "meta"), "task")
        ET.SubElement(task, "name").text = seq
        last = max(place(r.frame)[1] or 0 for r in frames)
        ET.SubElement(task, "size").text = str(last + 1)
        ET.SubElement(task, "mode").text = "interpolation"
        f0 = frames[0].frame
        if f0.width and f0.height:
            size = ET.SubElement(task, "original_size")
            ET.SubElement(size, "width").text = str(f0.width)
            ET.SubElement(size, "height").text = str(f0.height)
        tracks: dict[str, dict[int, Label]] = defaultdict(dict)
        cats: set[str] = set()
        for rec in frames:
            frame_no = place(rec.frame)[1] or 0
            for lab in summary.boxed(rec.labels):
                if lab.track_id is None:
                    summary.drop("labels without a track id")
                    continue
                tracks[lab.track_id][frame_no] = lab
                cats.add(lab.category)
            summary.frames += 1
        labels_el = ET.SubElement(task, "labels")
        for c in sorted(cats):
            ET.SubElement(ET.SubElement(labels_el, "label"), "name").text = c
        for tid, boxes in tracks.items():
            first = boxes[min(boxes)]
            cat = first.category
            if any(b.category != cat for b in boxes.values()):
                summary.drop("class changes inside a track (CVAT tracks have one label; the first kept)")
            human = all(b.source.startswith("human:") for b in boxes.values())
            tr = ET.SubElement(root, "track", id=tid, label=cat, source="manual" if human else "auto")
            prev: Label | None = None
            for frame_no in range(min(boxes), max(boxes) + 2):
                here = boxes.get(frame_no)
                if here is not None:
                    _box_el(tr, frame_no, here, None)
                    summary.labels += 1
                elif prev is not None and frame_no <= last:
                    _box_el(tr, frame_no, None, prev)  # the object is outside from here
                prev = here
        ET.indent(root)
        with atomic_text_writer(target) as fh:
            fh.write('<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n")
        summary.files.append(target)
    return summary


SPEC = FormatSpec(
    name=FORMAT,
    description="CVAT for video 1.1 XML (tracks with keyframes and outside)",
    geometries=("box2d", "track"),
    reader=read,
    writer=write,
)
