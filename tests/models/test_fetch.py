"""The model fetcher refuses a file whose sha256 does not match, downloaded or cached, and never uses it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from prelabel.errors import IntegrityError, UnknownNameError
from prelabel.models.fetch import fetch_entry, verify_entry
from prelabel.models.zoo import ModelEntry, get_entry


def _entry(src: Path, sha: str) -> ModelEntry:
    return ModelEntry.model_validate(
        {
            "id": "tiny",
            "version": "1",
            "task": "detect",
            "classes": ["thing"],
            "licence": "test",
            "input_size": [8, 8],
            "runtime": "onnx",
            "decoder": "ssd",
            "files": {"weights": {"source": str(src), "sha256": sha}},
        }
    )


def test_fetch_verifies_then_refuses_tampered_cache(tmp_path: Path) -> None:
    src = tmp_path / "w.bin"
    src.write_bytes(b"weights v1")
    entry = _entry(src, hashlib.sha256(b"weights v1").hexdigest())
    cache = tmp_path / "cache"
    files = fetch_entry(entry, cache)
    assert files["weights"].read_bytes() == b"weights v1"
    assert verify_entry(entry, cache) == {"weights": "ok"}
    files["weights"].write_bytes(b"tampered!!")
    assert verify_entry(entry, cache) == {"weights": "corrupt"}
    with pytest.raises(IntegrityError, match="sha256 mismatch for cached tiny@1 weights"):
        fetch_entry(entry, cache)


def test_fetch_refuses_download_with_wrong_hash(tmp_path: Path) -> None:
    src = tmp_path / "w.bin"
    src.write_bytes(b"something else")
    entry = _entry(src, "0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(IntegrityError, match="expected 0000"):
        fetch_entry(entry, cache)
    assert not any(p.is_file() for p in (cache / "models").rglob("*"))  # nothing left to be used


def test_unknown_model_lists_options() -> None:
    with pytest.raises(UnknownNameError, match="unknown model 'yolo9000'; expected one of: .*ssd-mobilenet-v2-coco"):
        get_entry("yolo9000")
