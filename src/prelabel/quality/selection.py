"""Choose which frames people should label, for a budget: the most uncertain ones, each scene once.

**Uncertainty** of a frame = the sum, over its machine labels, of ``1 - |2s - 1|`` (1 for a score of 0.5, 0 for a
sure 0 or 1), plus the **disagreement** between models: the score of every fused box that fewer than all models
found (fused sets carry ``attributes["agreement"]``). **Diversity**: a 256-bit difference hash (dHash, 16 x 16) of
each frame's picture; frames whose hashes differ in at most ``max_distance`` of the bits are the same scene, and
only the most uncertain of them is picked. The default 0.3 was measured on real logs: every pair of consecutive
frames of a 10 Hz KITTI odometry sequence differs by at most 0.29 of the bits, the 12 frames of two BDD100K
tracking sequences collapse to their 2 scenes, and 28 of the 30 distinct KITTI object frames stay apart.
With no labels, frames are picked farthest-first over the hashes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from prelabel.core.labels import Frame, FrameRecord

HASH_SIZE = 16
HASH_BITS = HASH_SIZE * HASH_SIZE
DEFAULT_MAX_DISTANCE = 0.3  # fraction of the hash bits


def dhash(image: npt.NDArray[np.uint8], size: int = HASH_SIZE) -> int:
    """Difference hash: shrink the grey picture to (size) x (size + 1), compare horizontal neighbours."""
    import cv2

    img = np.asarray(image)
    grey = img if img.ndim == 2 else cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (size + 1, size), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).reshape(-1)
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def _near(a: int, b: int, max_distance: float) -> bool:
    return hamming(a, b) <= max_distance * HASH_BITS


def label_uncertainty(score: float) -> float:
    return 1.0 - abs(2.0 * float(score) - 1.0)


def frame_uncertainty(record: FrameRecord, n_models: int | None = None, floor: float = 0.05) -> float:
    """Sum of label uncertainties plus model disagreement (see the module docstring). Failed frames rank first."""
    if record.status != "ok":
        return float("inf")
    total = 0.0
    for lab in record.labels:
        if lab.score is None or lab.score < floor:
            continue
        total += label_uncertainty(lab.score)
        agree = lab.attributes.get("agreement")
        if isinstance(agree, int) and n_models and agree < n_models:
            total += float(lab.score)
    return total


@dataclass
class Selection:
    frames: list[str]  # chosen frame ids, in order of choice
    scores: dict[str, float]  # uncertainty of every frame considered
    hashes: dict[str, int]
    groups: int  # distinct scenes among the frames considered
    duplicates_skipped: int  # frames left out because a chosen frame shows the same scene


def scene_groups(hashes: dict[str, int], max_distance: float = DEFAULT_MAX_DISTANCE) -> list[list[str]]:
    """Group frame ids whose hashes are within ``max_distance`` (fraction of bits) of a group's first member."""
    groups: list[tuple[int, list[str]]] = []
    for fid, h in hashes.items():
        for head, members in groups:
            if _near(head, h, max_distance):
                members.append(fid)
                break
        else:
            groups.append((h, [fid]))
    return [m for _h, m in groups]


def select_frames(
    frames: Sequence[Frame] | Sequence[FrameRecord],
    budget: int,
    *,
    hasher: Callable[[Frame], int] | None = None,
    max_distance: float = DEFAULT_MAX_DISTANCE,
    n_models: int | None = None,
    exclude: Iterable[str] = (),
) -> Selection:
    """Pick up to ``budget`` frames: most uncertain first, skipping frames of an already-picked scene.

    ``frames``: label records (uncertainty + diversity) or bare frames (diversity only, farthest-first).
    ``hasher`` maps a frame to its dHash (default: load the picture and hash it). ``exclude``: frames already
    labelled by people.
    """
    if budget < 0:
        raise ValueError(f"budget must be >= 0; got {budget}")
    skip = set(exclude)
    if hasher is None:
        from prelabel.sources.images import load_image

        def hasher(f: Frame) -> int:
            return dhash(load_image(f))

    items = [x for x in frames if (x.frame.id if isinstance(x, FrameRecord) else x.id) not in skip]
    if n_models is None:  # a fused set: the models named anywhere in its provenance
        names = {
            n
            for x in items
            if isinstance(x, FrameRecord)
            for lab in x.labels
            for n in lab.attributes.get("fused_from", [])
        }
        n_models = len(names) or None
    hashes: dict[str, int] = {}
    scores: dict[str, float] = {}
    for x in items:
        frame = x.frame if isinstance(x, FrameRecord) else x
        hashes[frame.id] = hasher(frame)
        scores[frame.id] = frame_uncertainty(x, n_models) if isinstance(x, FrameRecord) else 0.0
    chosen: list[str] = []
    skipped = 0
    if any(isinstance(x, FrameRecord) for x in items):
        for fid in sorted(scores, key=lambda k: (-scores[k], k)):
            if len(chosen) >= budget:
                break
            if any(_near(hashes[fid], hashes[c], max_distance) for c in chosen):
                skipped += 1
                continue
            chosen.append(fid)
    else:  # farthest-first over the hashes, starting with the first frame
        ids = list(hashes)
        if ids and budget:
            chosen.append(ids[0])
            dist = {f: hamming(hashes[f], hashes[ids[0]]) for f in ids}
            while len(chosen) < budget:
                far = max((f for f in ids if f not in chosen), key=lambda f: dist[f], default=None)
                if far is None or dist[far] <= max_distance * HASH_BITS:
                    break
                chosen.append(far)
                for f in ids:
                    dist[f] = min(dist[f], hamming(hashes[f], hashes[far]))
        skipped = len(ids) - len(chosen)
    return Selection(chosen, scores, hashes, len(scene_groups(hashes, max_distance)), skipped)
