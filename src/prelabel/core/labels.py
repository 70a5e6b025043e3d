"""Frames, labels and geometry: the one data model every stage takes and returns.

Field units and frames are stated on each field and, at length, in docs/schema.md.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prelabel.core import rle
from prelabel.core.scene import CameraView, PointFormat, Pose

SCHEMA_VERSION = 1

_SOURCE_RE = re.compile(r"^(model:[^@\s]+@[^@\s]+|human:[^\s]+|fused|import:[^\s]+)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


_M = TypeVar("_M", bound=_Model)
_set_attr = object.__setattr__


def checked_model(cls: type[_M], values: dict[str, Any], fields_set: set[str] | None = None) -> _M:
    """A model of ``cls`` from values already checked: every field of ``cls``, in field order, each of the type
    the field holds. What ``cls.model_construct(**values)`` makes (``fields_set``: the fields given explicitly;
    default: all), without its per-field alias and default handling, which costs more than validating. For the
    hot paths that turn checked columns back into records (:meth:`LabelSet.to_labels`, composites of validated
    parts); data read from outside goes through validation instead.

    With every field set, the models of a class share one set of field names: pydantic only ever adds a name to
    it (on assignment), which is then already there, and copies it when a model is copied; one set less per model
    keeps the garbage collector's work down on the hot paths."""
    m = cls.__new__(cls)
    _set_attr(m, "__dict__", values)
    if fields_set is None:
        fields_set = _ALL_FIELDS.get(cls)
        if fields_set is None:
            fields_set = _ALL_FIELDS[cls] = set(cls.model_fields)
    else:
        fields_set = set(fields_set)
    _set_attr(m, "__pydantic_fields_set__", fields_set)
    _set_attr(m, "__pydantic_extra__", None)
    _set_attr(m, "__pydantic_private__", None)
    return m


_ALL_FIELDS: dict[type[BaseModel], set[str]] = {}


def updated(model: _M, update: dict[str, Any]) -> _M:
    """``model.model_copy(update=update)``: a shallow copy with ``update`` applied, not validated (the values must
    be checked ones, as with model_copy), without pydantic's generic copy machinery (a hot path's per-label copy)."""
    return checked_model(type(model), {**model.__dict__, **update}, model.model_fields_set | update.keys())


def _finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number; got {value}")
    return value


