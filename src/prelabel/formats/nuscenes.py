"""nuScenes info pickles (read only): the per-camera 2D boxes of mmdetection3d and vis4d info files.

Plain pickles of dicts and numpy arrays, read with :mod:`pickle` (no devkit). Two layouts:

- mmdetection3d v1.1 (``{"metainfo": {"categories": {name: id}}, "data_list": [...]}``): per sample,
  ``images[CAM]["img_path"]`` and ``cam_instances[CAM]`` with ``bbox`` (x1 y1 x2 y2 px), ``bbox_label``,
  ``depth``, ``center_2d``, ``attr_label``.
- vis4d (a list of samples): ``sample[CAM]`` with ``image_path``, ``image_hw``, ``intrinsics`` and
  ``annotations`` ``boxes2d`` (x1 y1 x2 y2 px), ``boxes3d_classes``, ``boxes3d_track_ids``.

One record per camera image; the frame id is the image file name without extension, the sensor the camera
name. The 3D boxes' conventions differ between the two tools, so only their depth/track ids are kept here.
Only load pickles you trust: unpickling runs code.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prelabel import storage
from prelabel.core.labels import Box2D, CameraCalibration, Frame, FrameRecord, Label
from prelabel.errors import FormatError, InputNotFoundError
from prelabel.formats import FormatSpec
from prelabel.formats._common import frame_id_from_name, import_source, label_id

FORMAT = "nuscenes"
# vis4d's nuScenes detection classes, in its class-id order
VIS4D_CLASSES = ("bicycle", "motorcycle", "pedestrian", "bus", "car", "trailer", "truck", "construction_vehicle",
                 "traffic_cone", "barrier")  # fmt: skip
CAMERAS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_FRONT_LEFT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_BACK_RIGHT")


def _find_image(path: str, base: Path, image_root: Path | None) -> str:
    """The image on disk: under image_root or beside the pickle, trying the path's tail from 'samples/' on."""
    p = Path(path)
    roots = [r for r in (image_root, base) if r is not None]
    tails = [Path(p.name)]
    if "samples" in p.parts:
        tails.insert(0, Path(*p.parts[p.parts.index("samples") :]))
    for root in roots:
        for tail in tails:
            if (root / tail).is_file():
                return str(root / tail)
    return str((image_root or base) / tails[0])


def _frame(fid: str, uri: str, cam: str, hw: Any = None, K: Any = None, ts: Any = None) -> Frame:
    if hw is not None:
        h, w = int(hw[0]), int(hw[1])
    else:
        size = storage.image_size(uri)
        w, h = (size[0], size[1]) if size else (0, 0)
    calib = CameraCalibration(K=[[float(v) for v in row] for row in K]) if K is not None else None
    return Frame(
        id=fid,
        uri=uri,
        width=w or None,
        height=h or None,
        sensor=cam,
        calibration=calib,
        timestamp_ns=int(ts) * 1000 if ts is not None else None,
    )


def _box(b: Any, where: str) -> Box2D:
    x1, y1, x2, y2 = (float(v) for v in list(b)[:4])
    if x2 < x1 or y2 < y1:
        raise FormatError(where, f"2D box needs x1 <= x2 and y1 <= y2; got {list(b)}")
    return Box2D(x1=x1, y1=y1, x2=x2, y2=y2)


