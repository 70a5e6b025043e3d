"""SageMaker Ground Truth manifests: adjustment/verification job inputs out, output manifests in (DESIGN §6).

A manifest is JSON lines, at most 100,000 characters each. A bounding-box attribute holds
``{"image_size": [{"width", "height", "depth"}], "annotations": [{"class_id", "left", "top", "width", "height"}]}``
(integer pixels, top-left origin) and ``<attr>-metadata`` holds ``objects`` (one ``confidence`` per box),
``class-map``, ``type`` ``groundtruth/object-detection``, ``human-annotated``, ``creation-date``, ``job-name``; an
adjustment job adds ``adjustment-status`` (``adjusted``/``unadjusted``); a verification job adds ``"<attr>": "0"|"1"``
with metadata ``class-name``, ``type`` ``groundtruth/label-verification`` and optional ``worker-feedback``.

prelabel adds one key of its own, ``"prelabel"``: the frame id and, per attribute it wrote, each box's label id,
source and review state, so labels that come back from a job merge by id. Lines without it (data from other
tools) get stable ids from their position. Boxes are rounded to whole pixels, as Ground Truth stores them.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from prelabel import storage
from prelabel.core.labels import Box2D, Frame, FrameRecord, Label, ReviewState, make_label_id
from prelabel.errors import FormatError
from prelabel.formats._common import (
    WriteSummary,
    atomic_text_writer,
    check_dst,
    clamp_score,
    frame_id_from_name,
    frame_size,
    import_source,
    label_id,
    open_bytes,
    parse_json_text,
    primary_box,
)

FORMAT = "groundtruth"
MAX_LINE_CHARS = 100_000
DOCUMENT_VERSION = "2018-11-28"
OBJECT_DETECTION = "groundtruth/object-detection"
LABEL_VERIFICATION = "groundtruth/label-verification"
PRELABEL_KEY = "prelabel"
DEFAULT_ATTRIBUTE = "prelabel-boxes"
_ATTRIBUTE_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}$")
ACCEPT_NAMES = frozenset({"good", "correct", "right", "yes", "accept", "accepted", "valid", "ok"})
REJECT_NAMES = frozenset({"bad", "incorrect", "wrong", "no", "reject", "rejected", "invalid"})


def check_attribute(name: str, *, original: str | None = None) -> str:
    """Ground Truth's rules for a label attribute name; a clear error for each one broken."""
    if not isinstance(name, str) or not name:
        raise FormatError("label attribute name", "must be a non-empty string")
    if name.endswith("-ref"):
        raise FormatError(f"label attribute name {name!r}", "must not end in '-ref' (Ground Truth reserves it)")
    if "-metadata" in name:
        raise FormatError(f"label attribute name {name!r}", "must not contain '-metadata' (Ground Truth reserves it)")
    if name == PRELABEL_KEY or name in ("source", "source-ref"):
        raise FormatError(f"label attribute name {name!r}", "is a reserved manifest key")
    if not _ATTRIBUTE_RE.match(name):
        raise FormatError(
            f"label attribute name {name!r}",
            "must be 1-127 letters, digits and hyphens, starting and ending with a letter or digit",
        )
    if original is not None and name == original:
        raise FormatError(
            f"label attribute name {name!r}",
            "an adjustment or verification job must write a new attribute, different from the original one",
        )
    return name


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _int_box(xyxy: tuple[float, float, float, float]) -> dict[str, int]:
    x1, y1, x2, y2 = (round(v) for v in xyxy)
    return {"left": x1, "top": y1, "width": max(x2 - x1, 0), "height": max(y2 - y1, 0)}


