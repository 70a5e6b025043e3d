"""Ground Truth 3D point cloud manifests as a label format: scenes with their 3D boxes as Ground Truth cuboids.

Writing makes a Ground Truth 3D output manifest from prelabel's 3D labels, which is also the input of a Ground Truth
3D *adjustment* job (or of a review job in prelabel's portal): ``tracking=False`` an object detection frame manifest
at ``dst`` (one line per sweep, the boxes under ``attribute``, default ``3d-bounding-box``); ``tracking=True`` a
folder ``dst`` with one sequence file per sequence, its label sequence file and ``manifest.jsonl`` (the boxes under
``<attribute>-ref``, default ``lidar-label-ref``). Reading takes either kind back, cuboids as labels. Sweeps must be
float32 ``x y z intensity`` (``kitti_bin``: Ground Truth's ``binary/xyzi``). Layout and fields:
:mod:`prelabel.sources.scenes.groundtruth3d` (manifests, sequence files, poses) and
:mod:`prelabel.sources.scenes.groundtruth3d_labels` (the cuboids: world frame, right-handed yaw).
The CLI also takes ``groundtruth-3d`` / ``gt-3d`` (this format) and ``groundtruth-3d-tracking`` (``tracking=True``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from prelabel import storage
from prelabel.core.labels import FrameRecord
from prelabel.formats import FormatSpec
from prelabel.formats._common import WriteSummary, check_dst

FORMAT = "groundtruth3d"


def write(
    records: Iterable[FrameRecord],
    dst: str,
    *,
    tracking: bool = False,
    attribute: str | None = None,
    job_name: str = "prelabel-3d",
    creation_date: str | None = None,
    categories: Sequence[str] | None = None,
    overwrite: bool = False,
) -> WriteSummary:
    from prelabel.sources.scenes import groundtruth3d
    from prelabel.sources.scenes import groundtruth3d_labels as gtl

    check_dst(storage.join(dst, "manifest.jsonl") if tracking else dst, overwrite)
    recs = [r for r in records if r.status == "ok"]
    summary = WriteSummary(format=FORMAT, dst=dst)
    summary.frames = len(recs)
    summary.labels = sum(1 for r in recs for lb in r.labels if lb.box3d is not None)
    dropped = sum(1 for r in recs for lb in r.labels if lb.box3d is None)
    if dropped:
        summary.drop("labels without a 3D box", dropped)
    if tracking:
        summary.files = groundtruth3d.write_tracking(
            recs,
            dst,
            attribute=attribute or gtl.TRACKING_ATTRIBUTE,
            job_name=job_name,
            class_names=categories,
            creation_date=creation_date,
        )
        summary.files.append(storage.join(dst, "manifest.jsonl"))
    else:
        groundtruth3d.write_detection(
            recs,
            dst,
            attribute=attribute or gtl.DETECTION_ATTRIBUTE,
            job_name=job_name,
            class_names=categories,
            creation_date=creation_date,
        )
        summary.files.append(dst)
    return summary


def read(src: str, *, attribute: str | None = None) -> Iterator[FrameRecord]:
    from prelabel.sources.scenes import groundtruth3d

    return groundtruth3d.read(src, attribute=attribute)


SPEC = FormatSpec(
    name=FORMAT,
    description="SageMaker Ground Truth 3D point cloud manifests (detection frames or tracking sequences), cuboids",
    geometries=("box3d", "track", "score"),
    reader=read,
    writer=write,
)
