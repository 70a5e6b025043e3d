"""Import-time stand-ins for the two libraries ``mobile_sam`` imports but the export never runs.

``mobile_sam`` (from the ``mobilesam-mirror`` package) imports a handful of names from ``timm`` and
``torchvision``; PyPI's torchvision wheels do not work beside the project's torch build, and timm is not needed
for inference. :func:`standins` puts minimal modules for exactly those names into ``sys.modules`` for the
duration of the export and removes them afterwards (nothing is installed). ``DropPath`` is the identity at
inference (MobileSAM is built with ``drop_path_rate=0``); ``resize``/``to_pil_image`` follow torchvision's PIL
path (bilinear), so ``SamPredictor`` can serve as the PyPI-exact PyTorch reference in tests.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

STANDIN_NAMES = (
    "timm",
    "timm.models",
    "timm.models.layers",
    "timm.models.registry",
    "torchvision",
    "torchvision.ops",
    "torchvision.ops.boxes",
    "torchvision.transforms",
    "torchvision.transforms.functional",
)


def _build() -> dict[str, types.ModuleType]:
    import numpy as np
    import torch
    from PIL import Image

    class DropPath(torch.nn.Module):
        def __init__(self, drop_prob: float | None = None) -> None:
            super().__init__()
            self.drop_prob = drop_prob or 0.0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.drop_prob == 0.0 or not self.training:
                return x
            keep = 1.0 - self.drop_prob
            mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
            return x * mask / keep

    def to_2tuple(x: Any) -> tuple[Any, Any]:
        return tuple(x) if isinstance(x, list | tuple) else (x, x)

    def trunc_normal_(t: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0) -> Any:
        return torch.nn.init.trunc_normal_(t, mean, std, a, b)

    def register_model(fn: Any) -> Any:
        return fn

    def to_pil_image(pic: Any) -> Image.Image:
        return Image.fromarray(np.asarray(pic))

    def resize(img: Image.Image, size: Any) -> Image.Image:
        h, w = (size, size) if isinstance(size, int) else size
        return img.resize((int(w), int(h)), Image.Resampling.BILINEAR)

    def box_area(boxes: torch.Tensor) -> torch.Tensor:
        return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])

    def batched_nms(*_: Any, **__: Any) -> torch.Tensor:
        raise NotImplementedError("torchvision stand-in: batched_nms is not available during MobileSAM export")

    mods = {name: types.ModuleType(name) for name in STANDIN_NAMES}
    mods["timm.models.layers"].__dict__.update(DropPath=DropPath, to_2tuple=to_2tuple, trunc_normal_=trunc_normal_)
    mods["timm.models.registry"].__dict__.update(register_model=register_model)
    mods["torchvision.ops.boxes"].__dict__.update(batched_nms=batched_nms, box_area=box_area)
    mods["torchvision.transforms.functional"].__dict__.update(resize=resize, to_pil_image=to_pil_image)
    for name, mod in mods.items():
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(mods[parent], child, mod)
    return mods


@contextmanager
def standins(code_dir: str | None = None) -> Iterator[None]:
    """Stand-ins for timm/torchvision (and ``code_dir`` on ``sys.path``) inside the block; all undone after."""
    saved = {name: sys.modules.get(name) for name in STANDIN_NAMES}
    before = set(sys.modules)
    sys.modules.update(_build())
    if code_dir:
        sys.path.insert(0, code_dir)
    try:
        yield
    finally:
        if code_dir and code_dir in sys.path:
            sys.path.remove(code_dir)
        for name in set(sys.modules) - before:
            if name == "mobile_sam" or name.startswith("mobile_sam."):
                del sys.modules[name]
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod
