"""SageMaker Ground Truth video-frame object tracking: manifests of sequence files, read and write.

Manifest: one JSON line per sequence, ``{"source-ref": <sequence file>}``, after a job also
``"<attr>-ref": <labels file>`` and ``"<attr>-ref-metadata": {"class-map": {"0": "car"}, "type":
"groundtruth/video-object-tracking", "human-annotated": "yes", ...}``. Sequence file: ``{"seq-no", "prefix",
"number-of-frames", "frames": [{"frame-no", "unix-timestamp", "frame"}]}``. Labels file: ``{"tracking-annotations":
[{"frame-no", "frame", "annotations": [{"left", "top", "width", "height", "class-id", "object-id", "object-name",
"label-category-attributes"}], "frame-attributes"}]}``. ``object-id`` is the track id. Paths in a manifest that are
not absolute or URIs are relative to the manifest's folder (that is how this writer writes them).
Frame ids are ``<sequence>/<frame stem>``; the sequence is named by its file (``seq1.json`` -> ``seq1``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath
from typing import Any

from prelabel import storage
from prelabel.core.labels import Box2D, Frame, FrameRecord, Label
from prelabel.core.sequences import check_track_ids, group_sequences, place
from prelabel.errors import FormatError
from prelabel.formats import FormatSpec
from prelabel.formats._common import (
    WriteSummary,
    atomic_text_writer,
    check_dst,
    clamp_score,
    import_source,
    iter_json_lines,
    label_id,
    load_json,
    num,
)

FORMAT = "groundtruth-video"
TYPE = "groundtruth/video-object-tracking"


def _resolve(ref: str, base: str) -> str:
    if "://" in ref or ref.startswith("/"):
        return ref
    return storage.join(base, ref)


def _label_attr(line: dict[str, Any]) -> str | None:
    for k in line:
        if k.endswith("-ref") and k != "source-ref" and not k.endswith("-metadata"):
            return k[: -len("-ref")]
    return None


def read(src: str, *, label_attribute: str | None = None) -> Iterator[FrameRecord]:
    """Records from a video object-tracking manifest (every frame of every sequence, labelled or not)."""
    base = storage.parent(src)
    for where, line in iter_json_lines(src):
        if "source-ref" not in line:
            raise FormatError(where, "expected a JSON object with a 'source-ref' to a sequence file")
        seq_ref = _resolve(str(line["source-ref"]), base)
        seq_doc = load_json(seq_ref)
        if not isinstance(seq_doc, dict) or not isinstance(seq_doc.get("frames"), list):
            raise FormatError(seq_ref, "a sequence file needs a 'frames' list of {frame-no, frame}")
        seq = PurePosixPath(seq_ref).stem
        prefix = str(seq_doc.get("prefix") or "")
        attr = label_attribute or _label_attr(line)
        labels_by_frame: dict[int, list[Label]] = {}
        if attr is not None and f"{attr}-ref" in line:
            meta = line.get(f"{attr}-ref-metadata") or {}
            cmap = {str(k): str(v) for k, v in (meta.get("class-map") or {}).items()}
            human = meta.get("human-annotated") == "yes"
            lab_ref = _resolve(str(line[f"{attr}-ref"]), base)
            doc = load_json(lab_ref)
            for fr in doc.get("tracking-annotations") or []:
                if isinstance(fr.get("frame-no"), bool) or not isinstance(fr.get("frame-no"), int | str):
                    raise FormatError(
                        lab_ref, f"a tracking annotation needs a 'frame-no' number; got {fr.get('frame-no')!r}"
                    )
                try:
                    fno = int(fr["frame-no"])
                except ValueError as e:
                    raise FormatError(lab_ref, f"'frame-no' must be a whole number; got {fr['frame-no']!r}") from e
                labs = labels_by_frame.setdefault(fno, [])
                for a in fr.get("annotations") or []:
                    try:
                        left, top, w, h = (float(a[k]) for k in ("left", "top", "width", "height"))
                    except (KeyError, TypeError, ValueError) as e:
                        raise FormatError(lab_ref, f"frame {fno}: a box needs left top width height; got {a}") from e
                    cid = str(a.get("class-id", ""))
                    attrs: dict[str, Any] = dict(a.get("label-category-attributes") or {})
                    if a.get("object-name"):
                        attrs["object-name"] = a["object-name"]
                    score = clamp_score(a["confidence"]) if "confidence" in a else None
                    labs.append(
                        Label(
                            id=label_id(FORMAT, f"{seq}/{fno}", len(labs), a.get("object-id", "")),
                            category=cmap.get(cid, cid or "object"),
                            source="human:groundtruth" if human and score is None else import_source("groundtruth"),
                            score=score,
                            box=Box2D(x1=left, y1=top, x2=left + w, y2=top + h),
                            track_id=str(a["object-id"]) if a.get("object-id") is not None else None,
                            attributes=attrs,
                        )
                    )
        recs = []
        for fr in seq_doc["frames"]:
            fno = int(fr["frame-no"])
            name = str(fr["frame"])
            ts = fr.get("unix-timestamp")
            frame = Frame(
                id=f"{seq}/{PurePosixPath(name).stem}",
                uri=prefix + name if prefix else _resolve(name, base),
                sequence=seq,
                index=fno,
                timestamp_ns=int(float(ts) * 1e9) if isinstance(ts, int | float) else None,
                meta={"frame": name},
            )
            recs.append(FrameRecord(frame=frame, labels=labels_by_frame.get(fno, [])))
        check_track_ids(recs, seq_ref)
        yield from recs


def _file_stem(seq: str, taken: set[str]) -> str:
    """A sequence's file name stem: its name with path separators and odd characters made ``_`` (so a file never
    lands outside the manifest's folder), unique among the sequences written."""
    stem = re.sub(r"[^\w.-]", "_", seq).lstrip(".") or "sequence"
    base, n = stem, 1
    while stem in taken:
        n += 1
        stem = f"{base}-{n}"
    taken.add(stem)
    return stem


