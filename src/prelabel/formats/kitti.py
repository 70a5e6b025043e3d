"""KITTI object labels (``label_2/*.txt``) and tracking labels (``label_02/<seq>.txt``), read and write.

One line per object: ``type truncated occluded alpha left top right bottom h w l x y z rotation_y [score]``
(tracking lines start with ``frame track_id``). The 2D box is pixel ``left top right bottom`` and becomes ``xyxy``
as is. The 3D box is in the rectified camera frame (x right, y down, z forward): ``location`` is the centre of the
bottom face and ``rotation_y`` turns about +y, so the reader stores ``Box3D(frame="camera")`` with centre
``y - h/2`` and ``yaw = -rotation_y`` (docs/schema.md); the writer undoes both. ``DontCare`` regions are kept as
category ``DontCare`` (evaluation ignores them). ``truncated``, ``occluded`` and ``alpha`` go to attributes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prelabel import storage
from prelabel.core.labels import Box2D, Box3D, CameraCalibration, Frame, FrameRecord, Label
from prelabel.errors import FormatError, InputNotFoundError
from prelabel.formats import FormatSpec
from prelabel.formats._common import (
    WriteSummary,
    check_dst,
    clamp_score,
    find_image,
    import_source,
    label_id,
    local_dir,
    num,
    write_small_file,
)

FORMAT = "kitti"
CLASSES = ("Car", "Van", "Truck", "Pedestrian", "Person_sitting", "Cyclist", "Tram", "Misc", "DontCare")
_NO_3D = (-1.0, -1.0, -1.0, -1000.0, -1000.0, -1000.0, -10.0)


def _label_files(src: Path) -> tuple[list[Path], Path]:
    """The label files to read and the folder they live in."""
    if src.is_file():
        return [src], src.parent
    for sub in ("label_2", "label_02"):
        if (src / sub).is_dir():
            src = src / sub
            break
    files = sorted(src.glob("*.txt"))
    if not files:
        raise FormatError(str(src), "no KITTI label files (*.txt) found; expected a label_2 folder or a .txt file")
    return files, src


def _image_folder(label_dir: Path, image_dir: str | None) -> Path | None:
    if image_dir is not None:
        p = Path(image_dir)
        if not p.is_dir():
            raise InputNotFoundError(str(p), what="KITTI image folder")
        return p
    for name in ("image_2", "image_02"):
        cand = label_dir.parent / name
        if cand.is_dir():
            return cand
    return None


def read_calibration(path: Path, camera: str = "P2") -> CameraCalibration | None:
    """The KITTI calib file's camera projection (``P2`` = left colour camera) and ``R0_rect`` as a calibration."""
    if not path.is_file():
        return None
    rows: dict[str, list[float]] = {}
    for line in path.read_text("utf-8").splitlines():
        if ":" not in line:
            key, _, rest = line.partition(" ")
        else:
            key, _, rest = line.partition(":")
        try:
            rows[key.strip()] = [float(v) for v in rest.split()]
        except ValueError:
            continue
    p = rows.get(camera) or rows.get(camera.replace("P", "P_rect_0"))
    if not p or len(p) != 12:
        return None
    P = [p[0:4], p[4:8], p[8:12]]
    r0 = rows.get("R0_rect") or rows.get("R_rect")
    R = [r0[0:3], r0[3:6], r0[6:9]] if r0 and len(r0) == 9 else None
    return CameraCalibration(K=[row[:3] for row in P], P=P, R=R, frame_id="camera")


def parse_line(parts: list[str], where: str, fmt: str = FORMAT) -> dict[str, Any]:
    """One KITTI object line (without tracking's frame/track columns) as named, typed fields."""
    if len(parts) not in (15, 16):
        raise FormatError(
            where,
            f"expected 15 fields (type truncated occluded alpha left top right bottom h w l x y z rotation_y) "
            f"or 16 with a score; got {len(parts)}",
        )
    try:
        vals = [float(v) for v in parts[1:]]
    except ValueError as e:
        raise FormatError(where, f"fields after the type must be numbers: {e}") from e
    if any(not math.isfinite(v) for v in vals):
        raise FormatError(where, "fields must be finite numbers")
    return {
        "type": parts[0],
        "truncated": vals[0],
        "occluded": int(vals[1]),
        "alpha": vals[2],
        "bbox": vals[3:7],
        "dims": vals[7:10],  # h w l
        "loc": vals[10:13],
        "ry": vals[13],
        "score": vals[14] if len(vals) > 14 else None,
    }