def _dump_line(obj: dict[str, Any], frame_id: str) -> str:
    line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    if len(line) > MAX_LINE_CHARS:
        raise FormatError(
            f"frame {frame_id}",
            f"its manifest line is {len(line):,} characters; Ground Truth allows at most {MAX_LINE_CHARS:,} a line "
            f"({len(obj)} keys). Split the frame's labels across jobs or drop low-score boxes first",
        )
    return line


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
        "creation-date": date or _now(),
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
    **_: Any,
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
        for rec in records:
            if rec.status == "failed":
                summary.drop("failed frames")
                continue
            boxes = _boxes(rec, cats, summary)
            human = bool(boxes) and all(b.label.source.startswith("human:") for b in boxes)
            line = {
                "source-ref": _source_ref(rec.frame, source_prefix),
                attribute: _attribute_value(rec.frame, boxes, depth),
                f"{attribute}-metadata": _metadata(boxes, cats, job_name, human, creation_date),
                PRELABEL_KEY: {"frame-id": rec.frame.id, "labels": {attribute: _prelabel_entry(boxes)}},
            }
            fh.write(_dump_line(line, rec.frame.id) + "\n")
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
    text = resources.files("prelabel.formats").joinpath("templates", f"{name}.liquid.html").read_text("utf-8")
    default_header = (
        "Adjust the boxes: move, resize, relabel, delete wrong ones, add missing ones"
        if task == "adjustment"
        else "Are these boxes correct and complete?"
    )
    esc = html.escape
    return (
        text.replace("__HEADER__", esc(header or default_header))
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
        for rec in records:
            if rec.status == "failed":
                summary.drop("failed frames")
                continue
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
                    "creation-date": creation_date or _now(),
                }
                if feedback:
                    meta["worker-feedback"] = feedback
                line[f"{attribute}-metadata"] = meta
                summary.labels += len(rec.labels)
            if feedback and kind == "adjustment":
                line[f"{attribute}-metadata"]["worker-feedback"] = feedback
            line[PRELABEL_KEY] = {"frame-id": rec.frame.id, "labels": entries}
            fh.write(_dump_line(line, rec.frame.id) + "\n")
            summary.frames += 1
    summary.categories = list(cats.names)
    return summary


def _added_by_review(lb: Label) -> bool:
    """A box a person added during review (it was not among the pre-labels sent out)."""
    return lb.source.startswith("human:") and lb.attributes.get("added_in_review", False) is True


# ---------------------------------------------------------------- reading


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Parsed:
    attribute: str
    meta: dict[str, Any]
    boxes: list[tuple[str, Box2D, float | None]]  # category, box, confidence


def _parse_attribute(line: dict[str, Any], attr: str, where: str) -> _Parsed:
    value = line.get(attr)
    meta = line.get(f"{attr}-metadata") or {}
    if not isinstance(value, dict) or not isinstance(value.get("annotations"), list):
        raise FormatError(where, f"attribute {attr!r} is not a bounding-box label (no 'annotations' list)")
    cmap = meta.get("class-map") or {}
    objects = meta.get("objects") or []
    boxes = []
    for i, ann in enumerate(value["annotations"]):
        try:
            left, top, w, h = (float(ann[k]) for k in ("left", "top", "width", "height"))
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(where, f"{attr} annotation {i} needs numeric left, top, width, height; got {ann}") from e
        if w < 0 or h < 0:
            raise FormatError(where, f"{attr} annotation {i} has a negative width or height: {ann}")
        cid = str(ann.get("class_id"))
        if cid not in cmap:
            raise FormatError(where, f"{attr} annotation {i} has class_id {cid}, not in the class-map {cmap}")
        conf = objects[i].get("confidence") if i < len(objects) and isinstance(objects[i], dict) else None
        boxes.append((str(cmap[cid]), Box2D(x1=left, y1=top, x2=left + w, y2=top + h), clamp_score(conf)))
    return _Parsed(attr, meta, boxes)


def _prelabel_key(line: dict[str, Any], where: str) -> dict[str, Any]:
    pre = line.get(PRELABEL_KEY) or {}
    if not isinstance(pre, dict):
        raise FormatError(where, f"'{PRELABEL_KEY}' must be an object (frame-id, labels); got {type(pre).__name__}")
    return pre


def _frame_from_line(line: dict[str, Any], where: str, image_dir: str | None) -> Frame:
    ref = line.get("source-ref")
    if not isinstance(ref, str) or not ref:
        raise FormatError(where, "a line needs a 'source-ref' (image location); text 'source' lines hold no boxes")
    pre = _prelabel_key(line, where)
    name = PurePosixPath(ref).name
    fid = str(pre.get("frame-id") or frame_id_from_name(name))
    uri = str(Path(image_dir) / name) if image_dir else ref
    width = height = None
    for v in line.values():
        if isinstance(v, dict) and isinstance(v.get("image_size"), list) and v["image_size"]:
            size = v["image_size"][0]
            width, height = int(size.get("width") or 0) or None, int(size.get("height") or 0) or None
            break
    meta: dict[str, Any] = {"source-ref": ref} if uri != ref else {}
    return Frame(id=fid, uri=uri, width=width, height=height, meta=meta)


