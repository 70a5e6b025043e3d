"""The canonical data model: frames, labels and their geometry. numpy and pydantic only, no I/O.

Conventions (see docs/schema.md): 2D boxes are absolute pixels ``xyxy`` (x right, y down, origin at the top-left
corner of the top-left pixel); masks are COCO RLE; polygons are pixel ``x, y`` lists; 3D boxes are centre x, y, z in
metres, size length, width, height in metres and yaw in radians about the named frame's up axis.
"""

from prelabel.core.detections import Detections
from prelabel.core.labels import (
    Box2D,
    Box3D,
    CameraCalibration,
    Frame,
    FrameRecord,
    Label,
    Mask,
    Polygon,
    ReviewState,
    make_label_id,
    parse_source,
)

__all__ = [
    "Box2D",
    "Box3D",
    "CameraCalibration",
    "Detections",
    "Frame",
    "FrameRecord",
    "Label",
    "Mask",
    "Polygon",
    "ReviewState",
    "make_label_id",
    "parse_source",
]
