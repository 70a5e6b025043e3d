"""COCO detection JSON: datasets (``images``/``annotations``/``categories``) and results files, read and write.

``bbox`` is ``[x, y, width, height]`` in pixels and becomes ``xyxy`` here. ``segmentation`` is polygons (a list of
flat x,y lists) or RLE (``{"size": [h, w], "counts": str | list}``). A results file is a list of
``{"image_id", "category_id", "bbox", "score"[, "segmentation"]}``; pass ``images=`` (the dataset it refers to)
for file names, sizes and category names, otherwise frame ids are the image ids and category ids are read as
COCO's 91-id scheme. ``score``, ``attributes``, ``track_id`` and ``iscrowd`` survive a round trip.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from prelabel.core.labels import Box2D, Frame, FrameRecord, Label, Mask, Polygon
from prelabel.core.vocab import COCO80, COCO91_IDS
from prelabel.errors import FormatError
from prelabel.formats import FormatSpec
from prelabel.formats._common import (
    WriteSummary,
    atomic_text_writer,
    check_dst,
    clamp_score,
    frame_id_from_name,
    import_source,
    label_id,
    load_json,
    local_dir,
    num,
)

FORMAT = "coco"
COCO91_NAMES: dict[int, str] = dict(zip(COCO91_IDS, COCO80, strict=True))


def _bbox(b: Any, where: str) -> Box2D:
    if not isinstance(b, list | tuple) or len(b) != 4:
        raise FormatError(where, f"bbox must be [x, y, width, height]; got {b!r}")
    x, y, w, h = (float(v) for v in b)
    if w < 0 or h < 0:
        raise FormatError(where, f"bbox width and height must be >= 0; got {b!r}")
    return Box2D(x1=x, y1=y, x2=x + w, y2=y + h)


def _segmentation(seg: Any, where: str, size: tuple[int | None, int | None]) -> tuple[Polygon | None, Mask | None]:
    if not seg:
        return None, None
    if isinstance(seg, list):
        rings = [[float(v) for v in ring] for ring in seg if len(ring) >= 6]
        return (Polygon(rings=rings) if rings else None), None
    if isinstance(seg, dict) and "counts" in seg:
        hw = seg.get("size") or [size[1], size[0]]
        if not hw or None in hw:
            raise FormatError(where, "RLE segmentation needs 'size' [height, width]")
        try:
            return None, Mask(size=(int(hw[0]), int(hw[1])), counts=seg["counts"])
        except ValueError as e:
            raise FormatError(where, f"invalid RLE segmentation: {e}") from e
    raise FormatError(where, f"segmentation must be a polygon list or an RLE object; got {type(seg).__name__}")


def _label(
    ann: dict[str, Any],
    frame_id: str,
    index: int,
    where: str,
    cats: dict[int, str],
    size: tuple[int | None, int | None],
    fmt: str = FORMAT,
) -> Label:
    cid = ann.get("category_id")
    if cid not in cats:
        raise FormatError(where, f"category_id {cid!r} is not among the categories {sorted(cats)[:20]}")
    box = _bbox(ann["bbox"], where) if ann.get("bbox") is not None else None
    polygon, mask = _segmentation(ann.get("segmentation"), where, size)
    if box is None and polygon is None and mask is None:
        raise FormatError(where, "annotation has neither bbox nor segmentation")
    attrs = dict(ann.get("attributes") or {})
    if ann.get("iscrowd"):
        attrs["iscrowd"] = int(ann["iscrowd"])
    if ann.get("ignore"):
        attrs["ignore"] = int(ann["ignore"])
    track = ann.get("track_id")
    return Label(
        id=label_id(fmt, frame_id, index, ann.get("id", "")),
        category=cats[cid],
        source=import_source(fmt),
        score=clamp_score(ann.get("score")),
        box=box,
        polygon=polygon,
        mask=mask,
        track_id=None if track is None else str(track),
        attributes=attrs,
    )


def _categories(data: dict[str, Any], src: str) -> dict[int, str]:
    cats = data.get("categories")
    if not isinstance(cats, list):
        raise FormatError(src, "a COCO dataset needs a 'categories' list")
    return {int(c["id"]): str(c["name"]) for c in cats}


def read(
    src: str,
    *,
    images: str | None = None,
    image_root: str | None = None,
) -> Iterator[FrameRecord]:
    """Records from a COCO dataset or results file, one per image (images without annotations included).

    ``images``: the dataset JSON a results file refers to. ``image_root``: folder the ``file_name`` s are under.
    """
    data = load_json(src)
    if isinstance(data, list):  # results file
        ref = load_json(images) if images else None
        if ref is not None and not isinstance(ref, dict):
            raise FormatError(str(images), "expected a COCO dataset object")
        yield from _read(src, {"annotations": data}, ref, image_root)
        return
    if not isinstance(data, dict) or "annotations" not in data:
        raise FormatError(
            src, "expected a COCO dataset object with 'images', 'annotations', 'categories' or a results list"
        )
    yield from _read(src, data, data, image_root)


def _read(src: str, data: dict[str, Any], ref: dict[str, Any] | None, image_root: str | None) -> Iterator[FrameRecord]:
    cats = _categories(ref, src) if ref is not None else dict(COCO91_NAMES)
    frames: dict[Any, Frame] = {}
    order: list[Any] = []
    for img in (ref or {}).get("images") or []:
        name = str(img.get("file_name") or img["id"])
        uri = str(Path(image_root) / name) if image_root else str(img.get("coco_url") or name)
        if image_root is None and img.get("prelabel_uri"):
            uri = str(img["prelabel_uri"])
        frames[img["id"]] = Frame(
            id=str(img.get("prelabel_id") or frame_id_from_name(name)),
            uri=uri,
            width=img.get("width") or None,
            height=img.get("height") or None,
            meta={"coco_id": img["id"], "file_name": name},
        )
        order.append(img["id"])
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for ann in data.get("annotations") or []:
        if not isinstance(ann, dict) or "image_id" not in ann:
            raise FormatError(src, f"every annotation needs an image_id; got {str(ann)[:80]}")
        iid = ann["image_id"]
        if iid not in frames:
            if ref is not None and ref.get("images"):
                raise FormatError(src, f"annotation {ann.get('id', '?')} refers to image_id {iid!r}, not in images")
            frames[iid] = Frame(id=str(iid), uri=str(iid), meta={"coco_id": iid})
            order.append(iid)
        by_image.setdefault(iid, []).append(ann)
    for iid in order:
        fr = frames[iid]
        labels = [
            _label(a, fr.id, i, f"{src}: annotation {a.get('id', i)} (image {iid})", cats, (fr.width, fr.height))
            for i, a in enumerate(by_image.get(iid, []))
        ]
        yield FrameRecord(frame=fr, labels=labels)


def category_ids(names: Sequence[str]) -> dict[str, int]:
    """COCO ids for category names: COCO's own 91-id scheme when every name is a COCO-80 class, else 1..N."""
    if names and all(n in COCO80 for n in names):
        return {n: COCO91_IDS[COCO80.index(n)] for n in names}
    return {n: i + 1 for i, n in enumerate(names)}


