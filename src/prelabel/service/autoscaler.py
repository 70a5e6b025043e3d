"""The scaling rule, as a pure function of the policy, the backlog, the instances and the clock.

- desired instances = ceil(backlog / target backlog per instance), clamped to [min, max]; backlog counts queued
  and running invocations (SageMaker's ``ApproximateBacklogSize``);
- from zero instances with a backlog: start at once (the next invocation brings the endpoint back);
- scale out when desired > current and the scale-out cooldown has passed since the last scale-out;
- scale in when desired < current has held for the scale-in cooldown, counted from the later of that moment and
  the last scaling action; with min 0 an idle endpoint goes to zero instances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from prelabel.service.schemas import ScalingPolicy

Action = Literal["scale_out", "scale_in", "hold"]


@dataclass(frozen=True)
class Decision:
    action: Action
    target: int
    desired: int
    reason: str


def desired_instances(policy: ScalingPolicy, backlog: int) -> int:
    want = math.ceil(backlog / policy.target_backlog_per_instance) if backlog > 0 else 0
    return max(policy.min_instances, min(policy.max_instances, want))


def decide(
    policy: ScalingPolicy,
    backlog: int,
    current: int,
    now: float,
    *,
    last_scale_out: float = 0.0,
    last_scale_in: float = 0.0,
    below_since: float | None = None,
) -> Decision:
    """``below_since``: when desired first dropped below current in the present stretch (None: it has not)."""
    desired = desired_instances(policy, backlog)
    per = backlog / current if current else float(backlog)
    target = policy.target_backlog_per_instance
    if desired > current:
        if current == 0:
            return Decision("scale_out", desired, desired, f"backlog {backlog} and no instance: start {desired}")
        wait = policy.scale_out_cooldown_s - (now - last_scale_out)
        if wait > 0:
            return Decision(
                "hold", current, desired, f"wants {desired} (backlog per instance {per:.2f} > target {target:g}); "
                f"scale-out cooldown has {wait:.1f} s left"
            )  # fmt: skip
        return Decision(
            "scale_out", desired, desired, f"backlog per instance {per:.2f} > target {target:g}: {current} -> {desired}"
        )
    if desired < current:
        since = max(below_since if below_since is not None else now, last_scale_out, last_scale_in)
        wait = policy.scale_in_cooldown_s - (now - since)
        if wait > 0:
            return Decision(
                "hold",
                current,
                desired,
                f"wants {desired} (backlog {backlog}); scale-in cooldown has {wait:.1f} s left",
            )
        return Decision(
            "scale_in", desired, desired, f"backlog {backlog} for {current} instances below target {target:g} "
            f"for {policy.scale_in_cooldown_s:g} s: {current} -> {desired}"
        )  # fmt: skip
    return Decision("hold", current, desired, f"at desired {desired} (backlog {backlog})")