def _pick(line: dict[str, Any], attribute: str | None, where: str) -> tuple[list[str], list[str]]:
    """(box attributes, newest first; verification attributes) of a line."""
    boxes, verifs = [], []
    for k in line:
        meta = line.get(f"{k}-metadata")
        if not isinstance(meta, dict):
            if isinstance(line[k], dict) and "annotations" in line[k] and not k.endswith("-metadata"):
                got = "none" if meta is None else type(meta).__name__
                raise FormatError(
                    where,
                    f"label attribute {k!r} has no {k + '-metadata'!r} object (got {got}); Ground Truth writes the "
                    "class-map there, without it the boxes have no classes",
                )
            continue
        if meta.get("type") == LABEL_VERIFICATION:
            verifs.append(k)
        elif meta.get("type") == OBJECT_DETECTION or (isinstance(line[k], dict) and "annotations" in line[k]):
            boxes.append(k)
    boxes.sort(
        key=lambda k: ("adjustment-status" in line[f"{k}-metadata"], line[f"{k}-metadata"].get("creation-date", "")),
        reverse=True,
    )
    if attribute is not None:
        if attribute not in boxes and attribute not in verifs:
            raise FormatError(where, f"label attribute {attribute!r} not in this line; it has {boxes + verifs}")
        if attribute in boxes:
            boxes.remove(attribute)
            boxes.insert(0, attribute)
        else:
            verifs = [attribute]
    return boxes, verifs


def line_to_record(
    line: dict[str, Any],
    where: str,
    *,
    attribute: str | None = None,
    worker: str = "groundtruth",
    image_dir: str | None = None,
) -> FrameRecord:
    """One manifest line as a record: the newest box attribute's labels, merged with the original ones by id."""
    frame = _frame_from_line(line, where, image_dir)
    box_attrs, verifs = _pick(line, attribute, where)
    if not box_attrs:
        return FrameRecord(frame=frame, labels=[])
    pre = _prelabel_key(line, where).get("labels") or {}
    if not isinstance(pre, dict):
        raise FormatError(where, f"'{PRELABEL_KEY}.labels' must be an object; got {type(pre).__name__}")
    newest = _parse_attribute(line, box_attrs[0], where)
    human = newest.meta.get("human-annotated") == "yes"
    human_source = f"human:{worker}"
    entries = pre.get(newest.attribute)
    labels: list[Label] = []
    if entries is not None and len(entries) == len(newest.boxes):
        # written by prelabel: ids, sources and review states as they were
        for (cat, box, conf), e in zip(newest.boxes, entries, strict=True):
            src = str(e.get("source") or (human_source if human else import_source(FORMAT)))
            labels.append(
                Label(
                    id=str(e["id"]),
                    category=cat,
                    source=src,
                    box=box,
                    score=conf if src.startswith("model:") or src.startswith("import:") else None,
                    review=ReviewState(e.get("review", "pending")),
                )
            )
    elif len(box_attrs) > 1 and human:
        labels = _merge_adjusted(line, newest, box_attrs[1:], pre, frame.id, human_source, where)
    else:
        for i, (cat, box, conf) in enumerate(newest.boxes):
            labels.append(
                Label(
                    id=label_id(FORMAT, frame.id, i, newest.attribute),
                    category=cat,
                    source=human_source if human else import_source(FORMAT),
                    score=None if human else conf,
                    box=box,
                    review=ReviewState.ACCEPTED if human else ReviewState.PENDING,
                    attributes={"gt_confidence": conf} if human and conf is not None else {},
                )
            )
    for v in verifs:
        meta = line.get(f"{v}-metadata") or {}
        name = str(meta.get("class-name", "")).strip().lower()
        state = ReviewState.ACCEPTED if name in ACCEPT_NAMES else ReviewState.REJECTED if name in REJECT_NAMES else None
        comments = [str(c.get("comment", "")) for c in meta.get("worker-feedback") or [] if isinstance(c, dict)]
        frame.meta.setdefault("verification", {})[v] = {"class-name": meta.get("class-name"), "comments": comments}
        if state is not None:
            labels = [lb.model_copy(update={"review": state}) for lb in labels]
    return FrameRecord(frame=frame, labels=labels)


