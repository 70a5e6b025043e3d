"""Your own ONNX as-is: the YOLO11 exports described by their metadata, and files without metadata (built here with
``onnx.helper``) that need --classes, or that cannot be understood and say why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prelabel.core.vocab import COCO80
from prelabel.errors import PrelabelError
from prelabel.models.loader import check_model_ref, load_detector
from prelabel.models.onnx_file import choose_decoder, inspect
from prelabel.sources.images import load_image
from tests.helpers.cli import prelabel
from tests.models.conftest import const_model

IMAGE = np.zeros((32, 64, 3), np.uint8)


@pytest.fixture(scope="module")
def yolo_files() -> dict[str, Path]:
    from prelabel.models.loader import prepare_entry
    from prelabel.models.zoo import get_entry

    return {m: prepare_entry(get_entry(m))["model"] for m in ("yolo11n-coco", "yolo11n-seg-coco")}


def _with_metadata(path: Path, meta: dict[str, str]) -> Path:
    import onnx

    model = onnx.load(str(path))
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.save_model(model, str(path))
    return path


@pytest.mark.parametrize("model_id", ["yolo11n-coco", "yolo11n-seg-coco"])
def test_ultralytics_exports_are_read_from_their_metadata(
    model_id: str, yolo_files: dict[str, Path], kitti: Path
) -> None:
    path = yolo_files[model_id]
    info = inspect(path)
    assert info.names == list(COCO80) and info.imgsz == [640, 640]
    assert info.task == ("segment" if "seg" in model_id else "detect")
    assert choose_decoder(info, len(info.names)) == "yolo-e2e"
    assert check_model_ref(str(path)) == "onnx"
    native = "seg" in model_id
    det = load_detector(str(path), threads=2, min_score=0.25, native_masks=native)
    zoo = load_detector(model_id, threads=2, min_score=0.25, native_masks=native)
    assert tuple(det.classes) == COCO80 and det.source.startswith(f"model:{path.stem}@sha256-")
    image = load_image_file(kitti / "image_2" / "000008.png")
    a, b = det.detect(image), zoo.detect(image)
    assert len(a) >= 3 and np.allclose(a.xyxy, b.xyxy) and (a.class_ids == b.class_ids).all()
    if native:
        assert a.masks is not None and a.masks.shape == (len(a), *image.shape[:2])


def load_image_file(path: Path) -> np.ndarray:
    from prelabel.core.labels import Frame

    return load_image(Frame(id=path.stem, uri=str(path)))


def test_file_without_metadata_needs_classes(tmp_path: Path) -> None:
    rows = [[[2, 3, 20, 30, 0.9, 1], [0, 0, 0, 0, 0, 0]]]
    path = const_model(tmp_path / "plain.onnx", {"output0": rows}, [1, 3, 64, 64])
    with pytest.raises(PrelabelError, match=r"no class names in the file .*expected Ultralytics 'names' metadata"):
        load_detector(str(path))
    det = load_detector(str(path), classes=["car", "person"], threads=1)
    dets = det.detect(IMAGE)
    assert det.classes == ("car", "person") and dets.class_ids.tolist() == [1]
    assert dets.xyxy.tolist() == [[2, 3, 20, 30]]


def test_raw_yolov8_head_with_names_metadata(tmp_path: Path) -> None:
    out = np.zeros((1, 4 + 3, 5), np.float32)  # (1, 4 + C, N): one box, cx cy w h = 16 16 8 8, class 2 at 0.8
    out[0, :4, 0] = [16, 16, 8, 8]
    out[0, 6, 0] = 0.8
    path = _with_metadata(
        const_model(tmp_path / "v8.onnx", {"output0": out}, [1, 3, 32, 32]),
        {"names": "{0: 'car', 1: 'person', 2: 'bike'}", "task": "detect", "imgsz": "[32, 32]", "stride": "32"},
    )
    det = load_detector(str(path), threads=1)
    dets = det.detect(np.zeros((32, 32, 3), np.uint8))
    assert det.decoder_name == "yolov8" and det.classes == ("car", "person", "bike")  # type: ignore[attr-defined]
    assert dets.class_ids.tolist() == [2] and dets.xyxy.tolist() == [[12, 12, 20, 20]]


def test_file_it_cannot_understand_says_what_it_found(tmp_path: Path) -> None:
    path = const_model(tmp_path / "odd.onnx", {"a": np.zeros((1, 7, 9)), "b": np.zeros((1, 2))}, [1, 3, 16, 16])
    with pytest.raises(PrelabelError) as e:
        load_detector(str(path), classes=["x", "y"])
    msg = str(e.value)
    assert "cannot choose a decoder" in msg and "a [1, 7, 9]" in msg and "(1, K, 6)" in msg and "--decoder" in msg
    with pytest.raises(PrelabelError, match="task 'pose' is not supported"):
        load_detector(str(_with_metadata(path, {"task": "pose", "names": "{0: 'x'}"})))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PrelabelError, match="ONNX model file not found"):
        check_model_ref(str(tmp_path / "nope.onnx"))


def test_register_an_ultralytics_export_without_flags(yolo_files: dict[str, Path], tmp_path: Path, kitti: Path) -> None:
    reg = tmp_path / "registry"
    r = prelabel("models", "register", yolo_files["yolo11n-coco"], "--name", "team/y11", "--version", "1",
                 "--registry", reg)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "registered team/y11@1 (80 classes, decoder yolo-e2e)" in r.stdout
    det = load_detector("team/y11@1", registry=str(reg), threads=2)
    zoo = load_detector("yolo11n-coco", threads=2)
    image = load_image_file(kitti / "image_2" / "000008.png")
    assert np.allclose(det.detect(image).xyxy, zoo.detect(image).xyxy)


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="reads are counted from /proc/self/io (Linux)")
def test_a_plain_onnx_file_is_read_once_per_load(yolo_files: dict[str, Path]) -> None:
    """The file's bytes give the metadata, the sha256 version and the session: one read of the file, not 3-4."""

    def bytes_read() -> int:
        line = next(x for x in Path("/proc/self/io").read_text().splitlines() if x.startswith("rchar:"))
        return int(line.split()[1])

    path = yolo_files["yolo11n-coco"]
    size = path.stat().st_size
    load_detector(str(path), threads=1)  # imports and first-use costs out of the way
    before = bytes_read()
    det = load_detector(str(path), threads=1)
    read = bytes_read() - before
    assert size <= read < 1.5 * size, f"read {read} bytes for a {size}-byte model"
    import hashlib

    assert det.version == f"sha256-{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"
    check_model_ref(str(path), options={"classes": ["car"]})  # names to rename outputs need no weights loaded


def test_weights_in_external_data_files_load_from_beside_the_model(tmp_path: Path) -> None:
    import onnx

    rows = [[[2, 3, 20, 30, 0.9, 1], [0, 0, 0, 0, 0, 0]]]
    path = const_model(tmp_path / "src.onnx", {"output0": rows}, [1, 3, 64, 64])
    model = onnx.load(str(path))
    (tmp_path / "ext").mkdir()
    ext = tmp_path / "ext" / "plain.onnx"
    onnx.save_model(model, str(ext), save_as_external_data=True, location="plain.weights", size_threshold=0)
    assert (tmp_path / "ext" / "plain.weights").stat().st_size > 0
    check_model_ref(str(ext), options={"classes": ["car", "person"]})
    det = load_detector(str(ext), classes=["car", "person"], threads=1)
    dets = det.detect(IMAGE)
    assert dets.class_ids.tolist() == [1] and dets.xyxy.tolist() == [[2, 3, 20, 30]]
