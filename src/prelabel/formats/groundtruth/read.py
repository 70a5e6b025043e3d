"""Reading Ground Truth manifests: input and output manifest lines as records, adjusted boxes matched back to the
pre-labels they came from, verification answers as review states."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from prelabel.core.geometry.boxes2d import iou_pair
from prelabel.core.labels import Box2D, Frame, FrameRecord, Label, ReviewState, make_label_id
from prelabel.errors import FormatError
from prelabel.formats._common import clamp_score, frame_id_from_name, import_source, label_id
from prelabel.formats.groundtruth.manifest import (
    ACCEPT_NAMES,
    FORMAT,
    LABEL_VERIFICATION,
    OBJECT_DETECTION,
    PRELABEL_KEY,
    REJECT_NAMES,
    iter_manifest_lines,
)


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
    """Ground Truth's adjusted boxes matched to the original pre-labels: first the boxes left exactly as they were
    (same class and box), then best IoU >= 0.5 first, whatever the class (a relabelled box is the same object).

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
            (iou_pair(nb.xyxy, ob.xyxy), ni, oi)
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
