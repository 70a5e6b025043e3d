"""YOLO, Pascal VOC and CVAT: golden files, round trips, real KITTI frames through each, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prelabel.core.labels import FrameRecord
from prelabel.errors import FormatError
from prelabel.formats import cvat, voc, yolo
from prelabel.formats import kitti as kitti_fmt

from .golden import check_golden
from .samples import boxes_of, sample_records


def _approx_boxes(recs: list[FrameRecord], digits: int = 2) -> list[list[tuple[str, tuple[float, ...] | None]]]:
    return [[(c, None if b is None else tuple(round(v, digits) for v in b)) for c, b in boxes_of(r)] for r in recs]


# ----------------------------------------------------------------- YOLO


def test_yolo_detect_golden_and_round_trip(tmp_path: Path) -> None:
    recs = sample_records()
    s = yolo.write(recs, str(tmp_path / "labels"))
    assert s.frames == 3 and s.categories == sorted({lb.category for r in recs for lb in r.labels})
    for name in ("a.txt", "b.txt", "c.txt", "classes.txt"):
        check_golden(f"yolo/{name}", (tmp_path / "labels" / name).read_text(encoding="utf-8"))
    # the border box is the whole image: centre 0.5, size 1
    assert "0.5 0.5 1 1" in (tmp_path / "labels" / "a.txt").read_text()
    sizes = {r.frame.id: (r.frame.width, r.frame.height) for r in recs}
    back = []
    for r in recs:
        (rec,) = list(
            yolo.read(
                str(tmp_path / "labels" / f"{r.frame.id}.txt"),
                image_size=sizes[r.frame.id],
                classes=str(tmp_path / "labels" / "classes.txt"),
            )
        )
        back.append(rec)
    assert _approx_boxes(back, 3) == _approx_boxes(recs, 3)


def test_yolo_segment_with_scores_round_trip(tmp_path: Path) -> None:
    recs = sample_records(with_3d=False)
    yolo.write(recs, str(tmp_path), task="segment", scores=True, classes=["car", "person", "truck", "bus"])
    text = (tmp_path / "a.txt").read_text()
    check_golden("yolo/segment_a.txt", text)
    (rec,) = list(yolo.read(str(tmp_path / "a.txt"), image_size=(640, 480)))
    by_cat = {lb.category: lb for lb in rec.labels}
    assert by_cat["truck"].polygon is not None and by_cat["truck"].polygon.rings[0] == pytest.approx(
        [400, 300, 500, 300, 500, 400, 400, 400]
    )
    assert by_cat["truck"].score == 0.75
    # a mask-only label is written as its contour: the polygon spans the mask's pixels
    bus = by_cat["bus"]
    assert bus.box is not None and bus.box.xyxy == pytest.approx((200, 100, 259, 139), abs=1)


def test_yolo_reads_a_dataset_with_real_kitti_images(kitti: Path, tmp_path: Path) -> None:
    recs = [r for r in kitti_fmt.read(str(kitti)) if r.frame.id in ("000001", "000002")]
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    for r in recs:
        (root / "images" / f"{r.frame.id}.png").symlink_to(r.frame.uri)
    yolo.write(
        recs,
        str(root / "labels"),
        classes=["Car", "Cyclist", "Truck", "Pedestrian", "DontCare", "Van", "Tram", "Misc", "Person_sitting"],
    )
    back = list(yolo.read(str(root)))
    assert [r.frame.id for r in back] == ["000001", "000002"] and back[0].frame.width == 1242
    assert _approx_boxes(back, 1) == _approx_boxes(recs, 1)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.5 0.5 0.2", "expected 'class cx cy w h"),
        ("0 0.5 0.5 1.2 0.2", "normalised to"),
        ("x 0.5 0.5 0.2 0.2", "expected 'class x y"),
        ("7 0.5 0.5 0.2 0.2", "class 7 is outside the 2 class names"),
    ],
)
def test_yolo_bad_lines(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "classes.txt").write_text("car\nperson\n")
    (tmp_path / "f.txt").write_text("0 0.5 0.5 0.2 0.2\n" + line + "\n")
    with pytest.raises(FormatError, match=message) as e:
        list(yolo.read(str(tmp_path), image_size=(100, 100)))
    assert "f.txt:2" in str(e.value)


def test_yolo_needs_image_size(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(FormatError, match="image size is unknown"):
        list(yolo.read(str(tmp_path)))


# ----------------------------------------------------------------- VOC


def test_voc_golden_and_round_trip(tmp_path: Path) -> None:
    recs = sample_records()
    s = voc.write(recs, str(tmp_path))
    assert s.frames == 3 and s.labels == 7
    for name in ("a.xml", "b.xml", "c.xml"):
        check_golden(f"voc/{name}", (tmp_path / name).read_text(encoding="utf-8"))
    back = {r.frame.id: r for r in voc.read(str(tmp_path))}
    for r in recs:
        assert boxes_of(back[r.frame.id]) == boxes_of(r)
        assert sorted(lb.score or 0 for lb in back[r.frame.id].labels) == sorted(lb.score or 0 for lb in r.labels)
    # VOC is 1-based: pixel-edge x1=10 is xmin=11
    assert "<xmin>11</xmin>" in (tmp_path / "a.xml").read_text()


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<annotation><object><bndbox><xmin>1</xmin></bndbox></object></annotation>", "needs a <name>"),
        ("<annotation><object><name>car</name></object></annotation>", "needs a <bndbox>"),
        (
            "<annotation><object><name>car</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>a</xmax><ymax>3</ymax>"
            "</bndbox></object></annotation>",
            "must be a number",
        ),
        ("<annotation><object>", "not valid XML"),
        ("<root/>", "expected an <annotation>"),
    ],
)
def test_voc_bad_files(tmp_path: Path, xml: str, message: str) -> None:
    (tmp_path / "x.xml").write_text(xml)
    with pytest.raises(FormatError, match=message):
        list(voc.read(str(tmp_path)))


# ----------------------------------------------------------------- CVAT


def test_cvat_golden_and_round_trip(tmp_path: Path) -> None:
    recs = sample_records()
    out = tmp_path / "annotations.xml"
    s = cvat.write(recs, str(out))
    assert s.frames == 3 and s.labels == 7 and s.dropped == {"3D boxes": 1}
    check_golden("cvat/annotations.xml", out.read_text(encoding="utf-8"))
    back = list(cvat.read(str(out)))
    assert [r.frame.id for r in back] == ["a", "b", "c"]
    a, a0 = back[0], recs[0]
    by_id = {lb.category: lb for lb in a.labels}
    mask = by_id["bus"].mask
    assert mask is not None and mask == next(lb.mask for lb in a0.labels if lb.mask is not None)
    assert by_id["truck"].polygon == next(lb.polygon for lb in a0.labels if lb.polygon is not None)
    assert by_id["Fußgänger 行人"].source == "human:cvat" and by_id["car"].source == "import:cvat"
    assert sorted(lb.score or 0 for lb in a.labels) == sorted(lb.score or 0 for lb in a0.labels)
    boxes = [(lb.category, lb.box.xyxy) for lb in a.labels if lb.box is not None]
    assert ("person", (0.0, 0.0, 640.0, 480.0)) in boxes and ("car", (300.0, 200.0, 300.0, 230.0)) in boxes


def test_cvat_reads_other_shapes_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text(
        '<annotations><version>1.1</version><image id="0" name="img/x.png" width="10" height="10">'
        '<box label="car" xtl="1" ytl="2" xbr="3" ybr="4" occluded="1" source="manual">'
        '<attribute name="color">red</attribute></box>'
        '<polyline label="lane" points="0,0;1,1"/><points label="p" points="1,1"/>'
        '<mask label="m" source="auto" rle="3, 2, 2, 2, 1" left="4" top="5" width="2" height="5"/>'
        "</image></annotations>"
    )
    with pytest.warns(UserWarning, match="polyline"):
        (rec,) = list(cvat.read(str(tmp_path / "a.xml")))
    assert rec.frame.id == "img/x" and len(rec.labels) == 2
    car, m = rec.labels
    assert car.attributes == {"color": "red", "occluded": 1} and car.review.value == "accepted"
    assert m.mask is not None
    arr = m.mask.to_array()
    # rle 3 zeros, 2 ones, 2 zeros, 2 ones, 1 zero, row-major inside the 2x5 box at (4, 5)
    assert arr.sum() == 4 and arr[6, 5] and arr[7, 4] and arr[8, 5] and arr[9, 4] and not arr[5, 4]


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ('<box label="car" xtl="5" ytl="2" xbr="3" ybr="4"/>', "xtl <= xbr"),
        ('<box xtl="1" ytl="2" xbr="3" ybr="4"/>', "needs a label"),
        ('<polygon label="car" points="1,2;3,4"/>', "at least 3"),
        ('<mask label="m" rle="3, 2" left="0" top="0" width="2" height="5"/>', "covers 5 pixels"),
    ],
)
def test_cvat_bad_shapes(tmp_path: Path, shape: str, message: str) -> None:
    (tmp_path / "a.xml").write_text(
        f'<annotations><image id="0" name="x.png" width="10" height="10">{shape}</image></annotations>'
    )
    with pytest.raises(FormatError, match=message):
        list(cvat.read(str(tmp_path / "a.xml")))


def test_real_kitti_through_voc_and_cvat(kitti: Path, tmp_path: Path) -> None:
    recs = list(kitti_fmt.read(str(kitti)))[:10]
    voc.write(recs, str(tmp_path / "voc"))
    cvat.write(recs, str(tmp_path / "cvat.xml"))
    assert _approx_boxes(list(voc.read(str(tmp_path / "voc")))) == _approx_boxes(recs)
    assert _approx_boxes(list(cvat.read(str(tmp_path / "cvat.xml")))) == _approx_boxes(recs)
    json.dumps([r.frame.id for r in recs])
