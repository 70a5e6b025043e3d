"""The scaling rule as a table: policy, backlog, instances, clock -> action and target."""

from __future__ import annotations

import pytest

from prelabel.service.autoscaler import decide, desired_instances
from prelabel.service.schemas import ScalingPolicy

P = ScalingPolicy(
    min_instances=0, max_instances=4, target_backlog_per_instance=5, scale_in_cooldown_s=300, scale_out_cooldown_s=60
)


@pytest.mark.parametrize(
    ("backlog", "desired"), [(0, 0), (1, 1), (5, 1), (6, 2), (20, 4), (21, 4), (1000, 4)]
)  # fmt: skip
def test_desired_follows_backlog_per_instance_within_bounds(backlog: int, desired: int) -> None:
    assert desired_instances(P, backlog) == desired


def test_min_instances_stay_up_when_idle() -> None:
    assert desired_instances(P.model_copy(update={"min_instances": 1}), 0) == 1


@pytest.mark.parametrize(
    ("backlog", "current", "now", "last_out", "last_in", "below_since", "action", "target", "why"),
    [
        (1, 0, 1000.0, 990.0, 0.0, None, "scale_out", 1, "no instance: start"),  # from zero ignores the cooldown
        (12, 0, 1000.0, 0.0, 0.0, None, "scale_out", 3, "no instance: start 3"),
        (12, 1, 1000.0, 990.0, 0.0, None, "hold", 1, "scale-out cooldown has 50.0 s left"),
        (12, 1, 1000.0, 900.0, 0.0, None, "scale_out", 3, "12.00 > target 5"),
        (3, 3, 1000.0, 900.0, 0.0, 950.0, "hold", 3, "scale-in cooldown has 250.0 s left"),
        (3, 3, 1300.0, 900.0, 0.0, 950.0, "scale_in", 1, "3 -> 1"),
        (0, 2, 2000.0, 100.0, 1900.0, 1500.0, "hold", 2, "scale-in cooldown has 200.0 s left"),  # after a scale-in
        (0, 2, 2000.0, 100.0, 0.0, 1600.0, "scale_in", 0, "2 -> 0"),  # to zero when idle long enough
        (10, 2, 1000.0, 0.0, 0.0, None, "hold", 2, "at desired 2"),
    ],
)
def test_decisions(
    backlog: int,
    current: int,
    now: float,
    last_out: float,
    last_in: float,
    below_since: float | None,
    action: str,
    target: int,
    why: str,
) -> None:
    d = decide(P, backlog, current, now, last_scale_out=last_out, last_scale_in=last_in, below_since=below_since)
    assert (d.action, d.target) == (action, target)
    assert why in d.reason
