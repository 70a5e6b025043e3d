"""Detections: one frame's model output as parallel numpy arrays, the working form inside backends and merges.

Validated on construction (shapes must agree); filter with boolean or index arrays: ``dets[dets.scores > 0.5]``.
Converted to :class:`~prelabel.core.labels.Label` records at the edge with :meth:`Detections.to_labels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.labels import Box2D, Label, Mask, make_label_id


@dataclass
class Detections:
    xyxy: npt.NDArray[Any]  # (N, 4) absolute pixels, stored float32
    scores: npt.NDArray[Any]  # (N,) in [0, 1], stored float32
    class_ids: npt.NDArray[Any]  # (N,) indices into the model's class list, stored int64
    masks: npt.NDArray[Any] | None = None  # (N, H, W) full-frame boolean masks
    data: dict[str, npt.NDArray[Any]] = field(default_factory=dict)  # extra per-box arrays (N, ...)

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(self.xyxy)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        if self.scores.shape != (n,):
            raise ValueError(f"scores must have shape ({n},) to match xyxy {self.xyxy.shape}; got {self.scores.shape}")
        if self.class_ids.shape != (n,):
            raise ValueError(
                f"class_ids must have shape ({n},) to match xyxy {self.xyxy.shape}; got {self.class_ids.shape}"
            )
        if self.masks is not None:
            self.masks = np.asarray(self.masks, dtype=bool)
            if self.masks.ndim != 3 or len(self.masks) != n:
                raise ValueError(f"masks must have shape ({n}, H, W); got {self.masks.shape}")
        for key, arr in self.data.items():
            if len(arr) != n:
                raise ValueError(f"data[{key!r}] must have length {n}; got {len(arr)}")

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: Any) -> Detections:
        if isinstance(index, int | np.integer):
            index = [int(index)]
        return Detections(
            xyxy=self.xyxy[index],
            scores=self.scores[index],
            class_ids=self.class_ids[index],
            masks=None if self.masks is None else self.masks[index],
            data={k: v[index] for k, v in self.data.items()},
        )

    @classmethod
    def merge(cls, parts: Sequence[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        keys = set(parts[0].data)
        masks = None
        if all(p.masks is not None for p in parts):
            masks = np.concatenate([p.masks for p in parts if p.masks is not None])
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
            class_ids=np.concatenate([p.class_ids for p in parts]),
            masks=masks,
            data={k: np.concatenate([p.data[k] for p in parts]) for k in keys if all(k in p.data for p in parts)},
        )

    def clip(self, width: int, height: int) -> Detections:
        xyxy = self.xyxy.copy()
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
        return Detections(xyxy, self.scores, self.class_ids, self.masks, dict(self.data))

    def to_labels(self, frame_id: str, source: str, class_names: Sequence[str]) -> list[Label]:
        """Labels with ids stable for (frame, source, rank, class): re-running a model keeps its ids."""
        order = np.argsort(-self.scores, kind="stable")
        labels: list[Label] = []
        for rank, i in enumerate(order):
            cid = int(self.class_ids[i])
            if not 0 <= cid < len(class_names):
                raise ValueError(f"class id {cid} is outside the model's {len(class_names)} classes")
            x1, y1, x2, y2 = (float(v) for v in self.xyxy[i])
            labels.append(
                Label(
                    id=make_label_id(frame_id, source, rank, cid),
                    category=class_names[cid],
                    source=source,
                    score=round(float(np.clip(self.scores[i], 0.0, 1.0)), 6),
                    box=Box2D(x1=round(x1, 2), y1=round(y1, 2), x2=round(x2, 2), y2=round(y2, 2)),
                    mask=None if self.masks is None else Mask.from_array(self.masks[i]),
                )
            )
        return labels
