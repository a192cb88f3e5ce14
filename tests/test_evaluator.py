"""The offline alarm evaluator: truth tables, statistics, operators, M of N, math, timelines, explain."""

import pytest

from monitor.truth.evaluator import (
    EVALUATION_RANGE_EXTRA_PERIODS,
    Comparison,
    Datapoint,
    InvalidAlarm,
    MetricKey,
    NotSupported,
    State,
    Statistic,
    aggregate,
    evaluate,
    evaluation_range,
    explain,
    parse_alarm,
    period_words,
    state_at,
    transitions,
)
from monitor.truth.series import parse_series

NS = "Hokusai/Queues"
QUEUE = "hokusai:model_ready_queue"
DIMS = [{"Name": "Environment", "Value": "development"}, {"Name": "Queue", "Value": QUEUE}]
DEPTH = MetricKey.of(NS, "QueueDepth", DIMS)
DLQ = MetricKey.of(NS, "DeadLetterDepth", DIMS)
T0 = 1_700_000_400  # a multiple of 60 and of 300


def depth_alarm(**overrides):
    alarm = {
        "AlarmName": "dev-model-ready-backlog",
        "Namespace": NS,
        "MetricName": "QueueDepth",
        "Dimensions": DIMS,
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 5,
        "DatapointsToAlarm": 3,
        "Threshold": 1000.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }
    alarm.update(overrides)
    return {k: v for k, v in alarm.items() if v is not None}


def dlq_arrivals_alarm(**overrides):
    alarm = {
        "AlarmName": "dev-model-ready-dlq-arrivals",
        "Metrics": [
            {
                "Id": "depth",
                "MetricStat": {
                    "Metric": {"Namespace": NS, "MetricName": "DeadLetterDepth", "Dimensions": DIMS},
                    "Period": 60,
                    "Stat": "Maximum",
                },
                "ReturnData": False,
            },
            {"Id": "arrivals", "Expression": "DIFF(depth)", "Label": "New dead letters", "ReturnData": True},
        ],
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    }
    alarm.update(overrides)
    return alarm


def states(timeline):
    return [e.state.value for e in timeline]


# ---------------------------------------------------------------------------------------------
# The documented truth tables (docs/aws-facts.md), verbatim: oldest -> newest over the 5-period
# evaluation range; 0 = not breaching, X = breaching, - = missing. Columns: missing / ignore /
# breaching / notBreaching. "keep" = the state before the evaluation is kept.
TRUTH_TABLES = {
    (3, 3): [
        ("0-X-X", "OK", "OK", "OK", "OK"),
        ("0----", "OK", "OK", "OK", "OK"),
        ("-----", "INSUFFICIENT_DATA", "keep", "ALARM", "OK"),
        ("0XX-X", "ALARM", "ALARM", "ALARM", "ALARM"),
        ("--X--", "ALARM", "keep", "ALARM", "OK"),
        # from the older page, still consistent with the current rule
        ("----X", "INSUFFICIENT_DATA", "keep", "ALARM", "OK"),
        ("X----", "ALARM", "keep", "ALARM", "OK"),
    ],
    (2, 3): [
        ("0-X-X", "ALARM", "ALARM", "ALARM", "ALARM"),
        ("00X0X", "ALARM", "ALARM", "ALARM", "ALARM"),
        ("0-X--", "OK", "OK", "ALARM", "OK"),
        ("----0", "OK", "OK", "ALARM", "OK"),
        ("---X-", "ALARM", "keep", "ALARM", "OK"),
        # from the older page, still consistent with the current rule
        ("----X", "INSUFFICIENT_DATA", "keep", "ALARM", "OK"),
    ],
}
POLICIES = ("missing", "ignore", "breaching", "notBreaching")
TRUTH_CASES = [
    pytest.param(m, n, row, policy, expected, id=f"M{m}N{n}-{row}-{policy}")
    for (m, n), rows in TRUTH_TABLES.items()
    for row, *results in rows
    for policy, expected in zip(POLICIES, results)
]


def test_the_documented_range_is_five_periods_for_three():
    # The truth tables only make sense if N=3 evaluates 5 periods.
    assert 3 + EVALUATION_RANGE_EXTRA_PERIODS == 5


@pytest.mark.parametrize("m, n, row, policy, expected", TRUTH_CASES)
@pytest.mark.parametrize("before", ["OK", "ALARM", "INSUFFICIENT_DATA"])
def test_truth_table(m, n, row, policy, expected, before):
    period = 300  # the documented example uses 5-minute periods
    alarm = depth_alarm(
        Period=period, EvaluationPeriods=n, DatapointsToAlarm=m, Threshold=1000.0, TreatMissingData=policy
    )
    values = {"0": 10.0, "X": 5000.0}
    samples = [(T0 + i * period, values[c]) for i, c in enumerate(row) if c != "-"]
    end = T0 + len(row) * period  # the evaluation whose sliding range is exactly these 5 periods
    [evaluation] = evaluate(alarm, {DEPTH: samples}, end - 60, end, initial_state=before)
    assert evaluation.time == end
    assert evaluation.state.value == (before if expected == "keep" else expected), evaluation.reason


def test_truth_table_datapoints_show_real_and_filled_points():
    alarm = depth_alarm(Period=300, EvaluationPeriods=3, DatapointsToAlarm=3, TreatMissingData="breaching")
    end = T0 + 5 * 300
    [ev] = evaluate(alarm, {DEPTH: [(T0, 10.0)]}, end - 60, end)  # row 0----
    # the one real point plus the two newest empty periods, filled as breaching
    assert ev.datapoints == (
        Datapoint(T0, 10.0, True, False),
        Datapoint(T0 + 3 * 300, None, False, True),
        Datapoint(T0 + 4 * 300, None, False, True),
    )
    assert ev.state is State.OK


def test_with_enough_real_points_the_policy_plays_no_part_and_the_newest_decide():
    # 0XX-X: four real points, the three newest (X X X) decide even under notBreaching
    alarm = depth_alarm(Period=300, EvaluationPeriods=3, DatapointsToAlarm=3, TreatMissingData="notBreaching")
    samples = [(T0, 1.0), (T0 + 300, 5000.0), (T0 + 600, 5000.0), (T0 + 1200, 5000.0)]
    [ev] = evaluate(alarm, {DEPTH: samples}, T0 + 1440, T0 + 1500)
    assert [p.time for p in ev.datapoints] == [T0 + 300, T0 + 600, T0 + 1200]
    assert all(p.real and p.breaching for p in ev.datapoints)
    assert "3 of the last 3 datapoints breaching" in ev.reason


# ---------------------------------------------------------------------------------------------
# Aggregation


SAMPLES = [(T0 + 1, 4.0), (T0 + 20, 10.0), (T0 + 59, 1.0), (T0 + 60, 7.0)]


@pytest.mark.parametrize(
    "statistic, first, second",
    [
        (Statistic.SAMPLE_COUNT, 3.0, 1.0),
        (Statistic.AVERAGE, 5.0, 7.0),
        (Statistic.SUM, 15.0, 7.0),
        (Statistic.MINIMUM, 1.0, 7.0),
        (Statistic.MAXIMUM, 10.0, 7.0),
    ],
)
def test_aggregation_per_statistic_on_epoch_aligned_periods(statistic, first, second):
    assert aggregate(SAMPLES, statistic, 60) == {T0: first, T0 + 60: second}


def test_periods_align_to_epoch_multiples_not_to_the_first_sample():
    assert list(aggregate([(T0 + 250, 1.0), (T0 + 310, 2.0)], Statistic.SUM, 300)) == [T0, T0 + 300]


def test_several_collector_runs_per_period_reduce_by_the_alarm_statistic():
    # two runs in each minute: Maximum sees the spike, Average halves it
    samples = [(T0 + 5, 0.0), (T0 + 35, 2000.0)]
    assert evaluate(depth_alarm(EvaluationPeriods=1, DatapointsToAlarm=1), {DEPTH: samples}, T0, T0 + 60)[0].state is State.ALARM
    assert (
        evaluate(depth_alarm(EvaluationPeriods=1, DatapointsToAlarm=1, Statistic="Average"), {DEPTH: samples}, T0, T0 + 60)[0].state
        is State.OK
    )


def test_percentiles_are_refused_clearly():
    alarm = depth_alarm(Statistic=None, ExtendedStatistic="p99")
    with pytest.raises(NotSupported, match="p99"):
        evaluate(alarm, {}, T0, T0 + 60)
    math_alarm = dlq_arrivals_alarm()
    math_alarm["Metrics"][0]["MetricStat"]["Stat"] = "p90"
    with pytest.raises(NotSupported, match="p90"):
        parse_alarm(math_alarm)


# ---------------------------------------------------------------------------------------------
# Operators and M of N


@pytest.mark.parametrize(
    "operator, below, equal, above",
    [
        ("GreaterThanThreshold", False, False, True),
        ("GreaterThanOrEqualToThreshold", False, True, True),
        ("LessThanThreshold", True, False, False),
        ("LessThanOrEqualToThreshold", True, True, False),
    ],
)
def test_each_operator(operator, below, equal, above):
    comparison = Comparison(operator)
    assert [comparison.breaches(v, 100.0) for v in (99.0, 100.0, 101.0)] == [below, equal, above]
    alarm = depth_alarm(ComparisonOperator=operator, Threshold=100.0, EvaluationPeriods=1, DatapointsToAlarm=1)
    data = {DEPTH: [(T0, 99.0), (T0 + 60, 100.0), (T0 + 120, 101.0)]}
    expected = ["ALARM" if b else "OK" for b in (below, equal, above)]
    assert states(evaluate(alarm, data, T0, T0 + 180)) == expected


