"""Keyframe choice per sequence for a budget, and the select -> interpolate round through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from prelabel.labelfile import read_records
from prelabel.quality.inputs import load_records
from prelabel.refine.keyframes import choose_keyframes
from tests.conftest import SHARED_DATA
from tests.helpers.cli import prelabel

KITTI = SHARED_DATA / "kitti_tracking" / "tracking" / "training" / "label_02" / "0001.txt"


@pytest.mark.usefixtures("shared_data")  # reads the shared data
def test_every_and_events_respect_the_budget() -> None:
    if not KITTI.is_file():
        pytest.skip("kitti_tracking data not present")
    recs = load_records(KITTI, "kitti")
    every = choose_keyframes(recs, 45, mode="every")
    assert len(every.frames) == 45 and every.frames[0] == "0001/000000" and every.frames[-1] == "0001/000446"
    events = choose_keyframes(recs, 45, mode="events")
    assert len(events.frames) == 45 and events.frames[0] == "0001/000000"
    born = sum(any(r.startswith("born:") for r in events.reasons[f]) for f in events.frames)
    assert born > sum(any(r.startswith("born:") for r in every.reasons.get(f, [])) for f in every.frames)


@pytest.mark.usefixtures("shared_data")  # reads the shared data
def test_select_then_interpolate(tmp_path: Path) -> None:
    if not KITTI.is_file():
        pytest.skip("kitti_tracking data not present")
    labels = tmp_path / "gt.jsonl"
    labels.write_text("".join(r.to_json() + "\n" for r in load_records(KITTI, "kitti")))
    keys = tmp_path / "keys.tsv"
    r = prelabel("select", labels, "--budget", "30", "--keyframes", "events", "-o", keys)
    assert r.returncode == 0, r.stderr
    assert "chose 30 keyframes of 447 frames" in r.stdout and len(keys.read_text().splitlines()) == 30
    out = tmp_path / "filled.jsonl"
    r = prelabel("interpolate", labels, "--keyframes", keys, "-o", out)
    assert r.returncode == 0, r.stderr
    filled = read_records(out)
    assert sum(bool(lab.attributes.get("keyframe")) for rec in filled for lab in rec.labels) > 0
    assert sum(bool(lab.attributes.get("interpolated")) for rec in filled for lab in rec.labels) > 1000
