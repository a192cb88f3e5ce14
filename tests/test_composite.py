"""Composite alarms offline: AlarmRule parsing and limits, states over children's timelines, actions suppression."""

import pytest

from monitor.truth.composite import (
    MAX_RULE_CHILDREN,
    MAX_RULE_ELEMENTS,
    MAX_RULE_LENGTH,
    Both,
    Constant,
    Not,
    Operator,
    Outcome,
    RuleSyntaxError,
    StateOf,
    actions,
    children_of,
    evaluate_composites,
    holds,
    parse_composite,
    parse_rule,
)
from monitor.truth.evaluator import Evaluation, InvalidAlarm, MetricKey, State, evaluate
from monitor.truth.series import parse_series

A, O, I = State.ALARM, State.OK, State.INSUFFICIENT_DATA
TOPIC = "arn:aws:sns:eu-west-1:123456789012:pager"
OK_TOPIC = "arn:aws:sns:eu-west-1:123456789012:recovered"


def line(text: str) -> list[Evaluation]:
    """A timeline from 'OK@0 ALARM@300 OK@900': the state each evaluation (time in seconds) found."""
    out = []
    for token in text.split():
        state, _, at = token.partition("@")
        out.append(Evaluation(int(at), State(state), (), "literal"))
    return out


def composite(rule: str, name: str = "page", **extra) -> dict:
    return {"AlarmName": name, "AlarmRule": rule, "AlarmActions": [TOPIC], **extra}


def suppressed_page(wait: int = 120, extension: int = 180, **extra) -> dict:
    return composite(
        "ALARM(queue-depth) OR ALARM(queue-lag)",
        ActionsSuppressor="redis-down",
        ActionsSuppressorWaitPeriod=wait,
        ActionsSuppressorExtensionPeriod=extension,
        **extra,
    )


# ---------------------------------------------------------------- the rule language


def test_the_documented_examples_parse():
    assert parse_rule("ALARM(CPUUtilizationTooHigh) AND ALARM(DiskReadOpsTooHigh)") == Both(
        Operator.AND, (StateOf(A, "CPUUtilizationTooHigh"), StateOf(A, "DiskReadOpsTooHigh"))
    )
    assert parse_rule("ALARM(CPUUtilizationTooHigh) AND NOT ALARM(DeploymentInProgress)") == Both(
        Operator.AND, (StateOf(A, "CPUUtilizationTooHigh"), Not(StateOf(A, "DeploymentInProgress")))
    )
    assert parse_rule("(ALARM(CPUUtilizationTooHigh) OR ALARM(DiskReadOpsTooHigh)) AND OK(NetworkOutTooHigh)") == Both(
        Operator.AND,
        (Both(Operator.OR, (StateOf(A, "CPUUtilizationTooHigh"), StateOf(A, "DiskReadOpsTooHigh"))), StateOf(O, "NetworkOutTooHigh")),
    )


def test_names_may_be_quoted_bare_or_arns_and_constants_are_allowed():
    rule = parse_rule('INSUFFICIENT_DATA("queue depth (prod)") OR OK(arn:aws:cloudwatch:eu-west-1:123456789012:alarm:lag) OR TRUE')
    assert rule == Both(Operator.OR, (StateOf(I, "queue depth (prod)"), StateOf(O, "lag"), Constant(True)))
    assert children_of(rule) == {"queue depth (prod)", "lag"}
    assert parse_rule("  FALSE ") == Constant(False)


def test_not_binds_tighter_than_and_and_and_tighter_than_or():
    rule = parse_rule("ALARM(a) OR ALARM(b) AND NOT ALARM(c)")
    assert rule == Both(Operator.OR, (StateOf(A, "a"), Both(Operator.AND, (StateOf(A, "b"), Not(StateOf(A, "c"))))))
    assert holds(rule, {"a": A, "b": O, "c": O}) is True
    assert holds(rule, {"a": O, "b": A, "c": A}) is False
    assert holds(rule, {"a": O, "b": A, "c": O}) is True


@pytest.mark.parametrize(
    "text, words",
    [
        ("ALARM(a) AND", "character 13: found the end; expected ALARM(name)"),
        ("ALARM(a", "no closing ')'"),
        ('ALARM("a) OR OK(b)', "no closing '\"'"),
        ("alarm(a)", "expected ALARM(name), OK(name), INSUFFICIENT_DATA(name), TRUE, FALSE, NOT or '('"),
        ("ALARM(a) XOR ALARM(b)", "expected AND, OR or the end"),
        ("ALARM()", "empty alarm name"),
        ("(ALARM(a) OR OK(b)", "expected ')', found the end"),
        ("", "AlarmRule is empty"),
    ],
)
def test_bad_rules_are_refused_with_the_position(text, words):
    with pytest.raises(RuleSyntaxError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_rule(text, "page")


def test_the_documented_limits():
    at_limit = " OR ".join(f"ALARM(a{i})" for i in range(MAX_RULE_CHILDREN))
    assert len(children_of(parse_rule(at_limit))) == MAX_RULE_CHILDREN
    with pytest.raises(RuleSyntaxError, match=f"names 101 alarms; at most {MAX_RULE_CHILDREN}"):
        parse_rule(at_limit + " OR ALARM(one_more)", "page")
    # the same child many times is one child, but each reference is an element
    many = " OR ".join(["ALARM(a)"] * (MAX_RULE_ELEMENTS + 1))
    with pytest.raises(RuleSyntaxError, match=f"501 elements .*at most {MAX_RULE_ELEMENTS}"):
        parse_rule(many, "page")
    assert children_of(parse_rule(" OR ".join(["ALARM(a)"] * MAX_RULE_ELEMENTS))) == {"a"}
    with pytest.raises(RuleSyntaxError, match=f"10241 characters; at most {MAX_RULE_LENGTH}"):
        parse_rule(f'ALARM("{"x" * (MAX_RULE_LENGTH - 8)}")', "page")
    assert children_of(parse_rule(f'ALARM("{"x" * (MAX_RULE_LENGTH - 9)}")')) == {"x" * (MAX_RULE_LENGTH - 9)}


# ---------------------------------------------------------------- states


def test_a_composite_follows_its_children_and_starts_insufficient():
    children = {"queue-depth": line("OK@60 ALARM@300 OK@600"), "queue-lag": line("OK@60 OK@420 ALARM@480 OK@900")}
    [timeline] = evaluate_composites([composite("ALARM(queue-depth) OR ALARM(queue-lag)")], children).values()
    assert [(e.time, e.state) for e in timeline] == [(60, O), (300, A), (420, A), (480, A), (600, A), (900, O)]
    assert "queue-depth ALARM" in timeline[1].reason and "is TRUE" in timeline[1].reason


def test_nested_composites_and_composite_children():
    children = {"x": line("OK@60 ALARM@120"), "y": line("ALARM@60 OK@180")}
    lines = evaluate_composites(
        [composite("ALARM(inner) AND NOT OK(y)", "outer"), composite("ALARM(x)", "inner")], children
    )
    assert [(e.time, e.state) for e in lines["inner"]] == [(60, O), (120, A)]
    assert [(e.time, e.state) for e in lines["outer"]] == [(60, O), (120, A), (180, O)]


@pytest.mark.parametrize(
    "composites, words",
    [
        ([composite("ALARM(nope)")], "unknown alarm\\(s\\) nope; known: page, x"),
        ([composite("ALARM(b)", "a"), composite("ALARM(a)", "b")], "cycle: a -> b -> a"),
        ([suppressed_page()], "unknown alarm\\(s\\) queue-depth, queue-lag, redis-down"),
        ([composite("ALARM(x)", ActionsSuppressor="x")], "ActionsSuppressor needs ActionsSuppressorWaitPeriod and ActionsSuppressorExtensionPeriod"),
        ([composite("ALARM(x)", ActionsSuppressorWaitPeriod=60)], "ActionsSuppressorWaitPeriod given without ActionsSuppressor"),
        ([composite("ALARM(x)", ActionsSuppressor="x", ActionsSuppressorWaitPeriod=-1, ActionsSuppressorExtensionPeriod=0)], "0 or more"),
    ],
)
def test_invalid_composites_are_refused(composites, words):
    with pytest.raises(InvalidAlarm, match=words):
        evaluate_composites(composites, {"x": line("OK@60")})


def test_a_composite_over_real_metric_alarms():
    ns, dims = "Hokusai/Queues", {"Queue": "q"}
    depth, failure = MetricKey.of(ns, "QueueDepth", dims), MetricKey.of(ns, "ConnectionFailure", {"RedisTarget": "primary"})

    def alarm(name, key, threshold):
        return {
            "AlarmName": name, "Namespace": ns, "MetricName": key.name, "Dimensions": dict(key.dimensions),
            "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 1, "Threshold": threshold,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching",
        }

    alarm_depth = alarm("depth", depth, 1000)
    alarm_depth["Dimensions"] = [{"Name": "Queue", "Value": "q"}]
    alarm_redis = alarm("redis-down", failure, 1)
    alarm_redis["Dimensions"] = [{"Name": "RedisTarget", "Value": "primary"}]
    start = 1_700_000_400
    data = {depth: parse_series("0x3 2000x4 0x3", start, 60), failure: parse_series("0x10", start, 60)}
    timelines = {a["AlarmName"]: evaluate(a, data, start, start + 600) for a in (alarm_depth, alarm_redis)}
    page = composite("ALARM(depth) AND NOT ALARM(\"redis-down\")")
    timelines.update(evaluate_composites([page], timelines))
    assert [(e.time - start, e.state) for e in timelines["page"] if e.state is A] == [(240, A), (300, A), (360, A), (420, A)]
    [event] = actions(page, timelines)
    assert (event.state, event.entered - start, event.outcome, event.time - start) == (A, 240, Outcome.RAN, 240)


# ---------------------------------------------------------------- actions and suppression


def page_lines(page: str, suppressor: str) -> dict:
    return {"page": line(page), "redis-down": line(suppressor)}


def one_alarm_event(alarm, lines):
    events = [e for e in actions(alarm, lines) if e.state is A]
    assert len(events) == 1, events
    return events[0]


def test_without_a_suppressor_actions_run_at_each_change_that_has_actions():
    alarm = composite("ALARM(x)", OKActions=[OK_TOPIC])
    events = actions(alarm, {"page": line("OK@60 ALARM@300 OK@600 ALARM@900")})
    assert [(e.state, e.entered, e.outcome, e.time, e.actions) for e in events] == [
        (O, 60, Outcome.RAN, 60, (OK_TOPIC,)),
        (A, 300, Outcome.RAN, 300, (TOPIC,)),
        (O, 600, Outcome.RAN, 600, (OK_TOPIC,)),
        (A, 900, Outcome.RAN, 900, (TOPIC,)),
    ]


def test_disabled_actions_never_run():
    assert actions(composite("ALARM(x)", ActionsEnabled=False), {"page": line("OK@60 ALARM@300")}) == []


def test_the_suppressor_in_alarm_suppresses_for_as_long_as_it_lasts():
    event = one_alarm_event(suppressed_page(), page_lines("OK@60 ALARM@300", "OK@60 ALARM@240"))
    assert (event.outcome, event.entered) == (Outcome.SUPPRESSED, 300)
    assert "redis-down was in ALARM" in event.why and "end of the run" in event.why


def test_actions_run_when_the_extension_period_ends_and_the_composite_is_still_in_alarm():
    event = one_alarm_event(suppressed_page(extension=180), page_lines("OK@60 ALARM@300", "OK@60 ALARM@240 OK@600"))
    assert (event.outcome, event.time) == (Outcome.RAN, 780)
    assert "ExtensionPeriod (180s)" in event.why


def test_actions_are_suppressed_when_the_composite_clears_within_the_extension_period():
    event = one_alarm_event(suppressed_page(extension=180), page_lines("OK@60 ALARM@300 OK@720", "OK@60 ALARM@240 OK@600"))
    assert (event.outcome, event.time) == (Outcome.SUPPRESSED, 720)


def test_the_suppressor_going_into_alarm_within_the_wait_period_suppresses():
    # the queue alarm fires first (Redis being down empties the metrics), Redis's own alarm 60 s later
    event = one_alarm_event(suppressed_page(wait=120), page_lines("OK@60 ALARM@300", "OK@60 ALARM@360"))
    assert event.outcome is Outcome.SUPPRESSED
    assert "went into ALARM 60s after the change, within WaitPeriod (120s)" in event.why


def test_actions_wait_for_the_wait_period_then_run_when_the_suppressor_stays_ok():
    event = one_alarm_event(suppressed_page(wait=120), page_lines("OK@60 ALARM@300", "OK@60 ALARM@480"))
    assert (event.outcome, event.time) == (Outcome.RAN, 420)
    assert "WaitPeriod (120s) ended with redis-down not in ALARM" in event.why


def test_leaving_the_state_during_the_wait_period_means_the_actions_never_run():
    event = one_alarm_event(suppressed_page(wait=120), page_lines("OK@60 ALARM@300 OK@360", "OK@60"))
    assert (event.outcome, event.time) == (Outcome.SUPPRESSED, 360)


def test_a_change_within_the_extension_period_waits_for_its_end():
    event = one_alarm_event(suppressed_page(extension=300), page_lines("OK@60 ALARM@400", "OK@60 ALARM@120 OK@300"))
    assert (event.outcome, event.time) == (Outcome.RAN, 600)
    assert "had left ALARM 100s before, within ExtensionPeriod (300s)" in event.why


def test_suppression_applies_to_ok_actions_too():
    alarm = suppressed_page(OKActions=[OK_TOPIC])
    events = actions(alarm, page_lines("ALARM@60 OK@300", "ALARM@60"))
    assert [(e.state, e.outcome) for e in events] == [(A, Outcome.SUPPRESSED), (O, Outcome.SUPPRESSED)]


def test_the_suppressor_may_be_named_by_arn():
    alarm = suppressed_page(wait=0, extension=0)
    alarm["ActionsSuppressor"] = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:redis-down"
    assert parse_composite(alarm).suppressor.alarm == "redis-down"
    event = one_alarm_event(alarm, page_lines("OK@60 ALARM@300", "ALARM@300"))
    assert event.outcome is Outcome.SUPPRESSED