def test_m_of_n_breaching_points_need_not_be_consecutive():
    alarm = depth_alarm()  # 3 of 5
    data = {DEPTH: parse_series("2000 0 2000 0 0", T0, 60)}
    assert evaluate(alarm, data, T0 + 240, T0 + 300)[0].state is State.OK  # 2 of 5
    data = {DEPTH: parse_series("2000 0 2000 0 2000", T0, 60)}
    assert evaluate(alarm, data, T0 + 240, T0 + 300)[0].state is State.ALARM  # 3 of 5


def test_datapoints_to_alarm_defaults_to_evaluation_periods():
    alarm = depth_alarm(DatapointsToAlarm=None, EvaluationPeriods=3)
    assert parse_alarm(alarm).datapoints_to_alarm == 3
    data = {DEPTH: parse_series("2000 2000 0", T0, 60)}
    assert evaluate(alarm, data, T0 + 120, T0 + 180)[0].state is State.OK
    data = {DEPTH: parse_series("2000 2000 2000", T0, 60)}
    assert evaluate(alarm, data, T0 + 120, T0 + 180)[0].state is State.ALARM


# ---------------------------------------------------------------------------------------------
# Metric math alarms


def test_dlq_going_0_0_1_fires():
    data = {DLQ: parse_series("0 0 1", T0, 60)}
    timeline = evaluate(dlq_arrivals_alarm(), data, T0, T0 + 180)
    assert states(timeline) == ["OK", "OK", "ALARM"]
    assert timeline[-1].datapoints == (Datapoint(T0 + 120, 1.0, True, True),)


def test_dlq_standing_still_clears_even_when_not_empty():
    data = {DLQ: parse_series("0 3 3 3", T0, 60)}
    assert states(evaluate(dlq_arrivals_alarm(), data, T0, T0 + 240)) == ["OK", "ALARM", "OK", "OK"]


def test_dlq_drained_then_a_new_arrival_fires_again():
    data = {DLQ: parse_series("0 5 5 0 0 1", T0, 60)}
    timeline = evaluate(dlq_arrivals_alarm(), data, T0, T0 + 360)
    assert states(timeline) == ["OK", "ALARM", "OK", "OK", "OK", "ALARM"]
    assert [(e.time - T0, e.state.value) for e in transitions(timeline)] == [
        (60, "OK"), (120, "ALARM"), (180, "OK"), (360, "ALARM"),
    ]


def test_diff_has_no_value_at_the_oldest_period_of_the_range():
    # A DLQ whose first-ever datapoint is 4 has no previous point: DIFF gives nothing, not 4.
    alarm = dlq_arrivals_alarm(TreatMissingData="missing")
    [ev] = evaluate(alarm, {DLQ: [(T0 + 120, 4.0)]}, T0 + 120, T0 + 180)
    assert ev.state is State.INSUFFICIENT_DATA


def test_rate_is_per_second_between_points():
    alarm = dlq_arrivals_alarm(Threshold=0.5)
    alarm["Metrics"][1]["Expression"] = "RATE(depth)"
    data = {DLQ: parse_series("0 20 60", T0, 60)}  # +20 then +40 per minute: 0.33/s then 0.67/s
    timeline = evaluate(alarm, data, T0 + 60, T0 + 180)
    assert states(timeline) == ["OK", "ALARM"]
    assert timeline[-1].datapoints[0].value == pytest.approx(40 / 60)


def test_arithmetic_across_two_metrics():
    in_flight = MetricKey.of(NS, "InFlightDepth", DIMS)
    alarm = dlq_arrivals_alarm(Threshold=100)
    def stat(query_id, metric):
        metric = {"Namespace": NS, "MetricName": metric, "Dimensions": DIMS}
        return {"Id": query_id, "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Maximum"}, "ReturnData": False}

    alarm["Metrics"] = [
        stat("waiting", "QueueDepth"),
        stat("busy", "InFlightDepth"),
        {"Id": "total", "Expression": "(waiting + busy) * 2", "ReturnData": True},
    ]
    data = {DEPTH: parse_series("10 40", T0, 60), in_flight: parse_series("30 20", T0, 60)}
    timeline = evaluate(alarm, data, T0, T0 + 120)
    assert [e.datapoints[0].value for e in timeline] == [80.0, 120.0]
    assert states(timeline) == ["OK", "ALARM"]


def test_fill_inside_the_expression_turns_silence_into_values():
    alarm = dlq_arrivals_alarm(Threshold=1, TreatMissingData="missing")
    alarm["Metrics"][1]["Expression"] = "FILL(depth, 0)"
    [ev] = evaluate(alarm, {}, T0, T0 + 60)
    assert ev.state is State.OK
    assert ev.datapoints == (Datapoint(T0, 0.0, True, False),)