def to_label(f: dict[str, Any], frame_id: str, index: int, where: str, *, track: str | None = None) -> Label:
    x1, y1, x2, y2 = f["bbox"]
    box: Box2D | None = None
    if not (x1 == x2 == y1 == y2 and x1 in (-1.0, 0.0)):  # all -1 (or 0): no 2D box written
        if x2 < x1 or y2 < y1:
            raise FormatError(where, f"2D box needs left <= right and top <= bottom; got {x1} {y1} {x2} {y2}")
        box = Box2D(x1=x1, y1=y1, x2=x2, y2=y2)
    h, w, length = f["dims"]
    x, y, z = f["loc"]
    box3d: Box3D | None = None
    if h >= 0 and w >= 0 and length >= 0 and f["ry"] > -10 and x > -1000:
        box3d = Box3D(x=x, y=y - h / 2.0, z=z, length=length, width=w, height=h, yaw=-f["ry"], frame="camera")
    if box is None and box3d is None:
        raise FormatError(where, "line has neither a 2D box nor a valid 3D box")
    attrs: dict[str, Any] = {"truncated": f["truncated"], "occluded": f["occluded"], "alpha": f["alpha"]}
    return Label(
        id=label_id(FORMAT, frame_id, index, track or ""),
        category=f["type"],
        source=import_source(FORMAT),
        score=clamp_score(f["score"]),
        box=box,
        box3d=box3d,
        track_id=track,
        attributes=attrs,
    )


def _frame(frame_id: str, stem: str, images: Path | None, calib: CameraCalibration | None, label_dir: Path) -> Frame:
    img = find_image(images, stem) if images is not None else None
    uri = str(img) if img is not None else str((images or label_dir.parent / "image_2") / f"{stem}.png")
    size = storage.image_size(img) if img is not None else None
    return Frame(
        id=frame_id,
        uri=uri,
        width=size[0] if size else None,
        height=size[1] if size else None,
        sensor="image_2",
        calibration=calib,
    )


def read(
    src: str,
    *,
    image_dir: str | None = None,
    calib_dir: str | None = None,
) -> Iterator[FrameRecord]:
    """Records from a KITTI ``label_2`` folder, a folder holding ``label_2/``, one label file, or a tracking file.

    Frame ids are the file stems (``000001``); tracking frames are ``<sequence>/<frame:06d>``. Width and height
    come from the matching ``image_2`` image (``image_dir``, or the ``image_2`` folder beside the labels).
    """
    if not storage.is_local(src):
        raise FormatError(src, "KITTI folders are read from local disk; copy them down first")
    path = storage.local_path(src)
    if not path.exists():
        raise InputNotFoundError(str(path), what="KITTI labels")
    files, label_dir = _label_files(path)
    images = _image_folder(label_dir, image_dir)
    calibs = Path(calib_dir) if calib_dir else label_dir.parent / "calib"
    for txt in files:
        lines = txt.read_text("utf-8").splitlines()
        first = next((ln.split() for ln in lines if ln.strip()), [])
        if len(first) in (17, 18) and first[0].lstrip("-").isdigit() and first[1].lstrip("-").isdigit():
            yield from _read_tracking(txt, lines, images, calibs)
            continue
        labels = []
        for n, line in enumerate(lines):
            parts = line.split()
            if not parts:
                continue
            where = f"{txt}:{n + 1}"
            labels.append(to_label(parse_line(parts, where), txt.stem, n, where))
        calib = read_calibration(calibs / f"{txt.stem}.txt")
        yield FrameRecord(frame=_frame(txt.stem, txt.stem, images, calib, label_dir), labels=labels)


def _read_tracking(txt: Path, lines: list[str], images: Path | None, calibs: Path) -> Iterator[FrameRecord]:
    seq = txt.stem
    by_frame: dict[int, list[Label]] = {}
    for n, line in enumerate(lines):
        parts = line.split()
        if not parts:
            continue
        where = f"{txt}:{n + 1}"
        if len(parts) not in (17, 18):
            raise FormatError(
                where, f"expected 17 fields in a KITTI tracking line (frame track_id type ...); got {len(parts)}"
            )
        frame_no, track = int(parts[0]), parts[1]
        fid = f"{seq}/{frame_no:06d}"
        f = parse_line(parts[2:], where)
        by_frame.setdefault(frame_no, []).append(to_label(f, fid, n, where, track=None if track == "-1" else track))
    seq_images = images / seq if images is not None and (images / seq).is_dir() else None
    calib = read_calibration(calibs / f"{seq}.txt")
    for frame_no in sorted(by_frame):
        fid = f"{seq}/{frame_no:06d}"
        frame = _frame(fid, f"{frame_no:06d}", seq_images, calib, txt.parent)
        frame.meta = {"sequence": seq, "frame_index": frame_no}
        frame.sequence, frame.index = seq, frame_no
        yield FrameRecord(frame=frame, labels=by_frame[frame_no])


