"""3D pre-labels on the nuScenes keyframe at hand (6 cameras + LIDAR_TOP), scored nuScenes-style.

    python -m benchmarks.bench_lidar3d_nuscenes

One keyframe only (``../shared/data/nuscenes/mmdet3d_demo``): a smoke figure, not a benchmark of record. Ground
truth: the info pickle's 3D boxes with at least 5 LiDAR points within 50 m (mmdetection3d boxes: bottom centre,
moved to the geometric centre). Pre-labels: ``prelabel.lidar.run.label_scenes`` with tiled NanoDet.
"""

from __future__ import annotations

import pickle
from collections import Counter

import numpy as np

from benchmarks.bench_fusion import DATA

PKL = DATA / "nuscenes" / "mmdet3d_demo" / "n015-2018-07-24-11-22-45+0800.pkl"


def main() -> None:
    from prelabel.core.labels import Box3D, FrameRecord, Label
    from prelabel.lidar.run import label_scenes
    from prelabel.quality import ap3d
    from prelabel.quality.eval3d import pair

    data = pickle.loads(PKL.read_bytes())  # a file of the shared test data: trusted
    cats = {v: k for k, v in data["metainfo"]["categories"].items()}
    (pred,) = list(label_scenes(str(PKL)))
    labels = []
    for i, inst in enumerate(data["data_list"][0]["instances"]):
        x, y, z, length, w, h, yaw = inst["bbox_3d"]
        if inst.get("num_lidar_pts", 0) < 5 or np.hypot(x, y) > 50 or inst["bbox_label_3d"] < 0:
            continue
        box = Box3D(x=x, y=y, z=z + h / 2, length=length, width=w, height=h, yaw=yaw, frame="lidar")
        labels.append(Label(id=f"g{i}", category=cats[inst["bbox_label_3d"]], source="human:nuscenes", box3d=box))
    frames = pair([FrameRecord(frame=pred.frame, labels=labels)], [pred])
    print(f"ground truth: {dict(Counter(lb.category for lb in labels))}; pre-labels: {len(pred.labels)}")
    for cls in ("Car", "Pedestrian"):
        aps = [ap3d.nuscenes_ap(frames, cls, d)[0] for d in (0.5, 1.0, 2.0, 4.0)]
        print(f"{cls} AP at 0.5/1/2/4 m: " + " / ".join("-" if a is None else f"{100 * a:.1f}" for a in aps))


if __name__ == "__main__":
    main()
