"""Offline bundles: zoo and registry models written into one tar, verified and placed on import (a fresh cache and
registry stand in for the air-gapped site), and a tampered bundle refused as a whole."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from prelabel.errors import IntegrityError
from prelabel.models import load_detector
from prelabel.models.bundle import import_bundle, read_manifest, write_bundle
from prelabel.models.registry import Registry
from tests.helpers.cli import prelabel
from tests.models.conftest import const_model

HEAD = np.array([[[20.0, 50.0], [16.0, 10.0], [20.0, 8.0], [10.0, 8.0], [0.9, 0.1], [0.0, 0.6]]], np.float32)


@pytest.fixture()
def bundle(tmp_path: Path) -> tuple[Path, Registry]:
    reg = Registry(str(tmp_path / "team-registry"))
    model = const_model(tmp_path / "ped.onnx", {"out": HEAD}, [1, 3, 32, 64])
    reg.register(model, name="team/ped", version="3", decoder="yolov8", classes=["pedestrian", "cyclist"],
                 options={"resize": "stretch"})  # fmt: skip
    out = tmp_path / "models.tar"
    entries = write_bundle(["nanodet-m-coco", "team/ped@3"], out, registry=reg.root)  # zoo files from the user cache
    assert [e.ref for e in entries] == ["nanodet-m-coco@416-human3.0.4", "team/ped@3"]
    return out, reg


def test_bundle_import_on_a_fresh_site(bundle: tuple[Path, Registry], tmp_path: Path, kitti: Path) -> None:
    out, _ = bundle
    assert [(o, e.ref) for o, e in read_manifest(out)] == [
        ("zoo", "nanodet-m-coco@416-human3.0.4"),
        ("registry", "team/ped@3"),
    ]
    site_cache, site_registry = tmp_path / "site-cache", str(tmp_path / "site-registry")
    env = {"PRELABEL_CACHE": str(site_cache), "PRELABEL_REGISTRY": site_registry}
    r = prelabel("models", "import", out, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "nanodet-m-coco@416-human3.0.4 (zoo): imported" in r.stdout and "team/ped@3 (registry): imported" in r.stdout
    again = import_bundle(out, site_cache, site_registry)
    assert [x.status for x in again] == ["already present", "already present"]

    det = load_detector("nanodet-m-coco", site_cache, threads=1)  # converted on the site from the imported files
    from prelabel.sources.images import image_frames, load_image

    dets = det.detect(load_image(image_frames(str(kitti / "image_2" / "000008.png"))[0]))
    assert "car" in {det.classes[c] for c in dets.class_ids}
    ped = load_detector("team/ped@3", site_cache, registry=site_registry, min_score=0.5)
    assert len(ped.detect(np.zeros((32, 64, 3), np.uint8))) == 2


def test_tampered_bundle_is_refused_and_nothing_is_placed(bundle: tuple[Path, Registry], tmp_path: Path) -> None:
    out, _ = bundle
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(out) as src, tarfile.open(tampered, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.endswith("model.onnx"):
                data = data[:-4] + b"\x00\x00\x00\x01"
            dst.addfile(member, io.BytesIO(data))
    site_cache = tmp_path / "site-cache"
    with pytest.raises(IntegrityError, match=r"sha256 mismatch for team/ped@3 model .* in bundle"):
        import_bundle(tampered, site_cache, str(tmp_path / "site-registry"))
    assert not (site_cache / "models").exists()
    assert not (tmp_path / "site-registry").exists()


def test_bundle_entry_cannot_write_outside_the_cache(tmp_path: Path) -> None:
    import json

    from prelabel.errors import FormatError

    payload = b"weights"
    import hashlib

    entry = {
        "id": "evil", "version": "../../../outside", "task": "detect", "classes": "coco80", "licence": "x",
        "input_size": [8, 8], "runtime": "onnx", "decoder": "ssd",
        "files": {"model": {"source": "files/m.onnx", "sha256": hashlib.sha256(payload).hexdigest()}},
    }  # fmt: skip
    manifest = json.dumps({"schema": 1, "models": [{"origin": "zoo", "entry": entry}]}).encode()
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        for name, data in (("bundle.json", manifest), ("files/m.onnx", payload)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(FormatError, match="would be written outside the cache"):
        import_bundle(evil, tmp_path / "site" / "cache")
    assert not (tmp_path / "site" / "outside").exists() and not (tmp_path / "outside").exists()
