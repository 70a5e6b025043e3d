"""MOTChallenge text (``gt/gt.txt``, ``det/det.txt``, tracker results), read and write.

One box per line, comma separated: ``frame, id, left, top, width, height, conf, class, visibility`` (ground truth,
MOT17/20) or ``frame, id, left, top, width, height, conf, x, y, z`` (detections and results; x y z are -1).
Pixels, ``left top`` the top-left corner, so ``xyxy = left, top, left + width, top + height``. Frame numbers are
kept as written (MOTChallenge counts from 1) as ``Frame.index``; frame ids are ``<sequence>/<frame:06d>``, the
sequence named by the file (``MOT17-02/gt/gt.txt`` -> ``MOT17-02``). In ground truth, ``conf`` 0 marks a box not
to be scored (``attributes.ignored``); in results it is the score. ``id`` -1 (plain detections) means no track.
Classes follow MOT17's numbering (1 pedestrian ... 13 crowd); others are written as -1 and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
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

FORMAT = "mot"
CLASSES = {
    1: "pedestrian",
    2: "person_on_vehicle",
    3: "car",
    4: "bicycle",
    5: "motorbike",
    6: "non_motorized_vehicle",
    7: "static_person",
    8: "distractor",
    9: "occluder",
    10: "occluder_on_ground",
    11: "occluder_full",
    12: "reflection",
    13: "crowd",
}
IDS = {v: k for k, v in CLASSES.items()}


def _sequence_name(txt: Path) -> str:
    if txt.stem in ("gt", "det") and txt.parent.name in ("gt", "det"):
        return txt.parent.parent.name or txt.stem
    return txt.stem


def _files(src: str) -> list[Path]:
    if not storage.is_local(src):
        raise FormatError(src, "MOTChallenge files are read from local disk; copy them down first")
    p = storage.local_path(src)
    if not p.exists():
        raise InputNotFoundError(str(p), what="MOTChallenge labels")
    if p.is_file():
        return [p]
    files = sorted(p.glob("*.txt")) or sorted(p.glob("*/gt/gt.txt"))
    if not files:
        raise FormatError(str(p), "no MOTChallenge files (*.txt or <seq>/gt/gt.txt) in this folder")
    return files


def _read_file(txt: Path, category: str) -> Iterator[FrameRecord]:
    seq = _sequence_name(txt)
    by_frame: dict[int, list[Label]] = {}
    for n, line in enumerate(txt.read_text("utf-8").splitlines()):
        if not line.strip():
            continue
        where = f"{txt}:{n + 1}"
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 7:
            raise FormatError(where, f"expected frame,id,left,top,width,height,conf[,...]; got {len(parts)} fields")
        try:
            frame_no, tid = int(float(parts[0])), int(float(parts[1]))
            left, top, w, h, conf = (float(v) for v in parts[2:7])
        except ValueError as e:
            raise FormatError(where, f"fields must be numbers; got {line!r}") from e
        if w < 0 or h < 0:
            raise FormatError(where, f"width and height must be >= 0; got {w} x {h}")
        gt_style = len(parts) == 9
        attrs: dict[str, Any] = {}
        cat, score = category, clamp_score(conf)
        if gt_style:
            cls = int(float(parts[7]))
            cat = CLASSES.get(cls, f"class_{cls}") if cls > 0 else category
            attrs["visibility"] = float(parts[8])
            score = None
            if conf == 0:
                attrs["ignored"] = True
        fid = f"{seq}/{frame_no:06d}"
        labels = by_frame.setdefault(frame_no, [])
        labels.append(
            Label(
                id=label_id(FORMAT, fid, len(labels), tid),
                category=cat,
                source=import_source(FORMAT),
                score=score,
                box=Box2D(x1=left, y1=top, x2=left + w, y2=top + h),
                track_id=str(tid) if tid >= 0 else None,
                attributes=attrs,
            )
        )
    for frame_no in sorted(by_frame):
        fid = f"{seq}/{frame_no:06d}"
        frame = Frame(id=fid, uri=f"{seq}/img1/{frame_no:06d}.jpg", sequence=seq, index=frame_no)
        yield FrameRecord(frame=frame, labels=by_frame[frame_no])


def read(src: str, *, category: str = "pedestrian") -> Iterator[FrameRecord]:
    """Records from a MOTChallenge text file or a folder of them (``<seq>.txt`` or ``<seq>/gt/gt.txt``).

    ``category``: the class of boxes whose line carries none (detections, results). One id twice in a frame is an
    error naming the id and the frame.
    """
    for txt in _files(src):
        recs = list(_read_file(txt, category))
        check_track_ids(recs, str(txt))
        yield from recs


def _line(frame_no: int, lab: Label, gt_style: bool, summary: WriteSummary, renumber: dict[str, int]) -> str:
    assert lab.box is not None
    x1, y1, x2, y2 = lab.box.xyxy
    tid = lab.track_id if lab.track_id is not None else "-1"
    if not tid.lstrip("-").isdigit():
        if tid not in renumber:
            renumber[tid] = len(renumber) + 1
            summary.drop("track ids that are not whole numbers (numbered in order from 1)")
        tid = str(renumber[tid])
    head = f"{frame_no},{tid},{num(x1, 3)},{num(y1, 3)},{num(x2 - x1, 3)},{num(y2 - y1, 3)}"
    if gt_style:
        cls = IDS.get(lab.category, -1)
        if cls == -1:
            summary.drop(f"class {lab.category!r} (not a MOT17 class; written as -1)")
        conf = 0 if lab.attributes.get("ignored") else 1
        return f"{head},{conf},{cls},{num(float(lab.attributes.get('visibility', 1.0)), 6)}"
    return f"{head},{num(lab.score if lab.score is not None else 1.0, 6)},-1,-1,-1"


def write(
    records: Iterable[FrameRecord], dst: str, *, overwrite: bool = False, results: bool | None = None
) -> WriteSummary:
    """Write MOTChallenge text: ``dst`` ending in ``.txt`` takes one sequence; otherwise ``dst`` is a folder with
    one ``<sequence>.txt`` per sequence. ``results``: score columns (tracker output) instead of ground-truth
    columns; default: when any label has a score."""
    summary = WriteSummary(format=FORMAT, dst=dst)
    recs = list(records)
    as_results = (
        results
        if results is not None
        else any(lab.score is not None for r in recs for lab in r.labels if r.status != "failed")
    )
    for _seq, frames, target in sequence_targets(summary, recs, dst, ".txt", overwrite=overwrite):
        renumber: dict[str, int] = {}
        with atomic_text_writer(target) as fh:
            for rec in frames:
                frame_no = place(rec.frame)[1] or 0
                for lab in summary.boxed(rec.labels):
                    fh.write(_line(frame_no, lab, not as_results, summary, renumber) + "\n")
                    summary.labels += 1
                summary.frames += 1
        summary.files.append(target)
    return summary


SPEC = FormatSpec(
    name=FORMAT,
    description="MOTChallenge text (tracks: frame, id, box, score)",
    geometries=("box2d", "track", "score"),
    reader=read,
    writer=write,
)