def test_math_alarm_validation():
    alarm = dlq_arrivals_alarm()
    alarm["Metrics"][0]["ReturnData"] = True
    with pytest.raises(InvalidAlarm, match="exactly one"):
        parse_alarm(alarm)
    alarm = dlq_arrivals_alarm()
    alarm["Metrics"][1]["Expression"] = "DIFF(nope)"
    with pytest.raises(InvalidAlarm, match="unknown id"):
        parse_alarm(alarm)


# ---------------------------------------------------------------------------------------------
# Missing data over a timeline


def test_missing_policies_over_a_timeline_when_the_collector_stops():
    text = "0x3 _x6"  # three quiet minutes, then the collector publishes nothing
    data = {DEPTH: parse_series(text, T0, 60)}
    alarm = lambda policy: depth_alarm(EvaluationPeriods=3, DatapointsToAlarm=3, TreatMissingData=policy)  # noqa: E731
    run = lambda policy: states(evaluate(alarm(policy), data, T0, T0 + 9 * 60))  # noqa: E731
    # the range is 5 periods: the last real point leaves it at the 8th evaluation
    assert run("missing") == ["OK"] * 7 + ["INSUFFICIENT_DATA"] * 2
    assert run("ignore") == ["OK"] * 9
    assert run("notBreaching") == ["OK"] * 9
    # breaching: real 0s keep it OK while any is in range, since fewest fills are used
    assert run("breaching") == ["OK"] * 7 + ["ALARM"] * 2


def test_ignore_keeps_the_previous_state_through_a_gap():
    data = {DEPTH: parse_series("2000x3 _x8 0x3", T0, 60)}
    alarm = depth_alarm(EvaluationPeriods=3, DatapointsToAlarm=3, TreatMissingData="ignore")
    timeline = evaluate(alarm, data, T0, T0 + 14 * 60)
    # ALARM from the third minute; the gap keeps it; the first real 0 in range clears it
    assert states(timeline) == ["INSUFFICIENT_DATA"] * 2 + ["ALARM"] * 9 + ["OK"] * 3
    assert "stays ALARM" in timeline[9].reason


def test_ignore_keeps_whatever_the_initial_state_was():
    alarm = depth_alarm(TreatMissingData="ignore")
    for before in State:
        assert states(evaluate(alarm, {}, T0, T0 + 120, initial_state=before)) == [before.value] * 2


# ---------------------------------------------------------------------------------------------
# State transitions


def test_backlog_builds_alarms_at_the_expected_period_then_drains_to_ok():
    alarm = depth_alarm()  # Maximum > 1000 in 3 of 5 one-minute periods
    data = {DEPTH: parse_series("0x10 1500x6 0x5", T0, 60)}
    timeline = evaluate(alarm, data, T0, T0 + 21 * 60)
    changes = transitions(timeline)
    # first OK after 1 minute; 1500s start at minute 10 (T0+600), the third of them ends at T0+780
    assert [(e.time - T0, e.state.value) for e in changes] == [(60, "OK"), (780, "ALARM"), (1140, "OK")]
    # it clears when only 2 of the last 5 breach: 1500 values at minutes 14, 15 plus three 0s
    assert [p.value for p in changes[2].datapoints] == [1500.0, 1500.0, 0.0, 0.0, 0.0]
    assert state_at(timeline, T0 + 779) is State.OK
    assert state_at(timeline, T0 + 780) is State.ALARM
    assert state_at(timeline, T0 + 1139) is State.ALARM
    assert state_at(timeline, T0 + 5000) is State.OK
    assert state_at(timeline, T0) is State.INSUFFICIENT_DATA


def test_transitions_count_the_first_evaluation_only_if_it_changed_the_initial_state():
    data = {DEPTH: parse_series("0x3", T0, 60)}
    timeline = evaluate(depth_alarm(), data, T0, T0 + 180, initial_state="OK")
    assert transitions(timeline, initial_state="OK") == []
    assert len(transitions(timeline)) == 1


def test_evaluations_happen_every_minute_whatever_the_period():
    timeline = evaluate(depth_alarm(Period=300), {}, T0 + 10, T0 + 300)
    assert [e.time - T0 for e in timeline] == [60, 120, 180, 240, 300]
    assert [e.time - T0 for e in evaluate(depth_alarm(Period=3600), {}, T0, T0 + 180)] == [60, 120, 180]


@pytest.mark.parametrize("period", [10, 20, 30])
def test_high_resolution_alarms_are_evaluated_every_ten_seconds(period):
    timeline = evaluate(depth_alarm(Period=period), {}, T0, T0 + 60)
    assert [e.time - T0 for e in timeline] == [10, 20, 30, 40, 50, 60]


