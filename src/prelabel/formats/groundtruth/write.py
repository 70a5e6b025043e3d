"""Writing Ground Truth manifests: adjustment/verification job inputs (with their label categories and worker
template) and output manifests of reviewed labels."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath
from typing import Any, Literal

from prelabel import storage
from prelabel.core.labels import Frame, FrameRecord, Label, ReviewState
from prelabel.errors import FormatError
from prelabel.formats._common import WriteSummary, atomic_text_writer, check_dst, frame_size, primary_box
from prelabel.formats.groundtruth.manifest import (
    DEFAULT_ATTRIBUTE,
    DOCUMENT_VERSION,
    FORMAT,
    LABEL_VERIFICATION,
    OBJECT_DETECTION,
    PRELABEL_KEY,
    check_attribute,
    dump_line,
    now,
)


def _int_box(xyxy: tuple[float, float, float, float]) -> dict[str, int]:
    x1, y1, x2, y2 = (round(v) for v in xyxy)
    return {"left": x1, "top": y1, "width": max(x2 - x1, 0), "height": max(y2 - y1, 0)}


class _Categories:
    """Class ids in first-seen order (or the given order), shared by every line of one job."""

    def __init__(self, given: Sequence[str] | None) -> None:
        self.fixed = given is not None
        self.names: list[str] = list(given or [])
        self.index = {n: i for i, n in enumerate(self.names)}
        if len(self.index) != len(self.names):
            raise FormatError("categories", f"category names must be unique; got {self.names}")

    def id(self, name: str) -> int | None:
        if name not in self.index:
            if self.fixed:
                return None
            self.index[name] = len(self.names)
            self.names.append(name)
        return self.index[name]


@dataclass
class _Box:
    label: Label
    class_id: int
    ann: dict[str, int]


def _boxes(rec: FrameRecord, cats: _Categories, summary: WriteSummary, keep: Any = None) -> list[_Box]:
    out = []
    for lb in rec.labels:
        if keep is not None and not keep(lb):
            continue
        xyxy = primary_box(lb)
        if xyxy is None:
            summary.drop("labels without a 2D box (3D only)")
            continue
        cid = cats.id(lb.category)
        if cid is None:
            summary.drop(f"labels of categories outside the list ({lb.category})")
            continue
        out.append(_Box(lb, cid, _int_box(xyxy)))
    return out


def _source_ref(frame: Frame, source_prefix: str | None) -> str:
    if source_prefix:
        return source_prefix.rstrip("/") + "/" + PurePosixPath(frame.uri.replace("\\", "/")).name
    return frame.uri


def _attribute_value(frame: Frame, boxes: list[_Box], depth: int) -> dict[str, Any]:
    w, h = frame_size(frame.uri, frame.width, frame.height)
    if not w or not h:
        raise FormatError(
            f"frame {frame.id}",
            f"Ground Truth needs image_size; the record has no width/height and {frame.uri} cannot be read",
        )
    return {
        "image_size": [{"width": w, "height": h, "depth": depth}],
        "annotations": [{"class_id": b.class_id, **b.ann} for b in boxes],
    }


def _metadata(
    boxes: list[_Box], cats: _Categories, job_name: str, human: bool, date: str | None = None, **extra: Any
) -> dict[str, Any]:
    used = sorted({b.class_id for b in boxes})
    return {
        "objects": [{"confidence": b.label.score if b.label.score is not None else 1.0} for b in boxes],
        "class-map": {str(i): cats.names[i] for i in used},
        "type": OBJECT_DETECTION,
        "human-annotated": "yes" if human else "no",
        "creation-date": date or now(),
        "job-name": job_name if job_name.startswith("labeling-job/") else f"labeling-job/{job_name}",
        **extra,
    }


def _prelabel_entry(boxes: list[_Box]) -> list[dict[str, Any]]:
    return [{"id": b.label.id, "source": b.label.source, "review": b.label.review.value} for b in boxes]


def write(
    records: Iterable[FrameRecord],
    dst: str,
    *,
    attribute: str = DEFAULT_ATTRIBUTE,
    job_name: str = "prelabel",
    categories: Sequence[str] | None = None,
    source_prefix: str | None = None,
    depth: int = 3,
    creation_date: str | None = None,
    overwrite: bool = False,
) -> WriteSummary:
    """Write an input manifest for a bounding-box adjustment or verification job from pre-labels.

    ``attribute``: the label attribute name holding the pre-labels (the job's new attribute must differ).
    ``categories``: class list (ids are its positions); default: classes in first-seen order.
    ``source_prefix``: ``s3://bucket/frames/`` to point ``source-ref`` at uploaded copies of local frames.
    The summary's ``categories`` attribute lists the classes in class-id order (for the label-categories file).
    """
    check_attribute(attribute)
    check_dst(dst, overwrite)
    cats = _Categories(categories)
    summary = WriteSummary(format=FORMAT, dst=dst, files=[dst])
    with atomic_text_writer(dst) as fh:
        for rec in summary.usable(records):
            boxes = _boxes(rec, cats, summary)
            human = bool(boxes) and all(b.label.source.startswith("human:") for b in boxes)
            line = {
                "source-ref": _source_ref(rec.frame, source_prefix),
                attribute: _attribute_value(rec.frame, boxes, depth),
                f"{attribute}-metadata": _metadata(boxes, cats, job_name, human, creation_date),
                PRELABEL_KEY: {"frame-id": rec.frame.id, "labels": {attribute: _prelabel_entry(boxes)}},
            }
            fh.write(dump_line(line, rec.frame.id) + "\n")
            summary.frames += 1
            summary.labels += len(boxes)
    summary.categories = list(cats.names)
    return summary


def label_categories(names: Sequence[str]) -> dict[str, Any]:
    """The label-categories file's content."""
    return {"document-version": DOCUMENT_VERSION, "labels": [{"label": n} for n in names]}


def worker_template(
    task: Literal["adjustment", "verification"],
    attribute: str,
    categories: Sequence[str],
    *,
    header: str | None = None,
    answers: Sequence[str] = ("good", "bad"),
) -> str:
    """The Liquid worker template: ``crowd-bounding-box`` with ``initial-value`` from the manifest line
    (adjustment), or ``crowd-image-classifier`` with the boxes as overlay (verification)."""
    check_attribute(attribute)
    name = "adjust-bounding-box" if task == "adjustment" else "verify-bounding-box"
    if task not in ("adjustment", "verification"):
        raise FormatError("task", f"must be 'adjustment' or 'verification'; got {task!r}")
    templates = resources.files("prelabel.formats").joinpath("templates")
    text = templates.joinpath(f"{name}.liquid.html").read_text("utf-8")
    # both tasks show the manifest line's boxes: one Liquid expression, a JSON list of {label, left, top, width, height}
    boxes = templates.joinpath("boxes.liquid").read_text("utf-8").rstrip("\n")
    default_header = (
        "Adjust the boxes: move, resize, relabel, delete wrong ones, add missing ones"
        if task == "adjustment"
        else "Are these boxes correct and complete?"
    )
    esc = html.escape
    return (
        text.replace("__BOXES__", boxes)
        .replace("__HEADER__", esc(header or default_header))
        .replace("__LABELS_JSON__", esc(json.dumps(list(categories), ensure_ascii=False)))
        .replace("__LABELS__", esc(json.dumps(list(categories), ensure_ascii=False)))
        .replace("__CATEGORIES__", esc(json.dumps(list(answers), ensure_ascii=False)))
        .replace("__ATTRIBUTE__", attribute)
    )


@dataclass
class JobFiles:
    manifest: str
    label_categories: str
    template: str
    summary: WriteSummary
    categories: list[str]


def write_job(
    records: Iterable[FrameRecord],
    out_dir: str,
    *,
    task: Literal["adjustment", "verification"] = "adjustment",
    attribute: str = DEFAULT_ATTRIBUTE,
    job_name: str = "prelabel",
    categories: Sequence[str] | None = None,
    source_prefix: str | None = None,
    header: str | None = None,
    creation_date: str | None = None,
    overwrite: bool = False,
) -> JobFiles:
    """Everything a Ground Truth adjustment or verification job needs, in ``out_dir``:
    ``input.manifest``, ``label-categories.json`` and ``template.liquid.html``."""
    manifest = storage.join(out_dir, "input.manifest")
    cats_path = storage.join(out_dir, "label-categories.json")
    template_path = storage.join(out_dir, "template.liquid.html")
    for p in (cats_path, template_path):
        check_dst(p, overwrite)
    summary = write(
        records,
        manifest,
        attribute=attribute,
        job_name=job_name,
        categories=categories,
        source_prefix=source_prefix,
        creation_date=creation_date,
        overwrite=overwrite,
    )
    names = summary.categories
    storage.write_text(cats_path, json.dumps(label_categories(names), indent=2, ensure_ascii=False) + "\n")
    storage.write_text(template_path, worker_template(task, attribute, names, header=header))
    summary.files += [cats_path, template_path]
    return JobFiles(manifest, cats_path, template_path, summary, names)


def write_output_manifest(
    records: Iterable[FrameRecord],
    dst: str,
    *,
    attribute: str,
    job_name: str,
    original_attribute: str | None = None,
    kind: Literal["adjustment", "verification"] = "adjustment",
    categories: Sequence[str] | None = None,
    source_prefix: str | None = None,
    worker_feedback: dict[str, list[str]] | None = None,
    originals: Iterable[FrameRecord] | None = None,
    creation_date: str | None = None,
    overwrite: bool = False,
) -> WriteSummary:
    """A Ground Truth *output* manifest from reviewed labels (what a finished job would have written).

    adjustment: ``attribute`` holds the labels kept by review (not rejected), with ``adjustment-status``
    ``adjusted`` when review adjusted, rejected or added anything on the frame; ``original_attribute`` (when
    given) holds the pre-labels: from ``originals`` (the records as sent out, matched by frame id) when given,
    else the reviewed labels minus those added in review (``attributes["added_in_review"]``), with their
    current geometry. verification: ``attribute`` is ``"0"`` (class-name ``good``)
    when nothing on the frame was rejected or adjusted, else ``"1"`` (``bad``); the verified boxes go under
    ``original_attribute`` (required). ``worker_feedback``: frame id -> comments.
    """
    check_attribute(attribute, original=original_attribute)
    if original_attribute is not None:
        check_attribute(original_attribute)
    if kind == "verification" and original_attribute is None:
        raise FormatError("verification manifest", "original_attribute (the attribute holding the boxes) is needed")
    if kind not in ("adjustment", "verification"):
        raise FormatError("kind", f"must be 'adjustment' or 'verification'; got {kind!r}")
    check_dst(dst, overwrite)
    cats = _Categories(categories)
    summary = WriteSummary(format=FORMAT, dst=dst, files=[dst])
    job = job_name if job_name.startswith("labeling-job/") else f"labeling-job/{job_name}"
    sent = {r.frame.id: r for r in originals} if originals is not None else {}
    with atomic_text_writer(dst) as fh:
        for rec in summary.usable(records):
            line: dict[str, Any] = {"source-ref": _source_ref(rec.frame, source_prefix)}
            entries: dict[str, Any] = {}
            if original_attribute is not None:
                before = sent.get(rec.frame.id)
                if before is not None:
                    orig = _boxes(before, cats, summary)
                else:
                    orig = _boxes(rec, cats, summary, keep=lambda lb: not _added_by_review(lb))
                line[original_attribute] = _attribute_value(rec.frame, orig, 3)
                line[f"{original_attribute}-metadata"] = _metadata(orig, cats, job, False, creation_date)
                entries[original_attribute] = [{**e, "review": "pending"} for e in _prelabel_entry(orig)]
            changed = any(
                lb.review in (ReviewState.ADJUSTED, ReviewState.REJECTED) or _added_by_review(lb) for lb in rec.labels
            )
            feedback = [{"comment": c} for c in (worker_feedback or {}).get(rec.frame.id, [])]
            if kind == "adjustment":
                kept = _boxes(rec, cats, summary, keep=lambda lb: lb.review != ReviewState.REJECTED)
                line[attribute] = _attribute_value(rec.frame, kept, 3)
                line[f"{attribute}-metadata"] = _metadata(
                    kept,
                    cats,
                    job,
                    True,
                    creation_date,
                    **{"adjustment-status": "adjusted" if changed else "unadjusted"},
                )
                entries[attribute] = _prelabel_entry(kept)
                summary.labels += len(kept)
            else:
                line[attribute] = "1" if changed else "0"
                meta: dict[str, Any] = {
                    "class-name": "bad" if changed else "good",
                    "confidence": 1.0,
                    "type": LABEL_VERIFICATION,
                    "job-name": job,
                    "human-annotated": "yes",
                    "creation-date": creation_date or now(),
                }
                if feedback:
                    meta["worker-feedback"] = feedback
                line[f"{attribute}-metadata"] = meta
                summary.labels += len(rec.labels)
            if feedback and kind == "adjustment":
                line[f"{attribute}-metadata"]["worker-feedback"] = feedback
            line[PRELABEL_KEY] = {"frame-id": rec.frame.id, "labels": entries}
            fh.write(dump_line(line, rec.frame.id) + "\n")
            summary.frames += 1
    summary.categories = list(cats.names)
    return summary


def _added_by_review(lb: Label) -> bool:
    """A box a person added during review (it was not among the pre-labels sent out)."""
    return lb.source.startswith("human:") and lb.attributes.get("added_in_review", False) is True


# ---------------------------------------------------------------- reading
