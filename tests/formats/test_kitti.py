from __future__ import annotations

import math
from pathlib import Path

import pytest

from prelabel.core.labels import FrameRecord
from prelabel.errors import FormatError
from prelabel.formats import kitti as kitti_fmt

from .golden import check_golden
from .samples import sample_records


def test_reads_real_kitti_label_2(kitti: Path) -> None:
    recs = list(kitti_read(kitti))
    assert [r.frame.id for r in recs] == [f"{i:06d}" for i in range(30)]
    rec = recs[1]
    assert (rec.frame.width, rec.frame.height) == (1242, 375)
    assert rec.frame.uri.endswith("image_2/000001.png")
    lines = (kitti / "label_2" / "000001.txt").read_text().split("\n")
    assert len(rec.labels) == len([ln for ln in lines if ln.strip()]) == 7
    truck = rec.labels[0]
    # Truck 0.00 0 -1.57 599.41 156.40 629.75 189.25 2.85 2.63 12.34 0.47 1.49 69.44 -1.56
    assert truck.category == "Truck" and truck.source == "import:kitti" and truck.score is None
    assert truck.box is not None and truck.box.xyxy == (599.41, 156.40, 629.75, 189.25)
    b3 = truck.box3d
    assert b3 is not None and b3.frame == "camera"
    assert (b3.height, b3.width, b3.length) == (2.85, 2.63, 12.34)
    assert (b3.x, b3.z) == (0.47, 69.44) and math.isclose(b3.y, 1.49 - 2.85 / 2)
    assert b3.yaw == 1.56
    assert truck.attributes == {"truncated": 0.0, "occluded": 0, "alpha": -1.57}
    dontcare = [lb for lb in rec.labels if lb.category == "DontCare"]
    assert len(dontcare) == 4 and all(lb.box3d is None and lb.box is not None for lb in dontcare)
    assert rec.frame.calibration is not None and rec.frame.calibration.P is not None
    assert rec.frame.calibration.P[0][0] == pytest.approx(721.5377)


def kitti_read(path: Path, **kw: object) -> list[FrameRecord]:
    return list(kitti_fmt.read(str(path), **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize("sub", ["", "label_2", "label_2/000001.txt"])
def test_accepts_folder_label_2_or_one_file(kitti: Path, sub: str) -> None:
    recs = kitti_read(kitti / sub if sub else kitti)
    one = next(r for r in recs if r.frame.id == "000001")
    assert one.frame.width == 1242 and len(one.labels) == 7


def test_every_real_line_round_trips_exactly(kitti: Path, tmp_path: Path) -> None:
    recs = kitti_read(kitti)
    summary = kitti_fmt.write(recs, str(tmp_path / "label_2"))
    assert summary.frames == 30 and not summary.dropped
    for txt in sorted((kitti / "label_2").glob("*.txt")):
        want = [[float(v) if i else v for i, v in enumerate(ln.split())] for ln in txt.read_text().splitlines()]
        got = [
            [float(v) if i else v for i, v in enumerate(ln.split())]
            for ln in (tmp_path / "label_2" / txt.name).read_text().splitlines()
        ]
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g[0] == w[0]
            assert g[1:] == pytest.approx(w[1:], abs=1e-6), txt.name
    again = kitti_read(tmp_path / "label_2", image_dir=str(kitti / "image_2"))
    assert [r.labels for r in again] == [r.labels for r in recs]


def test_reads_real_tracking_labels(shared_data: Path) -> None:
    root = shared_data / "kitti_tracking" / "tracking" / "training"
    recs = kitti_read(root)
    lines = [ln for ln in (root / "label_02" / "0001.txt").read_text().splitlines() if ln.strip()]
    assert sum(len(r.labels) for r in recs) == len(lines)
    assert recs[0].frame.id == "0001/000000" and recs[0].frame.width == 1242
    tracks = {lb.track_id for r in recs for lb in r.labels if lb.track_id is not None}
    assert len(tracks) == len({ln.split()[1] for ln in lines if ln.split()[1] != "-1"})


def test_golden_write(tmp_path: Path) -> None:
    summary = kitti_fmt.write(sample_records(), str(tmp_path))
    assert summary.frames == 3 and summary.dropped == {"masks": 1}
    for name in ("a.txt", "b.txt", "c.txt"):
        check_golden(f"kitti/{name}", (tmp_path / name).read_text(encoding="utf-8"))
    assert (tmp_path / "b.txt").read_text() == ""  # an empty frame is an empty file
    back = {r.frame.id: r for r in kitti_read(tmp_path)}
    c = back["c"].labels[0]
    orig = sample_records()[2].labels[0]
    assert c.box == orig.box and c.box3d is not None and orig.box3d is not None
    assert c.box3d.model_dump() == pytest.approx(orig.box3d.model_dump())
    assert {lb.category for lb in back["a"].labels} >= {"Fußgänger_行人", "car", "person"}


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    kitti_fmt.write(sample_records(), str(tmp_path))
    with pytest.raises(FileExistsError, match="a.txt"):
        kitti_fmt.write(sample_records(), str(tmp_path))
    kitti_fmt.write(sample_records(), str(tmp_path), overwrite=True)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Car 0 0 0 1 2 3 4 1 1 1 0 0 0", "expected 15 fields"),
        ("Car 0 0 0 10 2 3 4 1 1 1 0 0 0 0", "left <= right"),
        ("Car 0 0 0 1 2 x 4 1 1 1 0 0 0 0", "must be numbers"),
        ("Car 0 0 0 1 2 3 4 1 1 1 0 0 nan 0", "finite"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "000007.txt").write_text("Car 0 0 0 1 2 3 4 1 1 1 0 0 0 0\n" + line + "\n")
    with pytest.raises(FormatError, match=message) as e:
        kitti_read(tmp_path)
    assert "000007.txt:2" in str(e.value)