def test_a_twenty_second_alarm_slides_in_ten_second_steps():
    # zeros every 10 s and one spike at T0+25: a 20 s, 1-of-1 alarm sees it in the windows ending at T0+30 and T0+40
    alarm = depth_alarm(Period=20, EvaluationPeriods=1, DatapointsToAlarm=1, TreatMissingData="notBreaching")
    quiet = [(T0 + t, 0.0) for t in range(0, 70, 10)]
    timeline = evaluate(alarm, {DEPTH: quiet + [(T0 + 25, 5000.0)]}, T0, T0 + 60)
    assert [(e.time - T0, e.state.value) for e in transitions(timeline)] == [(10, "OK"), (30, "ALARM"), (50, "OK")]


# ---------------------------------------------------------------------------------------------
# explain


def test_explain_single_metric():
    assert explain(depth_alarm()) == (
        "ALARM when the maximum of QueueDepth (Queue=hokusai:model_ready_queue) is above 1000 "
        "in 3 of the last 5 one-minute periods; OK otherwise; missing data counts as not breaching."
    )


def test_explain_math_alarm():
    assert explain(dlq_arrivals_alarm()) == (
        "ALARM when the increase of the maximum of DeadLetterDepth (Queue=hokusai:model_ready_queue) between periods "
        "is at least 1 in the latest one-minute period; OK otherwise; missing data counts as not breaching."
    )


def _branching_alarm(label: str | None) -> dict:
    depth = {"Namespace": "Hokusai/Queues", "MetricName": "QueueDepth", "Dimensions": [{"Name": "Queue", "Value": "q"}]}
    result = {"Id": "drain", "Expression": "IF(depth > 10, depth / 2, 0)", "ReturnData": True}
    if label is not None:
        result["Label"] = label
    return {
        "AlarmName": "branching", "ComparisonOperator": "GreaterThanThreshold", "Threshold": 60, "EvaluationPeriods": 1,
        "Metrics": [{"Id": "depth", "MetricStat": {"Metric": depth, "Period": 60, "Stat": "Maximum"}, "ReturnData": False}, result],
    }


def test_explain_names_a_branching_formula_by_its_label_and_its_inputs():
    assert explain(_branching_alarm("Seconds until empty")).startswith(
        'ALARM when "Seconds until empty" (metric math over the maximum of QueueDepth (Queue=q)) is above 60 in the latest one-minute period'
    )
    spelled = explain(_branching_alarm(None))  # no label: the formula is read out
    assert "Seconds until empty" not in spelled and "the maximum of QueueDepth (Queue=q)" in spelled and spelled.count("QueueDepth") > 1


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"EvaluationPeriods": 3, "DatapointsToAlarm": 3, "Period": 300}, "in each of the last 3 5-minute periods"),
        ({"ComparisonOperator": "LessThanOrEqualToThreshold", "Threshold": 0.5}, "is at most 0.5"),
        ({"ComparisonOperator": "LessThanThreshold"}, "is below 1000"),
        ({"Statistic": "SampleCount"}, "the number of samples of QueueDepth"),
        ({"TreatMissingData": "breaching"}, "missing data counts as breaching."),
        ({"TreatMissingData": "ignore"}, "missing data keeps the current state."),
        ({"TreatMissingData": None}, "with no data at all the alarm is INSUFFICIENT_DATA."),
        ({"Period": 3600, "EvaluationPeriods": 1, "DatapointsToAlarm": 1}, "in the latest one-hour period"),
    ],
)
def test_explain_variants(overrides, words):
    assert words in explain(depth_alarm(**overrides))


def test_period_words():
    assert [period_words(s) for s in (10, 60, 300, 3600, 7200, 86400)] == [
        "10-second", "one-minute", "5-minute", "one-hour", "2-hour", "one-day",
    ]


# ---------------------------------------------------------------------------------------------
# Alarm parameters


def test_metric_key_is_the_same_from_boto3_dimensions_or_a_mapping():
    assert MetricKey.of(NS, "QueueDepth", {"Queue": QUEUE, "Environment": "development"}) == DEPTH
    assert MetricKey.from_metric(depth_alarm()) == DEPTH
    assert MetricKey.of(NS, "QueueDepth", {"Queue": "other"}) != DEPTH


@pytest.mark.parametrize(
    "overrides, error, words",
    [
        ({"ComparisonOperator": "GreaterThan"}, InvalidAlarm, "GreaterThanOrEqualToThreshold"),
        ({"ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold"}, NotSupported, "anomaly"),
        ({"DatapointsToAlarm": 6}, InvalidAlarm, "between 1 and EvaluationPeriods"),
        ({"TreatMissingData": "zero"}, InvalidAlarm, "notBreaching"),
        ({"Period": 45}, InvalidAlarm, "multiple of 60"),
        ({"Statistic": "Median"}, InvalidAlarm, "SampleCount"),
        ({"Threshold": None}, InvalidAlarm, "Threshold is required"),
    ],
)
def test_invalid_alarms_are_refused_with_the_allowed_values(overrides, error, words):
    with pytest.raises(error, match=words):
        parse_alarm(depth_alarm(**overrides))


