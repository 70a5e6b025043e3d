"""Track ids survive a round trip through every tracking format; bad tracked input is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from prelabel import formats
from prelabel.core.labels import FrameRecord
from prelabel.core.sequences import TrackIdError
from prelabel.quality.inputs import load_records
from tests.conftest import SHARED_DATA

DATA = SHARED_DATA
BDD = DATA / "scalabel_eval" / "eval" / "box_track" / "track_sample_anns.json"
KITTI = DATA / "kitti_tracking" / "tracking" / "training" / "label_02" / "0001.txt"


def _key(recs: list[FrameRecord], category: bool = True) -> dict[tuple[object, ...], tuple[float, ...]]:
    out = {}
    for r in recs:
        for lab in r.labels:
            assert lab.box is not None
            out[(r.frame.index, lab.track_id, lab.category if category else "")] = lab.box.xyxy
    return out


def _same(a: dict[tuple[object, ...], tuple[float, ...]], b: dict[tuple[object, ...], tuple[float, ...]]) -> bool:
    return a.keys() == b.keys() and all(max(abs(x - y) for x, y in zip(a[k], b[k], strict=True)) < 0.01 for k in a)


@pytest.fixture(scope="module")
def bdd(shared_data: Path) -> list[FrameRecord]:
    if not BDD.is_file():
        pytest.skip("scalabel_eval data not present")
    return load_records(BDD)


@pytest.mark.parametrize(
    ("fmt", "name", "category"),
    [
        ("scalabel", "video.json", True),
        ("cvat-video", "video.xml", True),
        ("mot", "video.txt", False),
        ("groundtruth-video", "out/output.manifest", True),
    ],
)
def test_bdd_round_trip(bdd: list[FrameRecord], tmp_path: Path, fmt: str, name: str, category: bool) -> None:
    dst = tmp_path / name
    if fmt == "mot":  # MOTChallenge ids are whole numbers
        ids = {t: str(i + 1) for i, t in enumerate(sorted({lab.track_id for r in bdd for lab in r.labels}))}
        bdd = [
            r.model_copy(
                update={"labels": [lab.model_copy(update={"track_id": ids[lab.track_id]}) for lab in r.labels]}
            )
            for r in bdd
        ]
    summary = formats.write(fmt, bdd, str(dst))
    assert summary.labels == sum(len(r.labels) for r in bdd)
    back = list(formats.read(fmt, str(dst)))
    assert {r.frame.sequence for r in back} == {"b1c66a42-6f7d68ca"} or fmt in ("mot", "groundtruth-video")
    assert _same(_key(back, category), _key(bdd, category))
    if fmt == "groundtruth-video":
        assert [r.frame.index for r in back] == list(range(202))


def test_cvat_video_marks_outside_and_keyframes(bdd: list[FrameRecord], tmp_path: Path) -> None:
    first = bdd[0].labels[0]
    recs = [r.model_copy() for r in bdd[:5]]
    recs[2] = recs[2].model_copy(
        update={"labels": [lab.model_copy(update={"attributes": {"interpolated": True}}) for lab in recs[2].labels]}
    )
    dst = tmp_path / "v.xml"
    formats.write("cvat-video", recs, str(dst))
    xml = dst.read_text()
    assert '<track id="' + str(first.track_id) + '"' in xml and 'keyframe="0"' in xml and 'outside="1"' in xml
    back = list(formats.read("cvat-video", str(dst)))
    assert all(lab.attributes.get("interpolated") for lab in back[2].labels)
    assert not any(lab.attributes.get("interpolated") for lab in back[1].labels)


@pytest.mark.usefixtures("shared_data")  # reads the shared data
def test_kitti_tracking_round_trip(tmp_path: Path) -> None:
    if not KITTI.is_file():
        pytest.skip("kitti_tracking data not present")
    recs = load_records(KITTI, "kitti")
    summary = formats.write("kitti", recs, str(tmp_path / "label_02"))
    assert summary.files == [str(tmp_path / "label_02" / "0001.txt")]
    back = load_records(tmp_path / "label_02" / "0001.txt", "kitti")
    assert _same(_key(back), _key(recs))
    assert len({lab.track_id for r in back for lab in r.labels if lab.track_id}) == 98 + 0


@pytest.mark.usefixtures("shared_data")  # reads the shared data
def test_one_id_twice_in_a_frame_is_named(tmp_path: Path) -> None:
    sample = DATA / "scalabel_eval" / "label" / "motchallenge_labels.txt"
    if not sample.is_file():
        pytest.skip("scalabel_eval data not present")
    with pytest.raises(TrackIdError, match="track id 1 appears twice in frame motchallenge_labels/000001"):
        list(formats.read("mot", str(sample)))
    bad = tmp_path / "bad.txt"
    bad.write_text("1,4,10,10,5,5,1,1,1\n1,4,20,20,5,5,1,1,1\n")
    with pytest.raises(TrackIdError, match="track id 4 appears twice in frame bad/000001"):
        list(formats.read("mot", str(bad)))