def _annotation(lb: Label, ann_id: int, image_id: int, cat_id: int, summary: WriteSummary) -> dict[str, Any] | None:
    box = lb.box
    if box is None and lb.polygon is not None:
        box = lb.polygon.bounds()
    if box is None and lb.mask is not None:
        from prelabel.core import rle

        b = rle.bbox_xyxy(lb.mask.to_array())
        box = Box2D.from_xyxy(b) if b is not None else None
    if box is None:
        summary.drop("labels without a 2D geometry (3D only)")
        return None
    if lb.box3d is not None:
        summary.drop("3D boxes")
    ann: dict[str, Any] = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": cat_id,
        "bbox": [num(box.x1), num(box.y1), num(box.width), num(box.height)],
        "area": float(lb.mask.area) if lb.mask is not None else num(box.area),
        "iscrowd": int(lb.attributes.get("iscrowd", 0)),
    }
    if lb.mask is not None:
        ann["segmentation"] = {"size": list(lb.mask.size), "counts": lb.mask.counts}
    elif lb.polygon is not None:
        ann["segmentation"] = [[num(v) for v in ring] for ring in lb.polygon.rings]
    if lb.score is not None:
        ann["score"] = lb.score
    attrs = {k: v for k, v in lb.attributes.items() if k not in ("iscrowd",)}
    if attrs:
        ann["attributes"] = attrs
    if lb.track_id is not None:
        ann["track_id"] = lb.track_id
    return ann


def write(
    records: Iterable[FrameRecord],
    dst: str,
    *,
    categories: Sequence[str] | None = None,
    results: bool = False,
    overwrite: bool = False,
) -> WriteSummary:
    """Write a COCO dataset (or, with ``results=True``, a results list with scores).

    ``categories``: the category list in id order (ids 1..N, or COCO's ids when all are COCO-80 names); default:
    every category seen, sorted. Labels whose category is not in a given list are dropped and counted.
    """
    check_dst(dst, overwrite)
    summary = WriteSummary(format=FORMAT, dst=dst, files=[dst])
    recs = list(records)
    names = list(categories) if categories is not None else sorted({lb.category for r in recs for lb in r.labels})
    ids = category_ids(names)
    summary.categories = names
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for image_id, rec in enumerate(recs, start=1):
        if rec.status == "failed":
            summary.drop("failed frames")
            continue
        f = rec.frame
        name = f.meta.get("file_name") or (Path(f.uri).name if Path(f.uri).stem == Path(f.id).name else f.id)
        img: dict[str, Any] = {"id": image_id, "file_name": name, "width": f.width or 0, "height": f.height or 0}
        if frame_id_from_name(name) != f.id:
            img["prelabel_id"] = f.id
        if f.uri != name:
            img["prelabel_uri"] = f.uri
        images.append(img)
        summary.frames += 1
        for lb in rec.labels:
            if lb.category not in ids:
                summary.drop(f"labels of categories outside the list ({lb.category})")
                continue
            ann = _annotation(lb, len(anns) + 1, image_id, ids[lb.category], summary)
            if ann is not None:
                anns.append(ann)
                summary.labels += 1
    with atomic_text_writer(dst) as fh:
        if results:
            out = [
                {k: a[k] for k in ("image_id", "category_id", "bbox", "score", "segmentation") if k in a} for a in anns
            ]
            for a in out:
                a.setdefault("score", 1.0)
            json.dump(out, fh, ensure_ascii=False)
        else:
            json.dump(
                {
                    "info": {"description": "written by prelabel"},
                    "images": images,
                    "annotations": anns,
                    "categories": [{"id": ids[n], "name": n, "supercategory": ""} for n in names],
                },
                fh,
                ensure_ascii=False,
            )
    return summary


def sniff(src: str) -> bool:
    """Any ``*.json`` file (asked last: the more specific JSON formats answer first)."""
    return src.lower().endswith(".json") and local_dir(src) is None


SPEC = FormatSpec(
    name="coco",
    description="COCO detection JSON: datasets and results files",
    geometries=("box2d", "mask", "polygon", "score", "track"),
    reader=read,
    writer=write,
    sniff=sniff,
)