# ---------------------------------------------------------------------------------------------
# Sliding windows (the default): the range is counted back from each minute's evaluation.
# Columns, as in the truth tables: missing / ignore / breaching / notBreaching.


def spike_alarm(policy, **overrides):
    """A 300 s, 1-of-1 alarm on the maximum depth above 1000."""
    return depth_alarm(Period=300, EvaluationPeriods=1, DatapointsToAlarm=1, TreatMissingData=policy, **overrides)


SPIKE_ONLY = {DEPTH: [(T0 + 7 * 60 + 5, 5000.0)]}  # one sample at 7m05s, nothing else ever
# per policy, the state before SPIKE_ONLY's spike is in range and once it has left it (no data either side)
SPIKE_ONLY_BEFORE_AFTER = [
    ("missing", "INSUFFICIENT_DATA", "INSUFFICIENT_DATA"),
    ("ignore", "INSUFFICIENT_DATA", "ALARM"),
    ("breaching", "ALARM", "ALARM"),
    ("notBreaching", "OK", "OK"),
]


@pytest.mark.parametrize("policy, before, after", SPIKE_ONLY_BEFORE_AFTER)
def test_sliding_a_single_spike_on_a_five_minute_alarm_fires_within_a_minute(policy, before, after):
    # no data before the spike; the spike stays in the 3-period (15 min) range until 22m05s
    timeline = evaluate(spike_alarm(policy), SPIKE_ONLY, T0, T0 + 30 * 60)
    by_minute = {(e.time - T0) // 60: e.state.value for e in timeline}
    assert [by_minute[m] for m in range(1, 8)] == [before] * 7
    # the evaluation at 8m sees [3m, 8m), which holds the spike: ALARM one minute after it, not at 10m
    assert by_minute[8] == "ALARM"
    # with one real point in the range and N = 1, that point decides, whatever the policy
    assert all(by_minute[m] == "ALARM" for m in range(8, 23))
    # at 23m the range [8m, 23m) is empty
    assert [by_minute[m] for m in range(23, 31)] == [after] * 8


@pytest.mark.parametrize("policy", ["missing", "ignore", "breaching", "notBreaching"])
def test_sliding_a_spike_among_quiet_minutes_fires_at_the_next_minute_and_clears_five_minutes_later(policy):
    samples = [(T0 + m * 60, 0.0) for m in range(30)] + [(T0 + 7 * 60 + 5, 5000.0)]
    changes = transitions(evaluate(spike_alarm(policy), {DEPTH: samples}, T0, T0 + 30 * 60))
    # the spike leaves the latest 5-minute period at 12m05s: OK from 13m
    assert [(e.time - T0, e.state.value) for e in changes] == [(60, "OK"), (480, "ALARM"), (780, "OK")]


@pytest.mark.parametrize(
    "policy, silent",
    [("missing", "INSUFFICIENT_DATA"), ("ignore", "OK"), ("breaching", "ALARM"), ("notBreaching", "OK")],
)
def test_sliding_a_sum_over_two_samples_straddling_a_five_minute_boundary_fires(policy, silent):
    # Sum >= 2 over 300 s: one sample at 4m30s and one at 5m30s, no other data
    alarm = spike_alarm(policy, Statistic="Sum", Threshold=2.0, ComparisonOperator="GreaterThanOrEqualToThreshold")
    data = {DEPTH: [(T0 + 270, 1.0), (T0 + 330, 1.0)]}
    by_minute = {(e.time - T0) // 60: e.state.value for e in evaluate(alarm, data, T0, T0 + 25 * 60)}
    assert by_minute[5] == "OK"  # [0m, 5m) holds one sample
    assert [by_minute[m] for m in (6, 7, 8, 9)] == ["ALARM"] * 4  # [1m, 6m) ... [4m, 9m) hold both
    assert by_minute[10] == "OK"  # [5m, 10m) holds only the second
    # the last sample leaves the 15-minute range at 20m30s
    assert by_minute[20] == "OK" and by_minute[21] == silent


def test_the_old_clock_aligned_model_would_never_fire_on_the_straddling_pair():
    # the same two samples on epoch-aligned 5-minute periods: 1 and 1, never 2
    assert aggregate([(T0 + 270, 1.0), (T0 + 330, 1.0)], Statistic.SUM, 300) == {T0: 1.0, T0 + 300: 1.0}


def test_sliding_datapoints_are_counted_back_from_the_evaluation():
    alarm = depth_alarm(Period=300, EvaluationPeriods=3, DatapointsToAlarm=3, TreatMissingData="notBreaching")
    data = {DEPTH: [(T0 + m * 60, 5000.0) for m in range(20)]}
    [ev] = evaluate(alarm, data, T0 + 16 * 60, T0 + 17 * 60)
    assert [p.time - T0 for p in ev.datapoints] == [2 * 60, 7 * 60, 12 * 60]
    assert ev.state is State.ALARM


# ---------------------------------------------------------------------------------------------
# Wall-clock windows: periods on the clock, each counted once it has ended.


def wall(timezone=None):
    return {"WallClockWindow": {"Timezone": timezone} if timezone else {}}


@pytest.mark.parametrize("policy, before, after", SPIKE_ONLY_BEFORE_AFTER)
def test_wall_clock_a_spike_counts_once_its_period_has_ended(policy, before, after):
    alarm = spike_alarm(policy, EvaluationWindow=wall())
    by_minute = {(e.time - T0) // 60: e.state.value for e in evaluate(alarm, SPIKE_ONLY, T0, T0 + 30 * 60)}
    # the spike at 7m05s is in the period [5m, 10m): nothing counts it before 10m
    assert [by_minute[m] for m in range(1, 10)] == [before] * 9
    assert all(by_minute[m] == "ALARM" for m in range(10, 25))
    # from 25m the three ended periods are [10m, 25m): no data
    assert [by_minute[m] for m in range(25, 31)] == [after] * 6


def test_wall_clock_the_straddling_pair_never_fires():
    alarm = spike_alarm("notBreaching", EvaluationWindow=wall(), Statistic="Sum", Threshold=2.0)
    alarm["ComparisonOperator"] = "GreaterThanOrEqualToThreshold"
    timeline = evaluate(alarm, {DEPTH: [(T0 + 270, 1.0), (T0 + 330, 1.0)]}, T0, T0 + 25 * 60)
    assert set(states(timeline)) == {"OK"}


def test_wall_clock_hours_follow_a_half_hour_offset():
    # 1 hour, +05:30: hours end at hh:30 UTC; T0 is a whole UTC hour (00:00 UTC = 05:30 local)
    hour0 = 1_700_002_800
    assert hour0 % 3600 == 0
    alarm = depth_alarm(Period=3600, EvaluationPeriods=1, DatapointsToAlarm=1, EvaluationWindow=wall("+05:30"))
    quiet = [(hour0 + m * 60, 0.0) for m in range(180)]
    data = {DEPTH: quiet + [(hour0 + 40 * 60, 5000.0)]}  # 00:40 UTC, in the local hour 06:00-07:00 = 00:30-01:30 UTC
    changes = transitions(evaluate(alarm, data, hour0, hour0 + 3 * 3600))
    assert [(e.time - hour0, e.state.value) for e in changes] == [(60, "OK"), (90 * 60, "ALARM"), (150 * 60, "OK")]
    assert changes[1].datapoints == (Datapoint(hour0 + 30 * 60, 5000.0, True, True),)


def test_wall_clock_days_end_at_local_midnight_and_a_dst_day_has_23_hours():
    # Europe/Berlin moved to summer time on 2026-03-29: that day is 23 hours long
    day_start = 1_774_738_800  # 2026-03-29 00:00 Berlin (CET, +01:00) = 2026-03-28T23:00Z
    day_end = day_start + 23 * 3600  # 2026-03-30 00:00 Berlin (CEST, +02:00) = 2026-03-29T22:00Z
    alarm = depth_alarm(Period=86400, EvaluationPeriods=1, DatapointsToAlarm=1, EvaluationWindow=wall("Europe/Berlin"))
    data = {DEPTH: [(day_start + 3600, 5000.0)]}
    changes = transitions(evaluate(alarm, data, day_start, day_end + 120))
    assert [(e.time, e.state.value) for e in changes] == [(day_start + 60, "OK"), (day_end, "ALARM")]
    assert changes[-1].datapoints[0].time == day_start


def test_wall_clock_the_day_summer_time_ends_has_25_hours():
    day_start = 1_792_879_200  # 2026-10-25 00:00 Berlin (CEST, +02:00) = 2026-10-24T22:00Z
    day_end = 1_792_969_200  # 2026-10-26 00:00 Berlin (CET, +01:00) = 2026-10-25T23:00Z
    assert day_end - day_start == 25 * 3600
    config = parse_alarm(depth_alarm(Period=86400, EvaluationPeriods=1, DatapointsToAlarm=1, EvaluationWindow=wall("Europe/Berlin")))
    [*_, newest] = evaluation_range(config, day_end + 60)
    assert newest == (day_start, day_end)
    # hours through the repeated local hour: 02:00-03:00 CEST then 02:00-03:00 CET, each 3600 s
    hourly = parse_alarm(depth_alarm(Period=3600, EvaluationPeriods=1, DatapointsToAlarm=1, EvaluationWindow=wall("Europe/Berlin")))
    three_cet = day_start + 4 * 3600  # 2026-10-25T02:00Z = 03:00 CET
    assert evaluation_range(hourly, three_cet + 60)[-2:] == [(three_cet - 7200, three_cet - 3600), (three_cet - 3600, three_cet)]


def test_wall_clock_weeks_start_on_monday_midnight():
    monday = 1_767_571_200  # 2026-01-05T00:00Z, a Monday
    alarm = depth_alarm(Period=604800, EvaluationPeriods=1, DatapointsToAlarm=1, EvaluationWindow=wall("UTC"))
    data = {DEPTH: [(monday + 2 * 86400, 5000.0)]}  # Wednesday
    timeline = evaluate(alarm, data, monday + 7 * 86400 - 120, monday + 7 * 86400 + 60)
    assert states(timeline) == ["OK", "ALARM", "ALARM"]  # Sunday 23:59 -> still OK; Monday 00:00 -> ALARM
    assert timeline[1].datapoints[0].time == monday


@pytest.mark.parametrize(
    "window, period, words",
    [
        (wall(), 120, "60, 300, 3600, 86400 or 604800"),
        (wall("Mars/Olympus_Mons"), 300, "not a time zone"),
        (wall("+05:31"), 300, "multiple of 5 minutes"),
        (wall("+25:00"), 300, "not a UTC offset"),
        ({"WallClockWindow": {"Timezone": "UTC", "Align": "x"}}, 300, "only Timezone"),
        ({"SlidingWindow": {}, "WallClockWindow": {}}, 300, "exactly one of SlidingWindow, WallClockWindow"),
        ({"Rolling": {}}, 300, "exactly one of"),
    ],
)
def test_unsupported_windows_are_refused_with_the_allowed_values(window, period, words):
    with pytest.raises(InvalidAlarm, match=words):
        parse_alarm(depth_alarm(Period=period, EvaluationWindow=window))


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York", "+05:30", "-03:00", "UTC+05:45", "UTC-09:30"])
def test_accepted_time_zones(timezone):
    assert parse_alarm(depth_alarm(Period=300, EvaluationWindow=wall(timezone))).window.timezone == timezone


def test_an_explicit_sliding_window_is_the_default():
    assert parse_alarm(depth_alarm(EvaluationWindow={"SlidingWindow": {}})) == parse_alarm(depth_alarm())


def test_explain_says_which_window():
    assert explain(spike_alarm("missing")).endswith(
        "in the latest 5-minute period, counted back from each evaluation every minute (sliding window); "
        "OK otherwise; missing data is left out, and with no data at all the alarm is INSUFFICIENT_DATA."
    )
    assert ", whole periods on the clock in Europe/Berlin, each counted once it has ended (wall-clock window);" in explain(
        spike_alarm("missing", EvaluationWindow=wall("Europe/Berlin"))
    )
    assert "on the clock in UTC" in explain(spike_alarm("missing", EvaluationWindow=wall()))
    assert "window" not in explain(depth_alarm())  # one-minute periods: every evaluation sees whole minutes


def test_anomaly_detection_bands_are_not_modelled_never_guessed():
    alarm = dlq_arrivals_alarm(ThresholdMetricId="band", Threshold=None, ComparisonOperator="GreaterThanUpperThreshold")
    alarm = {k: v for k, v in alarm.items() if v is not None}
    with pytest.raises(NotSupported, match="anomaly"):
        parse_alarm(alarm)
    alarm = dlq_arrivals_alarm(ThresholdMetricId="band")
    alarm["Metrics"][1] = {"Id": "band", "Expression": "ANOMALY_DETECTION_BAND(depth, 2)", "ReturnData": True}
    with pytest.raises(NotSupported, match="anomaly"):
        parse_alarm(alarm)
    alarm.pop("ThresholdMetricId")
    with pytest.raises(NotSupported, match="ANOMALY_DETECTION_BAND"):
        parse_alarm(alarm)


@pytest.mark.parametrize("timezone", [None, "Europe/Berlin", "+05:30"])
def test_the_window_field_written_is_the_window_read_back(timezone):
    from monitor.cloudwatch.plan import _window
    from monitor.spec.windows import WindowKind, read_window_field, window_field
    from monitor.truth.evaluator import parse_window

    field = window_field(WindowKind.WALL_CLOCK, timezone)
    assert read_window_field(field) == (WindowKind.WALL_CLOCK, timezone)
    assert parse_window("a", field, 3600).timezone == timezone
    assert _window(field) == ("WallClockWindow", timezone or "UTC")
    assert window_field(WindowKind.SLIDING, None) is None
    assert read_window_field(None) == read_window_field({"SlidingWindow": {}}) == (WindowKind.SLIDING, None)
    assert _window(None) is _window({"SlidingWindow": {}}) is None
