"""Time to drain from depth over time: the same metric math the time_to_drain alarm has CloudWatch evaluate (pure).

    drain = estimate([(t, depth), ...], period=60)
    drain.state        # EMPTY, DRAINING, STALLED, GROWING or UNKNOWN
    drain.words()      # "clears in ~35m", "stalled", "growing 12/min: will not drain", "empty"

The depth samples are reduced to one Maximum per period (as the alarm's MetricStat does), then
RATE and the capped estimate of monitor.cloudwatch.alarms.drain_expression are evaluated over
them with monitor.truth.metric_math: status and the alarm cannot disagree about a queue.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.cloudwatch.alarms import DEPTH_ID, RATE_EXPRESSION, RATE_ID, drain_expression
from monitor.spec.durations import format_age
from monitor.spec.kinds import MAX_DRAIN_ESTIMATE_SECONDS
from monitor.truth import metric_math
from monitor.truth.evaluator import Statistic, aggregate

DEFAULT_DRAIN_PERIOD = 300  # seconds per point when no time_to_drain tier says otherwise: a rate over 5 minutes is steadier than over one
_RATE = metric_math.parse(RATE_EXPRESSION)
_DRAIN = metric_math.parse(drain_expression())


class DrainState(str, enum.Enum):
    EMPTY = "empty"
    DRAINING = "draining"
    STALLED = "stalled"
    GROWING = "growing"
    UNKNOWN = "unknown"  # fewer than two periods with data


@dataclass(frozen=True)
class Drain:
    state: DrainState
    seconds: float | None = None  # the estimate (capped at MAX_DRAIN_ESTIMATE_SECONDS); None when unknown
    per_minute: float | None = None  # the depth's change per minute: negative while it drains
    depth: float | None = None

    def words(self) -> str:
        if self.state is DrainState.EMPTY:
            return "empty"
        if self.state is DrainState.STALLED:
            return "stalled"
        if self.state is DrainState.GROWING:
            return f"growing {_count(self.per_minute)}/min: will not drain"
        if self.state is DrainState.DRAINING:
            if self.seconds is not None and self.seconds >= MAX_DRAIN_ESTIMATE_SECONDS:
                return f"draining {_count(-self.per_minute)}/min: over {duration_words(MAX_DRAIN_ESTIMATE_SECONDS)}"
            return f"clears in ~{duration_words(self.seconds)}"
        return "-"

    def to_json(self) -> dict:
        return {"state": self.state.value, "seconds": self.seconds, "per_minute": self.per_minute, "words": self.words()}


def _count(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.1f}".rstrip("0").rstrip(".")


def duration_words(seconds: float | None) -> str:
    """35m, 2h 5m, 1d, 45s."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    return format_age(seconds - seconds % 60)  # whole minutes from a minute up


def estimate(samples: Sequence[tuple[float, float]], period: int = DEFAULT_DRAIN_PERIOD) -> Drain:
    """The drain state at the latest period with data, from (time, QueueDepth) samples."""
    depth = aggregate(samples, Statistic.MAXIMUM, period)
    if not depth:
        return Drain(DrainState.UNKNOWN)
    grid = sorted(depth)
    env = {DEPTH_ID: depth}
    rate = metric_math.evaluate(_RATE, env, grid)
    env[RATE_ID] = rate
    seconds = metric_math.evaluate(_DRAIN, env, grid)
    latest = grid[-1]
    if depth[latest] <= 0:
        return Drain(DrainState.EMPTY, 0.0, None, depth[latest])
    if not isinstance(rate, dict) or latest not in rate:
        return Drain(DrainState.UNKNOWN, depth=depth[latest])
    per_minute = rate[latest] * 60
    state = DrainState.DRAINING if per_minute < 0 else DrainState.GROWING if per_minute > 0 else DrainState.STALLED
    return Drain(state, seconds.get(latest) if isinstance(seconds, dict) else None, per_minute, depth[latest])
