"""Label Studio JSON: tasks with predictions (import into a project) and exported tasks with annotations.

A task is ``{"data": {"image": url, ...}, "predictions": [...], "annotations": [...]}``; each prediction or
annotation has a ``result`` list of regions ``{"id", "type", "from_name", "to_name", "original_width",
"original_height", "value": {...}}``. Region coordinates are **percent** of the image size: ``rectanglelabels``
``x y width height`` (top-left corner, ``rotation`` degrees), ``polygonlabels`` ``points`` [[x%, y%], ...].

Writing: model labels become one prediction per source (``model_version`` = the source, ``score`` per region);
human labels become an annotation. Region ids are the label ids, and Label Studio keeps a region's id when an
annotator accepts or edits a prediction, so an exported annotation merges back by id: unchanged regions are
``accepted``, moved or relabelled ones ``adjusted`` (source ``human:<annotator>``), predicted regions missing from
the annotation ``rejected``, new ones added by the annotator. Frames without an annotation keep the predictions.
Brush (``brushlabels``) regions use Label Studio's own RLE and are skipped with a warning.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath
from typing import Any

from prelabel.core.labels import Box2D, Frame, FrameRecord, Label, Polygon, ReviewState
from prelabel.errors import FormatError
from prelabel.formats import FormatSpec
from prelabel.formats._common import (
    WriteSummary,
    atomic_text_writer,
    check_dst,
    clamp_score,
    frame_id_from_name,
    head,
    import_source,
    iter_json_array,
    label_id,
    require_size,
)

FORMAT = "labelstudio"
FRAME_ID_KEY = "prelabel_frame_id"


def _pct(v: float, size: int) -> float:
    return v / size * 100.0


def _region_geometry(r: dict[str, Any], w: int, h: int, where: str) -> tuple[str, Box2D, Polygon | None]:
    v = r.get("value") or {}
    kind = r.get("type")
    if kind in ("rectanglelabels", "rectangle"):
        try:
            x, y, rw, rh = (float(v[k]) for k in ("x", "y", "width", "height"))
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(where, f"rectangle needs numeric x, y, width, height (percent); got {v}") from e
        rot = float(v.get("rotation") or 0.0)
        x1, y1, x2, y2 = x * w / 100, y * h / 100, (x + rw) * w / 100, (y + rh) * h / 100
        if rot:
            # the axis-aligned box around the rotated one (rotation turns about the top-left corner)
            c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
            pts = [
                (x1 + dx * c - dy * s, y1 + dx * s + dy * c)
                for dx, dy in ((0, 0), (x2 - x1, 0), (x2 - x1, y2 - y1), (0, y2 - y1))
            ]
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
        labels = v.get("rectanglelabels") or v.get("labels") or []
        if rw < 0 or rh < 0:
            raise FormatError(where, f"rectangle width and height must be >= 0; got {v}")
        return _one_label(labels, where), Box2D(x1=x1, y1=y1, x2=x2, y2=y2), None
    if kind in ("polygonlabels", "polygon"):
        pts = v.get("points") or []
        if len(pts) < 3:
            raise FormatError(where, f"polygon needs at least 3 points; got {len(pts)}")
        ring = [float(c) * (w if i == 0 else h) / 100 for p in pts for i, c in enumerate(p[:2])]
        poly = Polygon(rings=[ring])
        return _one_label(v.get("polygonlabels") or v.get("labels") or [], where), poly.bounds(), poly
    raise ValueError(kind)


def _one_label(labels: list[str], where: str) -> str:
    if not labels:
        raise FormatError(where, "region has no label")
    return str(labels[0])


def _regions(
    result: list[dict[str, Any]], fid: str, w: int | None, h: int | None, where: str, skipped: dict[str, int]
) -> list[tuple[str, str, Box2D, Polygon | None, float | None, dict[str, Any]]]:
    out = []
    for i, r in enumerate(result or []):
        kind = r.get("type")
        if kind not in ("rectanglelabels", "rectangle", "polygonlabels", "polygon"):
            skipped[str(kind)] = skipped.get(str(kind), 0) + 1
            continue
        rw = int(r.get("original_width") or w or 0)
        rh = int(r.get("original_height") or h or 0)
        if not rw or not rh:
            raise FormatError(where, "region has no original_width/original_height and the image size is unknown")
        cat, box, poly = _region_geometry(r, rw, rh, f"{where} region {r.get('id', i)}")
        rid = str(r.get("id") or label_id(FORMAT, fid, i))
        extra = {"rotation": r["value"]["rotation"]} if (r.get("value") or {}).get("rotation") else {}
        out.append((rid, cat, box, poly, clamp_score(r.get("score")), extra))
    return out


def _task_to_record(task: dict[str, Any], where: str, image_key: str, skipped: dict[str, int]) -> FrameRecord:
    data = task.get("data") or {}
    url = data.get(image_key)
    if not isinstance(url, str) or not url:
        raise FormatError(where, f"task data has no {image_key!r} (the image URL); keys: {sorted(data)}")
    fid = str(data.get(FRAME_ID_KEY) or frame_id_from_name(PurePosixPath(url.split("?")[0]).name))
    w, h = data.get("width"), data.get("height")
    if any(not isinstance(p, dict) for p in task.get("predictions") or []):
        raise FormatError(
            where,
            "predictions are ids only (Label Studio's quick export); export a snapshot with full predictions: "
            'POST /api/projects/<id>/exports/ {"serialization_options": {"predictions": {"only_id": false}}}',
        )
    preds = [p for p in task.get("predictions") or [] if isinstance(p, dict)]
    anns = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    for group in (*preds, *anns):
        for r in group.get("result") or []:
            w = w or r.get("original_width")
            h = h or r.get("original_height")
    frame = Frame(
        id=fid,
        uri=url,
        width=int(w) if w else None,
        height=int(h) if h else None,
        meta={"labelstudio_id": task["id"]} if "id" in task else {},
    )
    predicted: dict[str, Label] = {}
    for p in preds:
        model = str(p.get("model_version") or "")
        source = model if model.startswith(("model:", "import:", "fused")) else import_source(FORMAT)
        for rid, cat, box, poly, score, extra in _regions(
            p.get("result") or [], fid, frame.width, frame.height, where, skipped
        ):
            if score is None and p.get("score") is not None:
                score = clamp_score(p["score"])
            predicted[rid] = Label(
                id=rid, category=cat, source=source, score=score, box=box, polygon=poly, attributes=extra
            )
    if not anns:
        return FrameRecord(frame=frame, labels=list(predicted.values()))
    ann = max(anns, key=lambda a: str(a.get("updated_at") or a.get("created_at") or ""))
    who = ann.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    worker = str(who or "labelstudio").replace(" ", "_")
    labels: list[Label] = []
    for rid, cat, box, poly, _score, extra in _regions(
        ann.get("result") or [], fid, frame.width, frame.height, where, skipped
    ):
        before = predicted.pop(rid, None)
        if before is not None and before.category == cat and _same(before.box, box) and before.polygon == poly:
            labels.append(before.model_copy(update={"review": ReviewState.ACCEPTED}))
        else:
            labels.append(
                Label(
                    id=rid,
                    category=cat,
                    source=f"human:{worker}",
                    box=box,
                    polygon=poly,
                    review=ReviewState.ADJUSTED if before is not None else ReviewState.ACCEPTED,
                    attributes={**extra, **({} if before is not None else {"added_in_review": True})},
                )
            )
    labels += [lb.model_copy(update={"review": ReviewState.REJECTED}) for lb in predicted.values()]
    return FrameRecord(frame=frame, labels=labels)


def _same(a: Box2D | None, b: Box2D | None, tol: float = 0.01) -> bool:
    if a is None or b is None:
        return a is b
    return all(abs(x - y) <= tol for x, y in zip(a.xyxy, b.xyxy, strict=True))


def read(src: str, *, image_key: str = "image") -> Iterator[FrameRecord]:
    """Records from a Label Studio JSON export (or a tasks file), streamed task by task."""
    skipped: dict[str, int] = {}
    for i, task in enumerate(iter_json_array(src)):
        if not isinstance(task, dict):
            raise FormatError(src, f"task {i} must be a JSON object; got {type(task).__name__}")
        yield _task_to_record(task, f"{src}: task {task.get('id', i)}", image_key, skipped)
    if skipped:
        warnings.warn(f"{src}: skipped regions prelabel does not read: {skipped}", stacklevel=2)


def _result(lb: Label, w: int, h: int, from_name: str, to_name: str) -> dict[str, Any] | None:
    base: dict[str, Any] = {
        "id": lb.id,
        "from_name": from_name,
        "to_name": to_name,
        "original_width": w,
        "original_height": h,
        "image_rotation": 0,
    }
    if lb.polygon is not None and lb.box is None:
        ring = lb.polygon.rings[0]
        pts = [[_pct(ring[k], w), _pct(ring[k + 1], h)] for k in range(0, len(ring), 2)]
        r = {
            **base,
            "from_name": f"{from_name}_polygon",
            "type": "polygonlabels",
            "value": {"points": pts, "closed": True, "polygonlabels": [lb.category]},
        }
    else:
        xyxy = lb.box.xyxy if lb.box is not None else (lb.polygon.bounds().xyxy if lb.polygon else None)
        if xyxy is None:
            return None
        x1, y1, x2, y2 = xyxy
        r = {
            **base,
            "type": "rectanglelabels",
            "value": {
                "x": _pct(x1, w),
                "y": _pct(y1, h),
                "width": _pct(x2 - x1, w),
                "height": _pct(y2 - y1, h),
                "rotation": 0,
                "rectanglelabels": [lb.category],
            },
        }
    if lb.score is not None:
        r["score"] = lb.score
    return r


def write(
    records: Iterable[FrameRecord],
    dst: str,
    *,
    image_key: str = "image",
    from_name: str = "label",
    to_name: str = "image",
    url_prefix: str | None = None,
    overwrite: bool = False,
) -> WriteSummary:
    """Write a Label Studio tasks file: one task per frame with predictions (and annotations for human labels).

    ``from_name``/``to_name`` must match the project's labeling config (``<RectangleLabels name="label"
    toName="image">``). ``url_prefix``: e.g. ``/data/local-files/?d=frames/`` or ``s3://bucket/frames/``, joined
    with the image file name; default: the frame's uri as is.
    """
    check_dst(dst, overwrite)
    summary = WriteSummary(format=FORMAT, dst=dst, files=[dst])
    cats: set[str] = set()
    with atomic_text_writer(dst) as fh:
        fh.write("[")
        for rec in summary.usable(records):
            f = rec.frame
            w, h = require_size(f.id, f.uri, f.width, f.height, "Label Studio")
            url = url_prefix + PurePosixPath(f.uri).name if url_prefix else f.uri
            by_source: dict[str, list[dict[str, Any]]] = {}
            human: list[dict[str, Any]] = []
            for lb in rec.labels:
                if lb.mask is not None and lb.box is None and lb.polygon is None:
                    summary.drop("mask-only labels (Label Studio brush RLE is not written)")
                    continue
                r = _result(lb, w, h, from_name, to_name)
                if r is None:
                    summary.drop("labels without 2D geometry")
                    continue
                if lb.source.startswith("human:"):
                    human.append(r)
                else:
                    by_source.setdefault(lb.source, []).append(r)
                cats.add(lb.category)
                summary.labels += 1
            task: dict[str, Any] = {"data": {image_key: url, FRAME_ID_KEY: f.id, "width": w, "height": h}}
            task["predictions"] = [
                {
                    "model_version": src,
                    "result": res,
                    "score": sum(r.get("score", 0.0) for r in res) / len(res) if res else 0.0,
                }
                for src, res in by_source.items()
            ]
            if human:
                task["annotations"] = [{"result": human}]
            fh.write(("," if summary.frames else "") + "\n" + json.dumps(task, ensure_ascii=False))
            summary.frames += 1
        fh.write("\n]\n")
    summary.categories = sorted(cats)
    return summary


def labeling_config(
    categories: Iterable[str], *, from_name: str = "label", to_name: str = "image", image_key: str = "image"
) -> str:
    """A Label Studio labeling config (XML) for boxes and polygons over the given classes."""
    from xml.sax.saxutils import quoteattr

    labels = "\n".join(f"    <Label value={quoteattr(c)}/>" for c in categories)
    return (
        f'<View>\n  <Image name="{to_name}" value="${image_key}"/>\n'
        f'  <RectangleLabels name="{from_name}" toName="{to_name}">\n{labels}\n  </RectangleLabels>\n'
        f'  <PolygonLabels name="{from_name}_polygon" toName="{to_name}">\n{labels}\n  </PolygonLabels>\n</View>\n'
    )


def sniff(src: str) -> bool:
    """A ``*.json`` list of tasks: objects with ``data`` and ``annotations`` or ``predictions``."""
    if not src.lower().endswith(".json"):
        return False
    start = head(src).lstrip()
    return start.startswith(b"[") and b'"data"' in start and (b'"annotations"' in start or b'"predictions"' in start)


SPEC = FormatSpec(
    name="labelstudio",
    description="Label Studio JSON tasks (predictions and annotations)",
    geometries=("box2d", "score"),
    reader=read,
    writer=write,
    sniff=sniff,
)