def format_line(label: Label, *, with_score: bool) -> str:
    """One KITTI object line for a label (the 3D part needs a ``camera``-frame Box3D; otherwise it is blank)."""
    a = label.attributes
    if label.box is not None:
        bbox = label.box.xyxy
    elif label.polygon is not None:
        bbox = label.polygon.bounds().xyxy
    else:
        bbox = (-1.0, -1.0, -1.0, -1.0)
    b3 = label.box3d
    if b3 is not None and b3.frame == "camera":
        ry = -b3.yaw
        ry = math.atan2(math.sin(ry), math.cos(ry)) if abs(ry) > math.pi else ry
        three = (b3.height, b3.width, b3.length, b3.x, b3.y + b3.height / 2.0, b3.z, ry)
        alpha = float(a.get("alpha", ry - math.atan2(b3.x, b3.z)))
    else:
        three = _NO_3D
        alpha = float(a.get("alpha", -10.0))
    category = label.category.replace(" ", "_")
    fields = [
        category,
        f"{num(float(a.get('truncated', 0.0)), 2)}",
        f"{int(a.get('occluded', 0))}",
        f"{num(alpha, 6)}",
        *(f"{num(v, 3)}" for v in bbox),
        *(f"{num(v, 6)}" for v in three),
    ]
    if with_score:
        fields.append(f"{num(label.score if label.score is not None else 1.0, 6)}")
    return " ".join(fields)


def write(
    records: Iterable[FrameRecord],
    dst: str,
    *,
    scores: bool | None = None,
    overwrite: bool = False,
    tracking: bool | None = None,
) -> WriteSummary:
    """Write one ``<frame id>.txt`` per frame into ``dst`` (a ``label_2`` style folder), or with ``tracking``
    (default: when labels carry track ids) one ``<sequence>.txt`` per sequence (a ``label_02`` folder).

    ``scores``: append the score column (KITTI results files); default: when any label has a score.
    3D boxes in frames other than ``camera`` cannot be written without calibration and are counted as dropped.
    """
    if not storage.is_local(dst):
        raise FormatError(dst, "KITTI folders are written to local disk")
    out = storage.local_path(dst)
    summary = WriteSummary(format=FORMAT, dst=str(out))
    recs = list(records)
    if tracking is None:
        tracking = any(lb.track_id is not None for r in recs for lb in r.labels)
    if tracking:
        from prelabel.formats.kitti_tracking import write_tracking

        return write_tracking(recs, out, summary, scores=scores, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)
    for rec in summary.usable(recs):
        target = out / f"{rec.frame.id}.txt"
        check_dst(str(target), overwrite)
        with_score = scores if scores is not None else any(lb.score is not None for lb in rec.labels)
        lines = []
        for lb in rec.labels:
            if lb.box is None and lb.polygon is None and (lb.box3d is None or lb.box3d.frame != "camera"):
                summary.drop("labels without a 2D box or camera-frame 3D box")
                continue
            if lb.box3d is not None and lb.box3d.frame != "camera":
                summary.drop(f"3D boxes in frame {lb.box3d.frame!r}")
            if lb.mask is not None:
                summary.drop("masks")
            lines.append(format_line(lb, with_score=with_score))
        target.parent.mkdir(parents=True, exist_ok=True)
        write_small_file(target, "".join(ln + "\n" for ln in lines))
        summary.files.append(str(target))
        summary.frames += 1
        summary.labels += len(lines)
    return summary


def sniff(src: str) -> bool:
    """A folder holding ``label_2/`` or ``*.txt`` label files."""
    folder = local_dir(src)
    return folder is not None and ((folder / "label_2").is_dir() or any(folder.glob("*.txt")))


SPEC = FormatSpec(
    name="kitti",
    description="KITTI object and tracking labels (2D boxes and 3D boxes in the camera frame)",
    geometries=("box2d", "box3d", "score", "track"),
    reader=read,
    writer=write,
    sniff=sniff,
)
