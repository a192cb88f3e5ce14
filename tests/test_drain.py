"""Time to drain: the capped metric-math estimate, its states in words, and the spec's checks (pure)."""

from __future__ import annotations

import textwrap

import pytest

from monitor.cloudwatch.alarms import drain_expression, render_alarms
from monitor.errors import SpecError
from monitor.spec.kinds import MAX_DRAIN_ESTIMATE_SECONDS
from monitor.spec.load import load_spec
from monitor.truth import metric_math
from monitor.truth.drain import DrainState, duration_words, estimate

MINUTE = 60


def minutes(values):
    return [(i * MINUTE, float(v)) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    "depths, period, state, words",
    [
        ([1000 - 20 * i for i in range(20)], 300, DrainState.DRAINING, "clears in ~35m"),  # 700 left, 20/min
        ([3000 - 50 * i for i in range(3)], 60, DrainState.DRAINING, "clears in ~58m"),
        ([500] * 20, 300, DrainState.STALLED, "stalled"),
        ([100 + 12 * i for i in range(20)], 300, DrainState.GROWING, "growing 12/min: will not drain"),
        ([0] * 20, 300, DrainState.EMPTY, "empty"),
        ([100000 - i for i in range(20)], 300, DrainState.DRAINING, "draining 1/min: over 1d"),  # capped, never absurd
        ([5], 300, DrainState.UNKNOWN, "-"),
    ],
)
def test_states_in_words(depths, period, state, words):
    drain = estimate(minutes(depths), period)
    assert (drain.state, drain.words()) == (state, words)


def test_a_near_zero_rate_gives_the_cap_not_an_absurd_estimate():
    node = metric_math.parse(drain_expression())
    grid = [0, 60]
    # One message less in a minute over a billion: depth / rate would be 1.9 years.
    env = {"depth": {0: 1e9, 60: 1e9 - 1}, "rate": {60: -1 / 60}}
    assert metric_math.evaluate(node, env, grid) == {60: MAX_DRAIN_ESTIMATE_SECONDS}  # no rate at the first point: no estimate
    env = {"depth": {60: 600.0}, "rate": {60: -1.0}}  # shrinking 1/s: 600 s
    assert metric_math.evaluate(node, env, grid) == {60: 600.0}
    env = {"depth": {60: 600.0}, "rate": {60: 0.0}}  # never divided by zero
    assert metric_math.evaluate(node, env, grid) == {60: MAX_DRAIN_ESTIMATE_SECONDS}
    floor = metric_math.parse(drain_expression(min_depth=1000))
    assert metric_math.evaluate(floor, {"depth": {60: 900.0}, "rate": {60: 5.0}}, grid) == {60: 0.0}


def test_duration_words():
    assert [duration_words(s) for s in (45, 2100, 7500, 86400, 93600)] == ["45s", "35m", "2h 5m", "1d", "1d 2h"]


SPEC = """\
version: 1
namespace: Test/Queues
name_prefix: t
environments:
  dev:
    redis: {host: 127.0.0.1, tls: false}
queues:
  - key: jobs
    alarms:
      time_to_drain:
        warning: {TIER}
"""


def spec_with(tmp_path, tier: str):
    path = tmp_path / "alarms.yaml"
    path.write_text(textwrap.dedent(SPEC).replace("{TIER}", tier))
    return load_spec(str(path), environ={})


def test_the_alarm_is_metric_math_over_queue_depth(tmp_path):
    spec = spec_with(tmp_path, "{threshold: 1800, min_depth: 100, evaluation_periods: 5, datapoints_to_alarm: 3}")
    (alarm,) = render_alarms(spec, spec.environment("dev"))
    assert alarm["AlarmName"] == "t-dev-jobs-time-to-drain-warning"
    depth, rate, eta = alarm["Metrics"]
    assert depth["MetricStat"]["Metric"]["MetricName"] == "QueueDepth" and depth["MetricStat"]["Stat"] == "Maximum"
    assert rate["Expression"] == "RATE(depth)" and not rate["ReturnData"]
    assert eta["Expression"] == drain_expression(100) and eta["ReturnData"]
    assert eta["Expression"].startswith("IF(depth <= 100, 0, IF(rate < 0, IF(depth < 86400 * (0 - rate)")
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1800, "GreaterThanThreshold")
    assert "the time the queue needs to empty at its current rate" in alarm["AlarmDescription"]


@pytest.mark.parametrize(
    "tier, message",
    [
        ("{threshold: 86400}", "the estimate is capped at 86400 seconds (a stalled or growing queue), so the alarm could never fire"),
        ("{threshold: 600, comparison: '<'}", "fires when the value grows: use > or >="),
    ],
)
def test_thresholds_that_could_never_fire_are_refused(tmp_path, tier, message):
    with pytest.raises(SpecError) as caught:
        spec_with(tmp_path, tier)
    assert message in "\n".join(str(p) for p in caught.value.problems)


def test_min_depth_belongs_to_time_to_drain(tmp_path):
    path = tmp_path / "alarms.yaml"
    path.write_text(textwrap.dedent(SPEC).replace("time_to_drain:\n        warning: {TIER}", "queue_depth:\n        warning: {threshold: 5, min_depth: 3}"))
    with pytest.raises(SpecError) as caught:
        load_spec(str(path), environ={})
    assert "min_depth belongs to time_to_drain tiers" in str(caught.value.problems[0])