def render(
    records: Iterable[FrameRecord], *, label_attribute: str = "tracking", summary: WriteSummary | None = None
) -> tuple[str, dict[str, str]]:
    """The manifest's text and, by file name, the text of every ``<sequence>.json`` and ``<sequence>-labels.json``
    it refers to (names relative to the manifest's folder). Nothing is written."""
    summary = summary if summary is not None else WriteSummary(format=FORMAT, dst="")
    recs = list(summary.usable(records))
    check_track_ids(recs, summary.dst or "the tracking output")
    lines: list[str] = []
    files: dict[str, str] = {}
    taken: set[str] = set()
    for seq, frames in group_sequences(recs).items():
        name = _file_stem(seq or "sequence", taken)
        cats = sorted({lab.category for r in frames for lab in r.labels if lab.box is not None})
        cid = {c: str(i) for i, c in enumerate(cats)}
        seq_frames = []
        tracking = []
        for rec in frames:
            fno = place(rec.frame)[1] or 0
            fname = str(rec.frame.meta.get("frame") or PurePosixPath(rec.frame.uri).name)
            entry: dict[str, Any] = {"frame-no": fno, "frame": fname}
            if rec.frame.timestamp_ns is not None:
                entry["unix-timestamp"] = rec.frame.timestamp_ns / 1e9
            seq_frames.append(entry)
            anns = []
            for lab in summary.boxed(rec.labels):
                assert lab.box is not None
                x1, y1, x2, y2 = lab.box.xyxy
                attrs = {k: v for k, v in lab.attributes.items() if k != "object-name"}
                a: dict[str, Any] = {
                    "left": num(x1, 3),
                    "top": num(y1, 3),
                    "width": num(x2 - x1, 3),
                    "height": num(y2 - y1, 3),
                    "class-id": cid[lab.category],
                    "object-id": lab.track_id if lab.track_id is not None else lab.id,
                    "object-name": lab.attributes.get("object-name") or f"{lab.category}:{lab.track_id or lab.id}",
                    "label-category-attributes": attrs,
                }
                if lab.score is not None:
                    a["confidence"] = lab.score
                anns.append(a)
                summary.labels += 1
            tracking.append({"frame-no": fno, "frame": fname, "annotations": anns, "frame-attributes": {}})
            summary.frames += 1
        prefix = str(PurePosixPath(frames[0].frame.uri).parent) + "/" if "/" in frames[0].frame.uri else ""
        seq_doc = {"seq-no": len(lines) + 1, "prefix": prefix, "number-of-frames": len(frames), "frames": seq_frames}
        files[f"{name}.json"] = json.dumps(seq_doc)
        files[f"{name}-labels.json"] = json.dumps({"tracking-annotations": tracking})
        human = all(lab.source.startswith("human:") for r in frames for lab in r.labels)
        lines.append(
            json.dumps(
                {
                    "source-ref": f"{name}.json",
                    f"{label_attribute}-ref": f"{name}-labels.json",
                    f"{label_attribute}-ref-metadata": {
                        "class-map": {v: k for k, v in cid.items()},
                        "type": TYPE,
                        "human-annotated": "yes" if human else "no",
                    },
                }
            )
        )
    return "".join(ln + "\n" for ln in lines), files


def write(
    records: Iterable[FrameRecord],
    dst: str,
    *,
    label_attribute: str = "tracking",
    overwrite: bool = False,
) -> WriteSummary:
    """Write ``dst`` (the manifest) and, beside it, ``<sequence>.json`` and ``<sequence>-labels.json`` per sequence.
    Any URI :mod:`prelabel.storage` knows (``s3://...``); every file is written atomically, the manifest last, and
    nothing already there is replaced unless ``overwrite``."""
    summary = WriteSummary(format=FORMAT, dst=dst)
    check_dst(dst, overwrite)
    manifest, files = render(records, label_attribute=label_attribute, summary=summary)
    folder = storage.parent(dst)
    targets = {storage.join(folder, name): text for name, text in files.items()}
    for target in targets:
        check_dst(target, overwrite)
    for target, text in targets.items():
        with atomic_text_writer(target) as fh:
            fh.write(text)
        summary.files.append(target)
    with atomic_text_writer(dst) as fh:
        fh.write(manifest)
    summary.files.insert(0, dst)
    return summary


SPEC = FormatSpec(
    name=FORMAT,
    description="SageMaker Ground Truth video-frame object-tracking manifests (a line per sequence file)",
    geometries=("box2d", "track", "score"),
    reader=read,
    writer=write,
)
