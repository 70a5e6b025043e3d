"""Argoverse 2 annotations.feather on the real log: cuboids per timestamp, tracks, yaw from the quaternion."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from prelabel import formats
from prelabel.core.geometry import boxes3d as b3
from prelabel.sources.scenes import read_scenes
from prelabel.sources.scenes.points import load

LOG = "av2/sensor/val/7fab2350-7eaf-3b7e-a39d-6937a4c1bede"


def test_annotations_read_and_pair_with_sweeps(shared_data: Path) -> None:
    recs = list(formats.read("av2", str(shared_data / LOG)))
    assert len(recs) == 156
    assert sum(len(r.labels) for r in recs) == 11364
    first = recs[0].labels[0]
    assert first.box3d is not None and first.box3d.frame == "ego" and first.track_id
    # the quaternion (w 0.99995, z 0.01036) is a turn of about 1.19 degrees about z
    bike = next(lb for lb in recs[0].labels if lb.track_id == "1046f12a-152a-4e82-b61b-75468bcda8ae")
    assert bike.box3d is not None and np.degrees(bike.box3d.yaw) == pytest.approx(1.187, abs=0.01)
    tracks = Counter(lb.track_id for r in recs for lb in r.labels)
    assert max(tracks.values()) <= 156
    # the annotated sweeps are the scene reader's samples: same ids, and the cuboids hold their points
    scenes = {r.frame.id: r for r in read_scenes(str(shared_data / LOG))}
    both = [r for r in recs if r.frame.id in scenes]
    assert both
    rec = both[0]
    pts = load(scenes[rec.frame.id].frame)
    for lb in rec.labels[:30]:
        assert lb.box3d is not None
        inside = int(b3.points_in_box(pts, b3.from_box3d(lb.box3d), margin=0.05).sum())
        assert inside >= 0.8 * int(lb.attributes["num_interior_pts"])
