"""`prelabel anonymise` on real frames: faces found by CenterFace (fetched and sha256-checked through the model
fetcher) are blurred into new files beside a record; inputs are never touched."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from prelabel.errors import OutputExistsError, PrelabelError
from prelabel.labelfile import read_records
from prelabel.privacy.anonymise import RECORD, anonymise, blur_faces


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def frames(kitti_frames: Callable[..., Path]) -> Path:
    return kitti_frames("000010", "000003")  # 000010: two pedestrians facing the camera


def test_folder_blurred_copies_and_record(frames: Path, tmp_path: Path) -> None:
    import cv2

    before = _digest(frames)
    out = tmp_path / "anon"
    s = anonymise(str(frames), out)
    assert _digest(frames) == before  # the input is untouched
    assert s.frames == 2 and s.failed == 0 and s.faces >= 2
    records = {r.frame.id: r for r in read_records(out / RECORD)}
    faces = records["000010"].labels
    assert len(faces) >= 2 and all(f.category == "face" and f.attributes["blurred"] for f in faces)
    assert all(f.source.startswith("model:centerface@") for f in faces)
    orig = cv2.imread(str(frames / "000010.png"))
    blurred = cv2.imread(str(out / "000010.png"))
    assert records["000010"].frame.meta["anonymised"] == str(out / "000010.png")
    for f in faces:
        assert f.box is not None
        x1, y1, x2, y2 = (int(v) for v in f.box.xyxy)
        face_o, face_b = orig[y1:y2, x1:x2].astype(float), blurred[y1:y2, x1:x2].astype(float)
        assert np.abs(face_o - face_b).mean() > 2.0  # changed
        assert face_b.std() < face_o.std()  # and smoother
    far = blurred[300:, :200] == orig[300:, :200]
    assert far.all()  # nothing else changed


def test_never_overwrites_and_refuses_bad_outputs(frames: Path, tmp_path: Path) -> None:
    with pytest.raises(PrelabelError, match="is inside the input"):
        anonymise(str(frames), frames / "anon")
    with pytest.raises(PrelabelError, match="is inside the input"):
        anonymise(str(frames / "000010.png"), frames)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError):
        anonymise(str(frames), busy)
    assert (busy / "keep.txt").read_text() == "mine"


def test_video_and_bag(kitti: Path, shared_data: Path, tmp_path: Path) -> None:
    import cv2

    video = tmp_path / "drive.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), 5.0, (1242, 375))
    for f in ("000010", "000011", "000012"):
        writer.write(cv2.resize(cv2.imread(str(kitti / "image_2" / f"{f}.png")), (1242, 375)))
    writer.release()
    s = anonymise(str(video), tmp_path / "v")
    out = tmp_path / "v" / "drive.anonymised.mp4"
    cap = cv2.VideoCapture(str(out))
    assert s.frames == 3 and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()
    assert len(read_records(tmp_path / "v" / RECORD)) == 3

    bag = shared_data / "rosbags" / "kitti_object_3f_sqlite3"
    s = anonymise(str(bag), tmp_path / "b")
    pngs = sorted((tmp_path / "b").rglob("*.png"))
    assert s.frames == 3 and s.failed == 0 and len(pngs) == 3


def test_blur_only_inside_the_ellipse() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    out = blur_faces(image, np.array([[20, 10, 40, 40]]), scale=1.0)
    assert (out[:5] == image[:5]).all() and (out[25, 30] != image[25, 30]).any()
