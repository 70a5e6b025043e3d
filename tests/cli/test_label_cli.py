"""`prelabel label` and `prelabel show` end to end on real KITTI frames, through the installed command."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from prelabel.labelfile import read_records
from tests.helpers.cli import prelabel

FRAMES = ["000001", "000008", "000013"]


@pytest.fixture()
def frames(kitti_frames: Callable[..., Path]) -> Path:
    return kitti_frames(*FRAMES)


def test_label_then_show(frames: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "labels.jsonl"
    r = prelabel("label", str(frames), "--model", "ssd-mobilenet-v2-coco", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "frames: 3  labelled: 3  failed: 0" in r.stdout
    assert "car" in r.stdout
    assert "frames/s" in r.stderr  # the progress bar's rate
    records = read_records(out)
    assert [rec.frame.id for rec in records] == FRAMES
    assert all(rec.frame.width == 1242 for rec in records)
    cars = [lab for rec in records for lab in rec.labels if lab.category == "car"]
    assert len(cars) >= 5
    assert all(lab.source == "model:ssd-mobilenet-v2-coco@2018.03.29" and lab.review == "pending" for lab in cars)

    png = tmp_path / "000008.png"
    r = prelabel("show", str(out), "--frame", "000008", "-o", str(png))
    assert r.returncode == 0, r.stderr
    import cv2

    img = cv2.imread(str(png))
    orig = cv2.imread(str(frames / "000008.png"))
    assert img.shape == orig.shape
    assert (img != orig).any(axis=2).mean() > 0.01  # boxes and text were drawn

    r = prelabel("show", str(out), "--all", "-o", str(tmp_path / "overlays"))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "overlays").iterdir()) == [f"{f}.png" for f in FRAMES]


def test_bad_frames_are_recorded_and_the_run_goes_on(frames: Path, tmp_path: Path) -> None:
    (frames / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)  # a truncated PNG
    (frames / "empty.jpg").write_bytes(b"")
    out = tmp_path / "labels.jsonl"
    r = prelabel("label", str(frames), "--out", str(out))
    assert r.returncode == 1, r.stderr
    assert "frames: 5  labelled: 3  failed: 2" in r.stdout
    failed = {rec.frame.id: rec.error for rec in read_records(out) if rec.status == "failed"}
    assert set(failed) == {"broken", "empty"}
    assert "not a decodable image" in failed["broken"]
    assert "empty" in failed["empty"]
    assert "broken" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["label", "/no/such/folder", "--out", "{tmp}/o.jsonl"], "error: input not found: /no/such/folder"),
        (
            ["label", "{frames}", "--model", "yolo9000", "--out", "{tmp}/o.jsonl"],
            "unknown model 'yolo9000'; expected",
        ),
        (["label", "{tmp}/readme.md", "--out", "{tmp}/o.jsonl"], "cannot read"),
        (["show", "{tmp}/none.jsonl", "--frame", "1", "-o", "{tmp}/x.png"], "labels file not found"),
        (["label", "{frames}", "--out", "{tmp}/exists.jsonl"], "output already exists"),
    ],
)
def test_bad_input_gives_one_clear_line(args: list[str], message: str, frames: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("/no/such/image.png\n")
    (tmp_path / "readme.md").write_text("not an image")
    (tmp_path / "exists.jsonl").write_text("precious\n")
    r = prelabel(*[a.format(tmp=tmp_path, frames=frames) for a in args])
    assert r.returncode != 0
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert lines and message.split("{")[0] in lines[-1], r.stderr
    assert "Traceback" not in r.stderr
    assert (tmp_path / "exists.jsonl").read_text() == "precious\n"  # never overwritten silently


def test_list_file_with_a_missing_image_records_it(tmp_path: Path, frames: Path) -> None:
    listing = tmp_path / "frames.txt"
    listing.write_text(f"{frames / '000001.png'}\nmissing/000999.png\n")
    r = prelabel("label", str(listing), "--out", str(tmp_path / "o.jsonl"))
    assert r.returncode == 1
    failed = [rec for rec in read_records(tmp_path / "o.jsonl") if rec.status == "failed"]
    assert [rec.frame.id for rec in failed] == ["missing/000999"]
    assert "not found" in (failed[0].error or "")


def test_models_list_and_info() -> None:
    r = prelabel("models", "list")
    assert r.returncode == 0 and "ssd-mobilenet-v2-coco" in r.stdout
    r = prelabel("models", "info", "ssd-mobilenet-v2-coco")
    info = json.loads(r.stdout)
    assert info["runtime"] == "opencv-tf" and len(info["files"]["weights"]["sha256"]) == 64


def test_commands_accept_the_folder_label_wrote(frames: Path, tmp_path: Path, kitti: Path) -> None:
    out = tmp_path / "run"
    r = prelabel("label", str(frames), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert (out / "labels.jsonl").is_file()
    r = prelabel("export", str(out), "--to", "coco", "--out", str(tmp_path / "coco.json"))
    assert r.returncode == 0, r.stderr
    assert len(json.loads((tmp_path / "coco.json").read_text())["images"]) == 3
    r = prelabel("convert", "--from", "labels", "--to", "yolo", str(out), str(tmp_path / "yolo"))
    assert r.returncode == 0, r.stderr
    assert sorted(p.stem for p in (tmp_path / "yolo").glob("0*.txt")) == FRAMES
    r = prelabel("fuse", str(out), str(out), "--out", str(tmp_path / "fused.jsonl"))
    assert r.returncode == 0, r.stderr
    assert [rec.frame.id for rec in read_records(tmp_path / "fused.jsonl")] == FRAMES
    gt = tmp_path / "gt"
    gt.mkdir()
    for f in FRAMES:
        shutil.copy(kitti / "label_2" / f"{f}.txt", gt)
    r = prelabel("eval", str(out), "--gt", str(gt), "--class-map", "coco80-to-kitti")
    assert r.returncode == 0, r.stderr
    assert "Car" in r.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    r = prelabel("export", str(empty), "--to", "coco", "--out", str(tmp_path / "c2.json"))
    assert r.returncode == 2 and "labels.jsonl" in r.stderr and "Traceback" not in r.stderr


def test_image_over_the_pixel_limit_is_a_per_frame_failure(frames: Path, tmp_path: Path) -> None:
    from tests.helpers.images import png_header_only

    (frames / "bomb.png").write_bytes(png_header_only(30000, 30000))  # 875 KB would decode to 2.7 GB
    out = tmp_path / "labels.jsonl"
    r = prelabel("label", str(frames), "--out", str(out))
    assert r.returncode == 1, r.stderr
    assert "frames: 4  labelled: 3  failed: 1" in r.stdout
    failed = {rec.frame.id: rec.error for rec in read_records(out) if rec.status == "failed"}
    assert set(failed) == {"bomb"}
    assert "30000x30000" in failed["bomb"] and "--max-pixels" in failed["bomb"]
    # a lower limit refuses the real KITTI frames (1242x375 = 465,750 pixels) as well
    r = prelabel("label", str(frames), "--out", str(tmp_path / "low.jsonl"), "--max-pixels", "400000")
    assert r.returncode == 1, r.stderr
    assert "frames: 4  labelled: 0  failed: 4" in r.stdout
    assert "over the limit of 400,000" in r.stdout
