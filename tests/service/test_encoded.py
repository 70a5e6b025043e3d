"""A model that reads the input's bytes itself (``detect_encoded``): the worker hands it the file as stored, reads
only the header (size, pixel limit) and decodes nothing; its results equal the pixel path's."""

from __future__ import annotations

from pathlib import Path

import pytest

from prelabel.client import Client, ScalingPolicy
from prelabel.core.labels import Frame
from prelabel.errors import LimitExceededError, UnreadableInputError
from prelabel.inference.predictor import Predictor
from prelabel.limits import ENV_MAX_PIXELS
from prelabel.service.launch import ServiceProcess
from prelabel.sources.images import header_size
from tests.service.detectors import DecodesItself

ONE = ScalingPolicy(min_instances=0, max_instances=1, target_backlog_per_instance=5)


def test_a_model_that_decodes_itself_gets_the_bytes_and_the_same_results(
    client: Client, service: ServiceProcess, frames: list[Path], tmp_path: Path
) -> None:
    client.create_model("own-decoder", "python:tests.service.detectors:DecodesItself")
    client.create_endpoint_config("own-decoder", "own-decoder", output_path=str(tmp_path / "out"))
    client.create_endpoint("own-decoder", "own-decoder", ONE)
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"these are not the bytes of an image")
    ok = [client.invoke_async("own-decoder", str(f)) for f in frames]
    refused = client.invoke_async("own-decoder", str(bad))
    done = client.wait_all([a.inference_id for a in ok], timeout_s=120)
    assert [d.status for d in done] == ["completed"] * len(frames)  # its detect() (pixels) raises: never called

    reference = Predictor("ssd-mobilenet-v2-coco", threads=1)
    for a, f in zip(ok, frames, strict=True):
        rec = client.result(a.inference_id)
        expected = reference.predict_frame(Frame(id=f.stem, uri=str(f)))
        assert (rec.frame.width, rec.frame.height) == (expected.frame.width, expected.frame.height)
        assert [(lab.category, lab.box, lab.score) for lab in rec.labels] == [
            (lab.category, lab.box, lab.score) for lab in expected.labels
        ]
    info = client.wait(refused.inference_id, timeout_s=60)
    assert info.status == "failed"
    assert info.error_type == "UnreadableInputError" and str(bad) in (info.error or "")
    client.delete_endpoint("own-decoder")


def test_the_predictor_takes_bytes_only_when_nothing_needs_pixels(frames: list[Path]) -> None:
    plain = Predictor("ssd-mobilenet-v2-coco", threads=1)
    assert not plain.takes_encoded  # a zoo model takes pixels
    own = Predictor(DecodesItself())
    assert own.takes_encoded
    assert not Predictor(DecodesItself(), tiled=True).takes_encoded  # tiling cuts pixels: the worker decodes
    data = frames[0].read_bytes()
    rec = own.predict_encoded(Frame(id="f", uri=str(frames[0])), data, header_size(data, "f"))
    expected = plain.predict_frame(Frame(id="f", uri=str(frames[0])))
    assert (rec.frame.width, rec.frame.height) == (1242, 375) == (expected.frame.width, expected.frame.height)
    assert [(lab.category, lab.box) for lab in rec.labels] == [(lab.category, lab.box) for lab in expected.labels]


def test_header_size_refuses_what_decoding_would(frames: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    data = frames[0].read_bytes()
    with pytest.raises(UnreadableInputError, match="empty"):
        header_size(b"", "x.png")
    with pytest.raises(UnreadableInputError, match="x.png"):
        header_size(b"garbage" * 10, "x.png")
    assert header_size(data, "x.png") == (1242, 375)
    monkeypatch.setenv(ENV_MAX_PIXELS, "1000")
    with pytest.raises(LimitExceededError, match="1242x375"):
        header_size(data, "x.png")
