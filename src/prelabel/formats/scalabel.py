"""Scalabel / BDD100K JSON: a list of frames (or ``{"frames": [...], "config": ...}``), read and write.

Frame: ``name`` (file name; the frame id is it without extension), ``url``, ``videoName``, ``frameIndex``,
``timestamp``, ``size``, ``attributes``. Label: ``id`` (the track id in tracking files), ``category``, ``score``,
``attributes``, and geometry ``box2d`` {x1 y1 x2 y2}, ``poly2d`` [{vertices, types, closed}], ``rle`` (COCO RLE),
``box3d`` {location (centre, camera frame), dimensions [h w l], orientation [rx ry rz]}.

Scalabel's box2d counts x2/y2 as the last pixel inside the box (its COCO export uses width = x2 - x1 + 1). By
default the coordinates are kept as written (``inclusive_pixels=False``), which is how BDD100K's own tools and
the evaluation code here read them; ``inclusive_pixels=True`` converts to pixel-edge ``xyxy`` (x2 + 1) and back.
Labels without geometry (tags) are skipped and counted in a warning. Files are streamed frame by frame.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prelabel import storage
from prelabel.core.labels import Box2D, Box3D, Frame, FrameRecord, Label, Mask, Polygon
from prelabel.errors import FormatError
from prelabel.formats import FormatSpec
from prelabel.formats._common import (
    WriteSummary,
    atomic_text_writer,
    check_dst,
    clamp_score,
    find_image,
    frame_id_from_name,
    head,
    import_source,
    iter_json_array,
    label_id,
    num,
)

FORMAT = "scalabel"


def _box(b: dict[str, Any], where: str, plus: float) -> Box2D:
    try:
        x1, y1, x2, y2 = (float(b[k]) for k in ("x1", "y1", "x2", "y2"))
    except (KeyError, TypeError, ValueError) as e:
        raise FormatError(where, f"box2d needs numeric x1 y1 x2 y2; got {b!r}") from e
    if x2 < x1 or y2 < y1:
        raise FormatError(where, f"box2d needs x1 <= x2 and y1 <= y2; got {b!r}")
    return Box2D(x1=x1, y1=y1, x2=x2 + plus, y2=y2 + plus)


def _polygon(polys: list[dict[str, Any]], attrs: dict[str, Any]) -> Polygon | None:
    rings: list[list[float]] = []
    types: list[str] = []
    for p in polys:
        verts = p.get("vertices") or []
        if not p.get("closed", True):
            attrs.setdefault("poly2d_open", []).append(verts)
            continue
        if len(verts) < 3:
            continue
        rings.append([float(c) for v in verts for c in v[:2]])
        types.append(str(p.get("types") or "L" * len(verts)))
    if not rings:
        return None
    if any(set(t) != {"L"} for t in types):
        attrs["poly2d_types"] = types
    return Polygon(rings=rings)


def _box3d(b: dict[str, Any], where: str) -> Box3D:
    try:
        x, y, z = (float(v) for v in b["location"])
        h, w, length = (float(v) for v in b["dimensions"])
        ry = float(b["orientation"][1])
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise FormatError(where, f"box3d needs location[3], dimensions[3] (h w l), orientation[3]; got {b!r}") from e
    return Box3D(x=x, y=y, z=z, length=length, width=w, height=h, yaw=-ry, frame="camera")


def _frame(fr: dict[str, Any], image_dir: Path | None, image_size_opt: tuple[int, int] | None) -> Frame:
    name = str(fr["name"])
    fid = frame_id_from_name(name)
    uri = str(fr.get("url") or "")
    if not uri:
        img = find_image(image_dir, fid) if image_dir is not None else None
        uri = str(img) if img is not None else (str(image_dir / name) if image_dir is not None else name)
    size = fr.get("size") or {}
    w, h = size.get("width"), size.get("height")
    if not (w and h):
        if image_size_opt:
            w, h = image_size_opt
        elif image_dir is not None:
            got = storage.image_size(uri)
            if got:
                w, h = got
    meta: dict[str, Any] = {"name": name}
    for k in ("videoName", "frameIndex", "timestamp", "attributes", "intrinsics", "extrinsics"):
        if fr.get(k) is not None:
            meta[k] = fr[k]
    ts = fr.get("timestamp")
    video, fidx = fr.get("videoName"), fr.get("frameIndex")
    return Frame(
        id=fid,
        uri=uri,
        width=int(w) if w else None,
        height=int(h) if h else None,
        timestamp_ns=int(ts) * 1_000_000 if isinstance(ts, int) and not isinstance(ts, bool) else None,
        sequence=str(video) if video is not None else None,
        index=int(fidx) if isinstance(fidx, int) and not isinstance(fidx, bool) and fidx >= 0 else None,
        meta=meta,
    )


def frame_to_record(
    fr: Any,
    src: str,
    index: int,
    *,
    image_dir: Path | None = None,
    image_size_opt: tuple[int, int] | None = None,
    inclusive_pixels: bool = False,
    skipped: list[int] | None = None,
) -> FrameRecord:
    """One Scalabel frame object as a record."""
    if not isinstance(fr, dict) or "name" not in fr:
        raise FormatError(src, f"frame {index} must be an object with a 'name'; got {str(fr)[:80]}")
    frame = _frame(fr, image_dir, image_size_opt)
    tracking = fr.get("videoName") is not None
    plus = 1.0 if inclusive_pixels else 0.0
    labels: list[Label] = []
    for j, lab in enumerate(fr.get("labels") or []):
        where = f"{src}: frame {fr['name']} label {lab.get('id', j)}"
        if not isinstance(lab, dict) or not lab.get("category"):
            raise FormatError(where, "a label needs a 'category'")
        attrs: dict[str, Any] = dict(lab.get("attributes") or {})
        box = _box(lab["box2d"], where, plus) if lab.get("box2d") else None
        polygon = _polygon(lab["poly2d"], attrs) if lab.get("poly2d") else None
        mask = None
        if lab.get("rle"):
            r = lab["rle"]
            mask = Mask(size=(int(r["size"][0]), int(r["size"][1])), counts=r["counts"])
        box3d = _box3d(lab["box3d"], where) if lab.get("box3d") else None
        if box is None and polygon is None and mask is None and box3d is None:
            if skipped is not None:
                skipped.append(1)
            continue
        native = lab.get("id")
        if box3d is not None and "alpha" in lab["box3d"]:
            attrs["alpha"] = lab["box3d"]["alpha"]
        labels.append(
            Label(
                id=label_id(FORMAT, frame.id, j, native if native is not None else ""),
                category=str(lab["category"]),
                source=import_source(FORMAT),
                score=clamp_score(lab.get("score")),
                box=box,
                polygon=polygon,
                mask=mask,
                box3d=box3d,
                track_id=str(native) if tracking and native is not None else None,
                attributes={**attrs, **({"scalabel_id": str(native)} if native is not None else {})},
            )
        )
    if frame.width is None and labels and labels[0].mask is not None:  # an RLE knows the frame's size
        frame.height, frame.width = labels[0].mask.size
    return FrameRecord(frame=frame, labels=labels)


def read(
    src: str,
    *,
    image_dir: str | None = None,
    image_size: tuple[int, int] | None = None,
    inclusive_pixels: bool = False,
) -> Iterator[FrameRecord]:
    """Stream records from a Scalabel/BDD100K JSON file (or a folder of them, e.g. BDD100K ``track/labels``).

    ``image_dir``: where the images are (frame uri and size); ``image_size``: (width, height) for every frame,
    as in a Scalabel config's ``imageSize``.
    """
    paths = [src]
    if storage.is_local(src) and storage.local_path(src).is_dir():
        paths = [str(p) for p in sorted(storage.local_path(src).glob("*.json"))]
        if not paths:
            raise FormatError(src, "no Scalabel JSON files (*.json) in this folder")
    folder = Path(image_dir) if image_dir else None
    skipped: list[int] = []
    for path in paths:
        for i, fr in enumerate(iter_json_array(path, key="frames")):
            if isinstance(fr, dict) and "frames" in fr and "name" not in fr:
                raise FormatError(path, "'frames' must be a list of frame objects")
            yield frame_to_record(
                fr,
                path,
                i,
                image_dir=folder,
                image_size_opt=image_size,
                inclusive_pixels=inclusive_pixels,
                skipped=skipped,
            )
    if skipped:
        warnings.warn(
            f"{src}: skipped {len(skipped)} labels without geometry (no box2d/poly2d/rle/box3d)", stacklevel=2
        )


def record_to_frame(rec: FrameRecord, *, inclusive_pixels: bool = False, summary: WriteSummary | None = None) -> dict:
    """A record as one Scalabel frame object."""
    f = rec.frame
    name = f.meta.get("name") or (Path(f.uri).name if Path(f.uri).stem == Path(f.id).name else f.id)
    out: dict[str, Any] = {"name": name}
    if f.uri and f.uri != name:
        out["url"] = f.uri
    for k in ("videoName", "frameIndex", "timestamp", "attributes", "intrinsics", "extrinsics"):
        if k in f.meta:
            out[k] = f.meta[k]
    if f.sequence is not None and "videoName" not in out:
        out["videoName"] = f.sequence
    if f.index is not None and "frameIndex" not in out:
        out["frameIndex"] = f.index
    if f.width and f.height:
        out["size"] = {"width": f.width, "height": f.height}
    minus = 1.0 if inclusive_pixels else 0.0
    labels = []
    for lb in rec.labels:
        attrs = dict(lb.attributes)
        native = attrs.pop("scalabel_id", None)
        types = attrs.pop("poly2d_types", None)
        open_polys = attrs.pop("poly2d_open", None)
        alpha = attrs.pop("alpha", None)
        d: dict[str, Any] = {"id": lb.track_id or native or lb.id, "category": lb.category}
        if lb.score is not None:
            d["score"] = lb.score
        d["attributes"] = attrs
        if lb.box is not None:
            b = lb.box
            d["box2d"] = {"x1": num(b.x1), "y1": num(b.y1), "x2": num(b.x2 - minus), "y2": num(b.y2 - minus)}
        polys = []
        if lb.polygon is not None:
            for i, ring in enumerate(lb.polygon.rings):
                verts = [[num(ring[k]), num(ring[k + 1])] for k in range(0, len(ring), 2)]
                t = types[i] if types and i < len(types) else "L" * len(verts)
                polys.append({"vertices": verts, "types": t, "closed": True})
        for verts in open_polys or []:
            polys.append({"vertices": verts, "types": "L" * len(verts), "closed": False})
        if polys:
            d["poly2d"] = polys
        if lb.mask is not None:
            d["rle"] = {"counts": lb.mask.counts, "size": list(lb.mask.size)}
        if lb.box3d is not None:
            b3 = lb.box3d
            if b3.frame == "camera":
                d["box3d"] = {
                    "location": [num(b3.x), num(b3.y), num(b3.z)],
                    "dimensions": [num(b3.height), num(b3.width), num(b3.length)],
                    "orientation": [0, num(-b3.yaw), 0],
                    **({"alpha": alpha} if alpha is not None else {}),
                }
            elif summary is not None:
                summary.drop(f"3D boxes in frame {b3.frame!r}")
        labels.append(d)
    out["labels"] = labels
    return out


def write(
    records: Iterable[FrameRecord],
    dst: str,
    *,
    inclusive_pixels: bool = False,
    overwrite: bool = False,
) -> WriteSummary:
    """Write a Scalabel JSON list of frames, streaming one frame at a time. Failed frames are skipped."""
    check_dst(dst, overwrite)
    summary = WriteSummary(format=FORMAT, dst=dst, files=[dst])
    with atomic_text_writer(dst) as fh:
        fh.write("[")
        for rec in summary.usable(records):
            fh.write(("," if summary.frames else "") + "\n")
            fh.write(
                json.dumps(record_to_frame(rec, inclusive_pixels=inclusive_pixels, summary=summary), ensure_ascii=False)
            )
            summary.frames += 1
            summary.labels += len(rec.labels)
        fh.write("\n]\n")
    return summary


def sniff(src: str) -> bool:
    """A ``*.json`` file holding a list of frames or a ``{"frames": ..., "config": ...}`` dataset."""
    if not src.lower().endswith(".json"):
        return False
    start = head(src).lstrip()
    return start.startswith(b"[") or b'"frames"' in start or b'"config"' in start


SPEC = FormatSpec(
    name="scalabel",
    description="Scalabel / BDD100K JSON (boxes, polygons, tracks)",
    geometries=("box2d", "polygon", "score", "track"),
    reader=read,
    writer=write,
    sniff=sniff,
)