def _mmdet3d(data: dict[str, Any], base: Path, image_root: Path | None) -> Iterator[FrameRecord]:
    cats = {int(v): str(k) for k, v in (data.get("metainfo") or {}).get("categories", {}).items()}
    for sample in data["data_list"]:
        for cam, info in (sample.get("images") or {}).items():
            if not info.get("img_path"):
                continue
            uri = _find_image(info["img_path"], base, image_root)
            fid = frame_id_from_name(Path(info["img_path"]).name)
            K = info.get("cam2img")
            frame = _frame(fid, uri, cam, K=[row[:3] for row in K[:3]] if K is not None else None)
            labels = []
            for i, inst in enumerate((sample.get("cam_instances") or {}).get(cam, [])):
                where = f"sample {sample.get('token', '?')} {cam} instance {i}"
                cid = int(inst.get("bbox_label", inst.get("bbox_label_3d", -1)))
                attrs: dict[str, Any] = {k: float(inst[k]) for k in ("depth",) if k in inst}
                if "center_2d" in inst:
                    attrs["center_2d"] = [float(v) for v in inst["center_2d"]]
                if "attr_label" in inst:
                    attrs["attr_label"] = int(inst["attr_label"])
                labels.append(
                    Label(
                        id=label_id(FORMAT, fid, i),
                        category=cats.get(cid, str(cid)),
                        source=import_source(FORMAT),
                        box=_box(inst["bbox"], where),
                        attributes=attrs,
                    )
                )
            yield FrameRecord(frame=frame, labels=labels)


def _vis4d(samples: Iterable[Any], base: Path, image_root: Path | None) -> Iterator[FrameRecord]:
    for sample in samples:
        for cam in CAMERAS:
            info = sample.get(cam)
            if not isinstance(info, dict) or not info.get("image_path"):
                continue
            uri = _find_image(info["image_path"], base, image_root)
            fid = str(info.get("sample_name") or frame_id_from_name(Path(info["image_path"]).name))
            frame = _frame(fid, uri, cam, hw=info.get("image_hw"), K=info.get("intrinsics"), ts=info.get("timestamp"))
            frame.meta = {"scene": sample.get("scene_name"), "sample_token": sample.get("token")}
            ann = info.get("annotations") or {}
            boxes = ann.get("boxes2d")
            labels = []
            if boxes is not None:
                classes = ann.get("boxes3d_classes")
                tracks = ann.get("boxes3d_track_ids")
                for i, b in enumerate(boxes):
                    cid = int(classes[i]) if classes is not None else -1
                    labels.append(
                        Label(
                            id=label_id(FORMAT, fid, i),
                            category=VIS4D_CLASSES[cid] if 0 <= cid < len(VIS4D_CLASSES) else str(cid),
                            source=import_source(FORMAT),
                            box=_box(b, f"sample {sample.get('token', '?')} {cam} box {i}"),
                            track_id=str(int(tracks[i])) if tracks is not None else None,
                            attributes={"depth": float(ann["boxes3d"][i][2])} if "boxes3d" in ann else {},
                        )
                    )
            yield FrameRecord(frame=frame, labels=labels)


def read(src: str, *, image_root: str | None = None) -> Iterator[FrameRecord]:
    """Records (one per camera image) from an mmdetection3d or vis4d nuScenes info pickle."""
    path = storage.local_path(src)
    if not path.is_file():
        raise InputNotFoundError(str(path), what="nuScenes info pickle")
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
    except Exception as e:
        raise FormatError(str(path), f"not a readable pickle: {type(e).__name__}: {e}") from e
    root = Path(image_root) if image_root else None
    if isinstance(data, dict) and "data_list" in data:
        yield from _mmdet3d(data, path.parent, root)
    elif isinstance(data, list):
        yield from _vis4d(data, path.parent, root)
    else:
        raise FormatError(str(path), "expected an mmdetection3d info dict (data_list) or a vis4d list of samples")


def write(records: Iterable[FrameRecord], dst: str) -> None:
    raise FormatError(dst, "nuScenes info pickles are read only; write 'labels', 'coco' or 'scalabel' instead")


def sniff(src: str) -> bool:
    """An info pickle (``*.pkl``)."""
    return src.lower().endswith(".pkl")


SPEC = FormatSpec(
    name="nuscenes",
    description="nuScenes info files from mmdetection3d (pickle) or vis4d (read only)",
    geometries=("box3d",),
    reader=read,
    writer=None,
    sniff=sniff,
)