class ReviewState(StrEnum):
    """Where a label stands with people. Review edits merge back by label id."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    ADJUSTED = "adjusted"
    REJECTED = "rejected"


class Box2D(_Model):
    """Axis-aligned box in absolute pixels, ``xyxy``: x1 <= x2, y1 <= y2. x right, y down, origin top-left."""

    x1: float
    y1: float
    x2: float
    y2: float

    @model_validator(mode="after")
    def _check(self) -> Box2D:
        for name in ("x1", "y1", "x2", "y2"):
            _finite(name, getattr(self, name))
        if self.x2 < self.x1 or self.y2 < self.y1:
            raise ValueError(
                f"box must satisfy x1 <= x2 and y1 <= y2 (xyxy, absolute pixels); "
                f"got x1={self.x1}, y1={self.y1}, x2={self.x2}, y2={self.y2}"
            )
        return self

    @classmethod
    def from_xyxy(cls, xyxy: Any) -> Box2D:
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        return cls(x1=x1, y1=y1, x2=x2, y2=y2)

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height

    def clip(self, width: float, height: float) -> Box2D:
        return Box2D(
            x1=min(max(self.x1, 0.0), width),
            y1=min(max(self.y1, 0.0), height),
            x2=min(max(self.x2, 0.0), width),
            y2=min(max(self.y2, 0.0), height),
        )


class Mask(_Model):
    """Binary instance mask as COCO RLE over the whole frame. ``size`` is [height, width] (COCO order).

    ``counts`` is COCO's compressed string (the stored form) or uncompressed run lengths (accepted, normalised to
    the string on construction).
    """

    size: tuple[int, int]
    counts: str

    @field_validator("counts", mode="before")
    @classmethod
    def _normalise(cls, v: Any) -> Any:
        if isinstance(v, list | tuple):
            return rle.compress([int(c) for c in v])
        return v

    @model_validator(mode="after")
    def _check(self) -> Mask:
        h, w = self.size
        if h <= 0 or w <= 0:
            raise ValueError(f"mask size must be positive [height, width]; got {list(self.size)}")
        try:
            counts = rle.decompress(self.counts)
        except ValueError as e:
            raise ValueError(f"mask counts are not a valid COCO RLE string: {e}") from e
        total = sum(counts)
        if total != h * w or any(c < 0 for c in counts):
            raise ValueError(f"mask RLE covers {total} pixels; expected height*width = {h * w}")
        return self

    @classmethod
    def from_array(cls, mask: npt.NDArray[Any]) -> Mask:
        if mask.ndim != 2:
            raise ValueError(f"mask array must be 2D (height, width); got shape {mask.shape}")
        counts = rle.compress(rle.encode_counts(mask))
        return cls(size=(int(mask.shape[0]), int(mask.shape[1])), counts=counts)

    def to_array(self) -> npt.NDArray[np.bool_]:
        return rle.decode_counts(rle.decompress(self.counts), self.size[0], self.size[1])

    @property
    def area(self) -> int:
        return rle.area(rle.decompress(self.counts))


class Polygon(_Model):
    """One or more closed rings in absolute pixels: each ring is [x0, y0, x1, y1, ...] with at least 3 points."""

    rings: list[list[float]]

    @field_validator("rings")
    @classmethod
    def _check(cls, rings: list[list[float]]) -> list[list[float]]:
        if not rings:
            raise ValueError("polygon needs at least one ring")
        for i, ring in enumerate(rings):
            if len(ring) % 2 or len(ring) < 6:
                raise ValueError(
                    f"polygon ring {i} must be a flat x,y list with at least 3 points; got {len(ring)} numbers"
                )
            for v in ring:
                _finite(f"polygon ring {i} coordinate", v)
        return rings

    def bounds(self) -> Box2D:
        xs = [v for r in self.rings for v in r[0::2]]
        ys = [v for r in self.rings for v in r[1::2]]
        return Box2D(x1=min(xs), y1=min(ys), x2=max(xs), y2=max(ys))


class Box3D(_Model):
    """Oriented 3D box. Centre (m) and size (m) in the named frame; yaw (rad) about that frame's up axis.

    ``length`` runs along the heading (yaw = 0 points along the frame's forward axis), ``width`` across it,
    ``height`` along up. See docs/schema.md for the frame conventions (e.g. ``velodyne``: x forward, y left, z up).
    """

    x: float
    y: float
    z: float
    length: float
    width: float
    height: float
    yaw: float
    frame: str = "velodyne"

    @model_validator(mode="after")
    def _check(self) -> Box3D:
        for name in ("x", "y", "z", "length", "width", "height", "yaw"):
            _finite(name, getattr(self, name))
        for name in ("length", "width", "height"):
            if getattr(self, name) < 0:
                raise ValueError(f"3D box {name} must be >= 0 metres; got {getattr(self, name)}")
        return self


def parse_source(source: str) -> dict[str, str]:
    """Split a source string: ``model:<id>@<version>``, ``human:<worker>``, ``fused`` or ``import:<format>``."""
    if not _SOURCE_RE.match(source):
        raise ValueError(
            f"source must be 'model:<id>@<version>', 'human:<worker>', 'fused' or 'import:<format>'; got {source!r}"
        )
    if source.startswith("model:"):
        mid, ver = source[len("model:") :].split("@", 1)
        return {"kind": "model", "model": mid, "version": ver}
    if source.startswith("human:"):
        return {"kind": "human", "worker": source[len("human:") :]}
    if source.startswith("import:"):
        return {"kind": "import", "format": source[len("import:") :]}
    return {"kind": "fused"}


def make_label_id(*parts: object) -> str:
    """A stable id: the same parts give the same id (re-running a model keeps ids); no parts give a random id."""
    if not parts:
        return uuid.uuid4().hex[:16]
    return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()[:16]


class Label(_Model):
    """One object on one frame: at least one geometry, a category, provenance, score, review state."""

    id: str = Field(default_factory=make_label_id, min_length=1)
    category: str = Field(min_length=1)
    source: str
    score: float | None = Field(default=None, description="model confidence in [0, 1]; None for human labels")
    review: ReviewState = ReviewState.PENDING
    box: Box2D | None = None
    mask: Mask | None = None
    polygon: Polygon | None = None
    box3d: Box3D | None = None
    track_id: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        parse_source(v)
        return v

    @field_validator("score")
    @classmethod
    def _score(cls, v: float | None) -> float | None:
        if v is not None and not (0.0 <= v <= 1.0):
            raise ValueError(f"score must be in [0, 1]; got {v}")
        return v

    @model_validator(mode="after")
    def _geometry(self) -> Label:
        if self.box is None and self.mask is None and self.polygon is None and self.box3d is None:
            raise ValueError(f"label {self.id} has no geometry; expected at least one of box, mask, polygon, box3d")
        return self


def checked_box(x1: float, y1: float, x2: float, y2: float) -> Box2D:
    """A :class:`Box2D` from coordinates already checked (finite, x1 <= x2, y1 <= y2): see :func:`checked_model`."""
    return checked_model(Box2D, {"x1": x1, "y1": y1, "x2": x2, "y2": y2})


def checked_label(
    id: str,
    category: str,
    source: str,
    score: float | None,
    box: Box2D | None,
    attributes: dict[str, Any],
    *,
    review: ReviewState = ReviewState.PENDING,
    mask: Mask | None = None,
    polygon: Polygon | None = None,
    box3d: Box3D | None = None,
    track_id: str | None = None,
    fields_set: set[str] | None = None,
) -> Label:
    """A :class:`Label` from values already checked (every field, in the model's order: :func:`checked_model`), for
    the hot paths that build records from checked rows (label sets, fused and composed labels)."""
    return checked_model(
        Label,
        {
            "id": id,
            "category": category,
            "source": source,
            "score": score,
            "review": review,
            "box": box,
            "mask": mask,
            "polygon": polygon,
            "box3d": box3d,
            "track_id": track_id,
            "attributes": attributes,
        },
        fields_set,
    )


class CameraCalibration(_Model):
    """Pinhole camera: K (3x3, px), optional P (3x4 projection, px), D distortion, R rectification (3x3)."""

    K: list[list[float]]
    P: list[list[float]] | None = None
    R: list[list[float]] | None = None
    D: list[float] = Field(default_factory=list)
    distortion_model: str | None = None
    frame_id: str | None = None

    @field_validator("K", "R")
    @classmethod
    def _3x3(cls, v: list[list[float]] | None) -> list[list[float]] | None:
        if v is not None and (len(v) != 3 or any(len(r) != 3 for r in v)):
            raise ValueError(f"expected a 3x3 matrix; got {[len(r) for r in v]}")
        return v

    @field_validator("P")
    @classmethod
    def _3x4(cls, v: list[list[float]] | None) -> list[list[float]] | None:
        if v is not None and (len(v) != 3 or any(len(r) != 4 for r in v)):
            raise ValueError(f"expected a 3x4 matrix; got {[len(r) for r in v]}")
        return v


class Frame(_Model):
    """One image (or point cloud) to label. Holds where the pixels are, never the pixels."""

    id: str = Field(min_length=1)
    uri: str = Field(min_length=1, description="local path or URI (s3://, file://, bag://...)")
    width: int | None = Field(default=None, gt=0, description="pixels")
    height: int | None = Field(default=None, gt=0, description="pixels")
    sensor: str | None = Field(default=None, description="camera or LiDAR name, e.g. a ROS topic or 'image_2'")
    timestamp_ns: int | None = Field(default=None, description="capture time, integer nanoseconds (UTC epoch or log)")
    calibration: CameraCalibration | None = None
    kind: Literal["image", "pointcloud"] = "image"
    sequence: str | None = Field(default=None, description="sequence (video, drive, log) this frame belongs to")
    index: int | None = Field(default=None, ge=0, description="position in its sequence (0-based frame index)")
    ego_pose: Pose | None = Field(default=None, description="world_from_ego at timestamp_ns (see core/scene.py)")
    sensor_pose: Pose | None = Field(default=None, description="ego_from_sensor: where this camera or LiDAR sits")
    point_format: PointFormat | None = Field(default=None, description="point cloud encoding (kind='pointcloud')")
    cameras: list[CameraView] | None = Field(
        default=None, description="camera images synchronised with this LiDAR sweep (kind='pointcloud')"
    )
    meta: dict[str, Any] = Field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class FrameRecord(_Model):
    """What one run says about one frame: its labels, or why it failed. One JSON line in a labels file."""

    schema_version: int = SCHEMA_VERSION
    frame: Frame
    labels: list[Label] = Field(default_factory=list)
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    job: str | None = None
    created_at: str = Field(default_factory=_now)

    @model_validator(mode="after")
    def _check(self) -> FrameRecord:
        if self.status == "failed" and not self.error:
            raise ValueError(f"frame {self.frame.id}: a failed record needs an error reason")
        ids = [label.id for label in self.labels]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"frame {self.frame.id}: label ids must be unique; repeated: {dup}")
        return self

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def from_json(cls, line: str) -> FrameRecord:
        return cls.model_validate_json(line)