def _merge_adjusted(
    line: dict[str, Any],
    newest: _Parsed,
    older: list[str],
    pre: dict[str, Any],
    frame_id: str,
    human_source: str,
    where: str,
) -> list[Label]:
    """Ground Truth's adjusted boxes matched to the original pre-labels (same class, best IoU >= 0.5).

    Matched and unchanged: the original label, accepted. Matched and moved or relabelled: adjusted, by a person.
    Unmatched new boxes: added by a person. Unmatched originals: rejected (the worker deleted them).
    """
    orig = _parse_attribute(line, older[0], where)
    entries = pre.get(orig.attribute) or []
    ids = [
        str(entries[i]["id"]) if i < len(entries) else label_id(FORMAT, frame_id, i, orig.attribute)
        for i in range(len(orig.boxes))
    ]
    sources = [
        str(entries[i].get("source")) if i < len(entries) and entries[i].get("source") else import_source(FORMAT)
        for i in range(len(orig.boxes))
    ]
    unadjusted = newest.meta.get("adjustment-status") == "unadjusted"
    pairs = sorted(
        (
            (_iou(nb.xyxy, ob.xyxy), ni, oi)
            for ni, (_, nb, _) in enumerate(newest.boxes)
            for oi, (_, ob, _) in enumerate(orig.boxes)
        ),
        reverse=True,
    )
    match: dict[int, int] = {}
    used: set[int] = set()
    # boxes the worker left alone match exactly first (a zero-area box has no IoU with anything)
    for ni, (ncat, nb, _) in enumerate(newest.boxes):
        for oi, (ocat, ob, _) in enumerate(orig.boxes):
            if oi not in used and ncat == ocat and nb == ob:
                match[ni] = oi
                used.add(oi)
                break
    for iou, ni, oi in pairs:
        if iou < 0.5 or ni in match or oi in used:
            continue
        match[ni] = oi
        used.add(oi)
    labels: list[Label] = []
    for ni, (cat, box, _conf) in enumerate(newest.boxes):
        found = match.get(ni)
        if found is None:
            labels.append(
                Label(
                    id=make_label_id(frame_id, newest.attribute, ni),
                    category=cat,
                    source=human_source,
                    box=box,
                    review=ReviewState.ACCEPTED,
                    attributes={"added_in_review": True},
                )
            )
            continue
        oi = found
        ocat, obox, oconf = orig.boxes[oi]
        same = unadjusted or (ocat == cat and obox == box)
        labels.append(
            Label(
                id=ids[oi],
                category=cat,
                source=sources[oi] if same else human_source,
                score=oconf if same and not sources[oi].startswith("human:") else None,
                box=box,
                review=ReviewState.ACCEPTED if same else ReviewState.ADJUSTED,
            )
        )
    for oi, (cat, box, conf) in enumerate(orig.boxes):
        if oi not in used:
            labels.append(
                Label(
                    id=ids[oi],
                    category=cat,
                    source=sources[oi],
                    box=box,
                    score=None if sources[oi].startswith("human:") else conf,
                    review=ReviewState.REJECTED,
                )
            )
    return labels


def read(
    src: str,
    *,
    attribute: str | None = None,
    worker: str = "groundtruth",
    image_dir: str | None = None,
    **_: Any,
) -> Iterator[FrameRecord]:
    """Stream records from an input or output manifest (``output.manifest``), one per line.

    Without ``attribute`` the newest bounding-box attribute of each line is read (the adjusted one when an
    adjustment job ran) and merged with the original by label id; verification answers set the review state
    (``good``/``correct``... accepted, ``bad``/``incorrect``... rejected). Labels a person made or changed get
    source ``human:<worker>``. ``image_dir``: a local folder holding the images named in ``source-ref``.
    """
    for where, line in iter_manifest_lines(src):
        yield line_to_record_checked(line, where, attribute=attribute, worker=worker, image_dir=image_dir)


def line_to_record_checked(line: dict[str, Any], where: str, **kwargs: Any) -> FrameRecord:
    """:func:`line_to_record`, with any value of the wrong shape (a string where an object belongs, a number out
    of range) reported as a :class:`FormatError` naming the line."""
    from pydantic import ValidationError

    try:
        return line_to_record(line, where, **kwargs)
    except ValidationError as e:
        errs = e.errors()
        at = ".".join(str(p) for p in errs[0]["loc"]) if errs else ""
        msg = errs[0]["msg"] if errs else str(e)
        raise FormatError(where, f"invalid value for {e.title}{'.' + at if at else ''}: {msg}") from None
    except (AttributeError, TypeError, KeyError, IndexError) as e:
        raise FormatError(where, f"a value has the wrong type or shape ({type(e).__name__}: {e})") from None


def iter_manifest_lines(src: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Stream ``(where, object)`` for each non-blank line of a manifest; ``where`` is ``<src>:<line number>``.

    A line longer than Ground Truth's limit, a line that is not JSON, or one that is not an object raises
    :class:`FormatError` naming the line.
    """
    with open_bytes(src) as fh:
        for n, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            where = f"{src}:{n}"
            if len(raw.rstrip(b"\r\n")) > MAX_LINE_CHARS:
                raise FormatError(where, f"line of {len(raw):,} bytes; Ground Truth allows {MAX_LINE_CHARS:,}")
            line = parse_json_text(raw, where)
            if not isinstance(line, dict):
                raise FormatError(where, f"expected a JSON object per line; got {type(line).__name__}")
            yield where, line
