"""A small, fixed label set that every format test writes: the edge cases a labelling team hits.

frame a (640x480): a scored car, a person box touching the image borders, a degenerate (zero-width) box,
a unicode class name, a polygon, and a mask. frame b (640x480): no labels. frame c: a KITTI-style camera 3D box.
"""

from __future__ import annotations

import numpy as np

from prelabel.core.labels import Box2D, Box3D, Frame, FrameRecord, Label, Mask, Polygon, ReviewState

CREATED = "2026-01-01T00:00:00+00:00"
SRC = "model:ssd-mobilenet-v2-coco@1"


def _mask() -> Mask:
    m = np.zeros((480, 640), dtype=bool)
    m[100:140, 200:260] = True
    return Mask.from_array(m)


def sample_records(*, with_mask: bool = True, with_3d: bool = True) -> list[FrameRecord]:
    a = FrameRecord(
        frame=Frame(id="a", uri="/data/images/a.png", width=640, height=480),
        created_at=CREATED,
        labels=[
            Label(id="l-car", category="car", source=SRC, score=0.875, box=Box2D(x1=10, y1=20, x2=110.5, y2=80.25)),
            Label(id="l-border", category="person", source=SRC, score=0.5, box=Box2D(x1=0, y1=0, x2=640, y2=480)),
            Label(id="l-degenerate", category="car", source=SRC, score=0.25, box=Box2D(x1=300, y1=200, x2=300, y2=230)),
            Label(
                id="l-unicode",
                category="Fußgänger 行人",
                source="human:anna",
                review=ReviewState.ACCEPTED,
                box=Box2D(x1=50, y1=60, x2=70, y2=100),
            ),
            Label(
                id="l-poly",
                category="truck",
                source=SRC,
                score=0.75,
                box=Box2D(x1=400, y1=300, x2=500, y2=400),
                polygon=Polygon(rings=[[400, 300, 500, 300, 500, 400, 400, 400]]),
            ),
        ],
    )
    if with_mask:
        a.labels.append(
            Label(
                id="l-mask",
                category="bus",
                source=SRC,
                score=0.625,
                box=Box2D(x1=200, y1=100, x2=260, y2=140),
                mask=_mask(),
            )
        )
    b = FrameRecord(frame=Frame(id="b", uri="/data/images/b.png", width=640, height=480), created_at=CREATED)
    recs = [a, b]
    if with_3d:
        c = FrameRecord(
            frame=Frame(id="c", uri="/data/images/c.png", width=1242, height=375),
            created_at=CREATED,
            labels=[
                Label(
                    id="l-3d",
                    category="Car",
                    source="human:kitti",
                    box=Box2D(x1=387.63, y1=181.54, x2=423.81, y2=203.12),
                    box3d=Box3D(
                        x=-16.53, y=1.555, z=58.49, length=3.69, width=1.87, height=1.67, yaw=-1.57, frame="camera"
                    ),
                    attributes={"truncated": 0.0, "occluded": 0, "alpha": 1.85},
                ),
            ],
        )
        recs.append(c)
    return recs


def boxes_of(rec: FrameRecord) -> list[tuple[str, tuple[float, ...] | None]]:
    """(category, rounded box) per label, sorted: what every box format must keep."""
    out = []
    for lb in rec.labels:
        box = None if lb.box is None else tuple(round(v, 3) for v in lb.box.xyxy)
        out.append((lb.category, box))
    return sorted(out, key=lambda t: (t[0], t[1] or ()))
