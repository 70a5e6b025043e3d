"""MobileSAM in ONNX Runtime: one image embedding per frame, reused for every box prompt on it.

Pre-processing (as SAM's ``ResizeLongestSide`` + ``Sam.preprocess``): resize so the long side is 1024 px (PIL
bilinear), normalise with SAM's pixel mean/std, pad bottom/right to 1024x1024. Boxes are scaled by
``1024 / max(H, W)`` and sent as two points labelled 2 (top-left) and 3 (bottom-right). The decoder's 256x256
mask logits are upscaled to 1024x1024, cropped to the resized image and resized to the frame (bilinear), and
thresholded at 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from prelabel.models.sam.export import ENTRY, IMAGE_SIZE, export

PIXEL_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
PIXEL_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


def resized_size(height: int, width: int, long_side: int = IMAGE_SIZE) -> tuple[int, int]:
    """(height, width) after scaling the long side to ``long_side`` (SAM's rounding)."""
    scale = long_side / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def preprocess(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """RGB uint8 (H, W, 3) -> the encoder's input [1, 3, 1024, 1024]."""
    from PIL import Image

    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be RGB (H, W, 3); got shape {image.shape}")
    h, w = image.shape[:2]
    nh, nw = resized_size(h, w)
    resized = np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.BILINEAR), dtype=np.float32)
    out = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.float32)
    out[:nh, :nw] = (resized - PIXEL_MEAN) / PIXEL_STD
    return np.ascontiguousarray(out.transpose(2, 0, 1)[None])


def postprocess(low_res: npt.NDArray[np.float32], height: int, width: int) -> npt.NDArray[np.bool_]:
    """Mask logits [N, 1, 256, 256] -> boolean masks [N, H, W] over the frame."""
    import cv2

    nh, nw = resized_size(height, width)
    out = np.zeros((len(low_res), height, width), dtype=bool)
    for i, logits in enumerate(low_res[:, 0]):
        up = cv2.resize(logits, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_LINEAR)[:nh, :nw]
        out[i] = cv2.resize(np.ascontiguousarray(up), (width, height), interpolation=cv2.INTER_LINEAR) > 0.0
    return out


class SamMasker:
    """Box prompts -> instance masks. ``masks(image, xyxy)``; ``embed`` + ``decode`` to reuse one embedding."""

    name = "sam"

    def __init__(
        self, cache: str | Path | None = None, *, threads: int | None = 2, batch: int = 16, device: str | None = None
    ) -> None:
        import onnxruntime as ort

        from prelabel.models.backends.providers import check_session, providers_for

        paths = export(cache)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # workers share machines
        providers = providers_for(device)
        self.encoder = ort.InferenceSession(str(paths["encoder"]), opts, providers=providers)
        self.decoder = ort.InferenceSession(str(paths["decoder"]), opts, providers=providers)
        check_session(self.encoder, device, "MobileSAM encoder")
        self.batch = max(1, int(batch))
        self.model_id = ENTRY.id
        self.version = ENTRY.version

    @property
    def source(self) -> str:
        return f"model:{self.model_id}@{self.version}"

    def embed(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """The image embedding [1, 256, 64, 64]; computed once per frame."""
        out = self.encoder.run(["embeddings"], {"image": preprocess(image)})[0]
        return np.asarray(out, dtype=np.float32)

    def decode(
        self, embeddings: npt.NDArray[np.float32], xyxy: npt.NDArray[np.floating], height: int, width: int
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float32]]:
        """(masks [N, H, W] bool, predicted IoU [N]) for frame-pixel boxes ``xyxy`` on an embedded frame."""
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4) * (IMAGE_SIZE / max(height, width))
        if len(boxes) == 0:
            return np.zeros((0, height, width), dtype=bool), np.zeros(0, dtype=np.float32)
        masks, ious = [], []
        for start in range(0, len(boxes), self.batch):
            low, iou = self.decoder.run(
                ["low_res_masks", "iou"], {"embeddings": embeddings, "boxes": boxes[start : start + self.batch]}
            )
            masks.append(postprocess(np.asarray(low, dtype=np.float32), height, width))
            ious.append(np.asarray(iou, dtype=np.float32).reshape(-1))
        return np.concatenate(masks), np.concatenate(ious)

    def masks(self, image: npt.NDArray[np.uint8], xyxy: npt.NDArray[np.floating]) -> npt.NDArray[np.bool_]:
        """One boolean mask [H, W] per box, from a single image embedding."""
        h, w = image.shape[:2]
        if len(np.asarray(xyxy).reshape(-1, 4)) == 0:
            return np.zeros((0, h, w), dtype=bool)
        return self.decode(self.embed(image), xyxy, h, w)[0]
