"""Damaged bags: copies of the real KITTI bags cut short (or garbage after the MCAP magic) yield the frames before the
damage, pixel-exact, plus one failed item saying where the damage starts; nothing readable is a one-line error."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from prelabel.cli.main import app
from prelabel.errors import UnreadableInputError
from prelabel.labelfile import read_records
from prelabel.sources.frames import iter_decoded
from prelabel.sources.rosbag import DAMAGED, DamagedBagWarning, bag_frames
from tests.helpers.cli import prelabel
from tests.helpers.kitti import load_rgb

ROS1 = "kitti_object_10f.bag"
MCAP = "kitti_object_10f_mcap/kitti_object_10f_mcap.mcap"


def _cut(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@pytest.mark.parametrize(("bag", "fraction"), [(ROS1, 0.35), (ROS1, 0.8), (MCAP, 0.4), (MCAP, 0.9)])
def test_cut_bag_yields_the_frames_before_the_damage(
    bag: str, fraction: float, rosbags: Path, kitti: Path, stamp_to_kitti: dict[int, str], tmp_path: Path
) -> None:
    path = _cut(rosbags / bag, tmp_path / Path(bag).name, fraction)
    with pytest.warns(DamagedBagWarning, match=r"damaged from byte [\d,]+ \(after message \d+\)"):
        frames = list(bag_frames(str(path)))
    good, damaged = frames[:-1], frames[-1]
    assert damaged.sensor == DAMAGED and "damaged from byte" in damaged.meta["damaged"]
    offset = int(damaged.id.rsplit("-", 1)[1])
    assert 0 < offset < path.stat().st_size
    # the frames before the cut: a prefix of the full bag's frames, in order; roughly the cut's share of them
    assert [f.timestamp_ns for f in good] == sorted(stamp_to_kitti)[: len(good)]
    assert int(10 * fraction) - 2 <= len(good) <= int(10 * fraction)
    seen = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DamagedBagWarning)
        for frame, rgb, error in iter_decoded(frames):
            if frame.sensor == DAMAGED:
                assert rgb is None and error is not None and "damaged from byte" in error
                continue
            assert error is None, error
            assert rgb is not None and np.array_equal(rgb, load_rgb(kitti, stamp_to_kitti[frame.timestamp_ns or 0]))
            seen += 1
    assert seen == len(good)


def test_cut_rosbag2_folder(rosbags: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bag2"
    shutil.copytree(rosbags / "kitti_object_10f_mcap", folder)
    (folder / "kitti_object_10f_mcap.mcap").chmod(0o644)
    _cut(rosbags / MCAP, folder / "kitti_object_10f_mcap.mcap", 0.5)
    with pytest.warns(DamagedBagWarning):
        frames = list(bag_frames(str(folder)))
    assert 3 <= len(frames) - 1 <= 5 and frames[-1].sensor == DAMAGED


def test_mcap_magic_then_garbage_is_one_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "garbage.mcap"
    p.write_bytes(b"\x89MCAP0\r\n" + b"\xff" * 200)
    with pytest.raises(UnreadableInputError, match=r"garbage.mcap.*no message could be read.*byte 8"):
        list(bag_frames(str(p)))
    for args in (["extract", str(p), "--out", str(tmp_path / "x")], ["label", str(p), "--out", str(tmp_path / "l")]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 2 and "Traceback" not in r.output
        assert "garbage.mcap" in r.output and "byte 8" in r.output


def test_extract_and_label_on_a_cut_mcap(rosbags: Path, tmp_path: Path) -> None:
    path = _cut(rosbags / MCAP, tmp_path / "cut.mcap", 0.4)
    r = prelabel("extract", str(path), "--out", str(tmp_path / "ex"))
    assert r.returncode == 1, r.stderr  # per-item failure: the damaged rest
    assert "Traceback" not in r.stderr
    assert "warning: " in r.stderr and "damaged from byte" in r.stderr
    assert len(list((tmp_path / "ex" / "kitti_camera_color_left_image_raw_compressed").glob("*.png"))) >= 2
    r = prelabel("label", str(path), "--out", str(tmp_path / "lab"))
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    records = read_records(tmp_path / "lab")
    failed = [rec for rec in records if rec.status == "failed"]
    assert len(failed) == 1 and "damaged from byte" in (failed[0].error or "")
    assert len(records) - 1 >= 2 and all(rec.status == "ok" for rec in records if rec not in failed)


def test_extract_refuses_bag_images_over_the_pixel_limit(rosbags: Path, tmp_path: Path) -> None:
    # KITTI frames are 1242x375 = 465,750 pixels; the limit is checked from each message's declared size
    r = CliRunner().invoke(
        app,
        [
            "extract",
            str(rosbags / ROS1),
            "--out",
            str(tmp_path / "x"),
            "--topics",
            "/kitti/camera_color_left/image_raw",
            "--max-pixels",
            "400000",
        ],
    )
    assert r.exit_code == 1, r.output
    assert "/kitti/camera_color_left/image_raw (failed): 10 files" in r.output
