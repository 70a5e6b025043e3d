"""Draw a frame's labels over its image: masks tinted, boxes outlined, class and score written on each box."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from prelabel.core.labels import Label, ReviewState

# a palette with good contrast on road scenes (tab10-like), RGB
_PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)  # fmt: skip


def class_color(category: str) -> tuple[int, int, int]:
    digest = hashlib.md5(category.encode()).digest()
    return _PALETTE[digest[0] % len(_PALETTE)]


def draw_labels(
    image: npt.NDArray[np.uint8],
    labels: Sequence[Label],
    *,
    min_score: float = 0.0,
    mask_alpha: float = 0.45,
    thickness: int | None = None,
) -> npt.NDArray[np.uint8]:
    """Return a copy of the RGB ``image`` with ``labels`` drawn. Rejected labels are drawn dashed-grey-free: skipped."""
    import cv2

    out = image.copy()
    h, w = out.shape[:2]
    thickness = thickness or max(1, round(min(h, w) / 300))
    shown = [
        lab for lab in labels if lab.review != ReviewState.REJECTED and (lab.score is None or lab.score >= min_score)
    ]
    # masks first, so boxes and text stay readable on top
    for lab in shown:
        if lab.mask is not None:
            m = lab.mask.to_array()
            if m.shape != (h, w):
                continue
            tint = np.array(class_color(lab.category), dtype=np.float32)
            region = out[m].astype(np.float32)
            out[m] = (region * (1 - mask_alpha) + tint * mask_alpha).astype(np.uint8)
            contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, class_color(lab.category), 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.35, min(h, w) / 900)
    for lab in sorted(shown, key=lambda x: x.score or 1.0):
        box = lab.box or (lab.polygon.bounds() if lab.polygon else None)
        if box is None:
            continue
        color = class_color(lab.category)
        p1 = (round(box.x1), round(box.y1))
        p2 = (round(box.x2), round(box.y2))
        cv2.rectangle(out, p1, p2, color, thickness, cv2.LINE_AA)
        text = lab.category if lab.score is None else f"{lab.category} {lab.score:.2f}"
        (tw, th), base = cv2.getTextSize(text, font, scale, 1)
        ty = p1[1] - 2 if p1[1] - th - base - 2 >= 0 else p1[1] + th + base + 2
        cv2.rectangle(out, (p1[0], ty - th - base), (p1[0] + tw + 2, ty + base - 1), color, -1)
        cv2.putText(out, text, (p1[0] + 1, ty - 1), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def save_png(image: npt.NDArray[np.uint8], path: str) -> None:
    import cv2

    from prelabel import storage

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[:, :, ::-1]))
    if not ok:
        raise RuntimeError(f"PNG encoding failed for {path}")
    storage.write_bytes(path, buf.tobytes())
