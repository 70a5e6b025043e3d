"""``prelabel show`` on a scene: one PNG with the bird's-eye view and every camera, boxes projected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from prelabel.core.labels import Box3D, FrameRecord, Label
from prelabel.labelfile import write_records
from prelabel.sources.scenes import read_scenes


def test_show_draws_the_bev_and_every_camera(shared_data: Path, tmp_path: Path) -> None:
    import cv2

    from prelabel.cli.main import app

    (scene,) = list(read_scenes(str(shared_data / "nuscenes/mmdet3d_demo/n015-2018-07-24-11-22-45+0800.pkl")))
    # a car 10 m ahead of the ego vehicle, written in the LiDAR frame (LIDAR_TOP: x right, y forward)
    box = Box3D(x=0.0, y=10.0, z=-1.0, length=4.0, width=1.8, height=1.5, yaw=np.pi / 2, frame="lidar")
    labels = [Label(category="car", source="human:test", box3d=box)]
    path = tmp_path / "scene.jsonl"
    write_records(path, [FrameRecord(frame=scene.frame, labels=labels)])
    res = CliRunner().invoke(app, ["show", str(path), "--all", "-o", str(tmp_path / "pics")])
    assert res.exit_code == 0, res.output
    (png,) = list((tmp_path / "pics").glob("*.png"))
    img = cv2.imread(str(png))
    # bird's-eye view (60 x 70 m at 10 px/m, widened to two columns) over three rows of two cameras
    assert img.shape[1] == 1200 and img.shape[0] > 700 + 3 * 300
    # the box is drawn in CAM_FRONT (top-left camera panel) and nowhere in CAM_BACK (second row, right)
    cams = [c.name for c in scene.frame.cameras or []]

    def changed(i: int) -> float:
        raw = cv2.resize(cv2.imread((scene.frame.cameras or [])[i].uri), (600, 337))
        y, x = 700 + (i // 2) * 337, (i % 2) * 600
        diff = np.abs(img[y + 40 : y + 337, x : x + 600].astype(int) - raw[40:].astype(int)).sum(axis=2) > 30
        return float(diff.mean())

    assert changed(cams.index("CAM_FRONT")) > 0.003
    assert changed(cams.index("CAM_BACK")) < 0.0005
