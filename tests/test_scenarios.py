"""Alarm scenarios: the shipped ones pass, a wrong expectation fails readably, bad files are rejected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cloudwatch.alarms import metric_alarms, render_alarms
from monitor.errors import ExitStatus
from monitor.spec.load import load_spec
from monitor.spec.metrics import CONNECTION_FAILURE, QUEUE_DEPTH
from monitor.truth.evaluator import MetricKey, NotSupported, State
from monitor.truth.scenarios import (
    DEFAULT_START_SECONDS,
    AlarmIndex,
    ScenarioError,
    default_files,
    evaluate_all,
    exit_status,
    load_scenario,
    offset_words,
    parse_time,
    report,
    run_files,
    samples_from_metric_data,
)

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "alarms.yaml"
DEPTH_CRITICAL = "hokusai-queues-development-hokusai-model_ready_queue-queue-depth-critical"


@pytest.fixture(scope="module")
def spec():
    return load_spec(str(SPEC), env="development")


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def squeezed(text: str) -> list[str]:
    """The report's lines with runs of spaces made one, so column widths do not matter."""
    return [" ".join(line.split()) for line in text.splitlines()]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


BACKLOG = """\
name: wrong on purpose
series:
  hokusai:model_ready_queue:
    QueueDepth: "0x10 1500x6 0x10"
  redis:primary:
    CollectorHeartbeat: "1x26"
expect:
  - {at: 13m, alarm: hokusai:model_ready_queue/queue_depth/critical, state: ALARM}
  - {at: 15m, alarm: hokusai:model_ready_queue/queue_depth/critical, state: OK}
"""


# ---------------------------------------------------------------- the shipped scenarios


def test_every_shipped_scenario_passes(spec):
    files = default_files(SPEC)
    assert len(files) >= 7
    results = run_files(files, spec)
    text = report(results)
    assert exit_status(results) is ExitStatus.SUCCESS, text
    assert all(r.scenario.environment == "development" for r in results)
    count = sum(len(r.outcomes) for r in results)
    assert text.splitlines()[-1] == f"{count} passed, 0 failed"


def test_the_pattern_example_runs_its_scenarios_and_reports_the_anomaly_band_as_not_modelled():
    """examples/tenants: alarms on a pattern's aggregates, a per-key series, an anomaly band never guessed."""
    example = ROOT / "examples" / "tenants" / "alarms.yaml"
    result = run_cli("test", "--spec", str(example))
    assert result.returncode == ExitStatus.SUCCESS, result.stdout + result.stderr
    assert "PASS  13m..22m     tenant:*:jobs/pattern_depth_max/critical is ALARM" in result.stdout
    assert "not modelled: alarm tenants-production-billing-invoices-depth-anomaly-warning: anomaly detection" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1] == "7 passed, 0 failed"


def test_cli_runs_the_shipped_scenarios_by_default():
    result = run_cli("test")
    assert result.returncode == ExitStatus.SUCCESS, result.stdout + result.stderr
    assert "scenarios/01-backlog-builds-up-and-drains.yaml: backlog builds up and drains" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].endswith(" passed, 0 failed")


def test_scenarios_run_the_rendered_alarms_not_a_copy(spec, tmp_path):
    """A spec with a higher threshold makes the same backlog pass silently: the scenario reads the spec."""
    raised = SPEC.read_text().replace("threshold: 1000", "threshold: 2000")
    other = tmp_path / "alarms.yaml"
    other.write_text(raised)
    results = run_files([write(tmp_path, BACKLOG)], load_spec(str(other), env="development"))
    failed = [o for o in results[0].outcomes if not o.passed]
    assert [o.expectation.start - DEFAULT_START_SECONDS for o in failed] == [13 * 60]


# ---------------------------------------------------------------- failing expectations


def test_a_wrong_expectation_fails_with_a_readable_report(spec, tmp_path):
    results = run_files([write(tmp_path, BACKLOG)], spec)
    assert exit_status(results) is ExitStatus.CHECK_FAILED
    lines = squeezed(report(results))
    assert "PASS at 13m hokusai:model_ready_queue/queue_depth/critical is ALARM (line 8)" in lines
    assert "FAIL at 15m hokusai:model_ready_queue/queue_depth/critical is OK (line 9)" in lines
    assert f"alarm: {DEPTH_CRITICAL}" in lines
    assert "at: 15m (2026-01-01T00:15:00Z)" in lines
    assert "expected: OK" in lines and "actual: ALARM" in lines
    assert any("5 of the last 5 datapoints breaching (3 needed for ALARM)" in line for line in lines)
    # the five datapoints that decided, oldest first: minutes 10..14, all real and breaching
    decided = lines.index("datapoints (period start, value, real/filled, breaching), oldest first:")
    assert lines[decided + 1 : decided + 6] == [f"{minute}m 1500 real breaching" for minute in range(10, 15)]
    assert "history: INSUFFICIENT_DATA -> OK at 1m -> ALARM at 13m -> OK at 19m" in lines
    assert lines[-1] == "1 passed, 1 failed"


def test_cli_exit_status_on_a_failing_scenario(tmp_path):
    result = run_cli("test", str(write(tmp_path, BACKLOG)))
    assert result.returncode == ExitStatus.CHECK_FAILED
    assert "FAIL  at 15m" in result.stdout and result.stdout.splitlines()[-1] == "1 passed, 1 failed"


def test_none_in_names_every_alarm_in_that_state(spec, tmp_path):
    path = write(
        tmp_path,
        """\
name: nothing published
duration: 20m
series: {}
expect:
  - none_in: ALARM
""",
    )
    lines = squeezed(report(run_files([path], spec)))
    # without a heartbeat the collector looks stopped: only the heartbeat alarm (missing = breaching)
    # fires, at the first evaluation (1m), whose sliding range [-14m, 1m) holds no data
    assert "FAIL 0m..20m no alarm is in ALARM (line 5)" in lines
    alarms = [line for line in lines if line.startswith("alarm: ")]
    # ... and the target-down composite over it (incidents), which sends nothing itself
    assert alarms == [
        "alarm: hokusai-queues-development-redis-primary-collector-heartbeat-critical (redis:primary/collector_heartbeat/critical)",
        "alarm: hokusai-queues-development-redis-primary-target-down (redis:primary/target_down/critical)",
    ]
    assert "at: 1m (2026-01-01T00:01:00Z)" in lines and "expected: not ALARM" in lines
    assert "-4m - filled breaching" in lines


def test_windows_and_explicit_points(spec, tmp_path):
    path = write(
        tmp_path,
        """\
name: a blip does not page, two do
start: 2026-03-01T12:00:00Z
series:
  target:primary:
    CollectorHeartbeat: "1x10"
    ConnectionFailure: {values: "0x10", points: [[2m30s, 1], [6m10s, 1], [7m50s, 1]]}
expect:
  - {from: 1m, until: 6m, alarm: redis-primary/connection-failure/critical, state: OK}
  - {at: 2026-03-01T12:08:00Z, alarm: hokusai-queues-development-redis-primary-connection-failure-critical, state: ALARM}
  - {at: 10m, alarm: redis:primary/connection_failure/critical, state: OK}
""",
    )
    results = run_files([path], spec)
    assert results[0].passed, report(results)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name: x\nseries: {}\nexpect: [{none_in: ALARM}]\nperoid: 60\n", "scenario.yaml:4:1: peroid: unknown key 'peroid'; did you mean 'period'?"),
        ("name: x\nseries: {}\n", "scenario.yaml:1:1: (top level): missing required field 'expect'"),
        ("name: x\nenvironment: prod\nseries: {}\nexpect: [{none_in: ALARM}]\n", "environment: no environment 'prod' in"),
        (
            "name: x\nseries:\n  hokusai:model_ready_queu: {QueueDepth: '0x3'}\nexpect: [{none_in: ALARM}]\n",
            "scenario.yaml:3:3: series.hokusai:model_ready_queu: unknown queue or target 'hokusai:model_ready_queu'; did you mean 'hokusai:model_ready_queue'? (allowed: hokusai:mint_requests, hokusai:mint_requests:retry, hokusai:model_ready_queue, redis:primary;",
        ),
        (
            "name: x\nseries:\n  hokusai:mint_requests: {QueueDeph: '0x3'}\nexpect: [{none_in: ALARM}]\n",
            "series.hokusai:mint_requests.QueueDeph: 'QueueDeph' is not a metric; did you mean 'QueueDepth'? (allowed for hokusai:mint_requests: QueueDepth,",
        ),
        (
            "name: x\nseries:\n  redis:primary: {QueueDepth: '0x3'}\nexpect: [{none_in: ALARM}]\n",
            "'QueueDepth' is a queue metric, not a target one (allowed for redis:primary: ConnectionFailure, CollectorHeartbeat,",
        ),
        (
            "name: x\nseries:\n  redis:primary: {ConnectionFailure: '0x3 1y2'}\nexpect: [{none_in: ALARM}]\n",
            "series.redis:primary.ConnectionFailure: bad token '1y2' at position 5 of '0x3 1y2'",
        ),
        ("name: x\nseries: {}\nexpect: [{at: 15, none_in: ALARM}]\n", "expect[0].at: found 15 without a unit; write 15s or 15m"),
        ("name: x\nseries: {}\nexpect: [{at: soon, none_in: ALARM}]\n", "expect[0].at: found 'soon'; expected an offset from start such as 90s, 15m"),
        (
            "name: x\nseries: {}\nexpect: [{at: 5m, alarm: hokusai:model_ready_queue/queue_depth/critcal, state: OK}]\n",
            "expect[0].alarm: unknown alarm 'hokusai:model_ready_queue/queue_depth/critcal'; did you mean 'hokusai:model_ready_queue/queue_depth/critical'? (alarms of development: hokusai:mint_requests/dead_letter_arrivals/critical,",
        ),
        ("name: x\nseries: {}\nexpect: [{at: 5m, alarm: redis:primary/connection_failure/critical, state: alarm}]\n", "expect[0].state: found 'alarm'; expected one of: OK, ALARM, INSUFFICIENT_DATA"),
        ("name: x\nseries: {}\nexpect: [{at: 5m}]\n", "expect[0]: give either alarm + state (or alarm + actions), or none_in: STATE"),
        ("name: x\nseries: {}\nexpect: [{from: 9m, until: 3m, none_in: OK}]\n", "expect[0].until: until (3m) is before from (9m)"),
        ("name: x\nstart: tomorrow\nseries: {}\nexpect: [{none_in: OK}]\n", "start: found 'tomorrow'; expected an ISO-8601 time"),
        ("name: x\nseries: {}\nexpect: [{at: 15d, none_in: OK}]\n", "a scenario spans at most 14 days"),
        ("name: x\nname: y\nseries: {}\nexpect: [{none_in: OK}]\n", "scenario.yaml:2:1: name: duplicate key 'name' (first defined on line 1)"),
        ("name: x\nseries: [\n", "not valid YAML"),
    ],
)
def test_invalid_scenario_files_are_reported_with_position_and_choices(spec, tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, spec)
    assert expected in str(caught.value)
    assert caught.value.exit_status is ExitStatus.INVALID


def test_every_problem_of_every_file_at_once_and_no_traceback(tmp_path):
    one = write(tmp_path, "name: x\nseries: {}\nexpect: [{at: 15, none_in: ALARM}]\nperoid: 1\n", "one.yaml")
    two = write(tmp_path, "name: y\nseries:\n  nowhere: {QueueDepth: '1'}\nexpect: [{none_in: ALARM}]\n", "two.yaml")
    result = run_cli("test", str(one), str(two), str(tmp_path / "missing.yaml"))
    assert result.returncode == ExitStatus.INVALID
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert "one.yaml:3:15: expect[0].at:" in result.stderr and "one.yaml:4:1: peroid:" in result.stderr
    assert "two.yaml:3:3: series.nowhere: unknown queue or target 'nowhere'" in result.stderr
    assert "missing.yaml: cannot read the scenario file" in result.stderr
    assert result.stderr.rstrip().endswith("4 problems found")


# ---------------------------------------------------------------- building blocks


def test_times_and_offsets():
    assert parse_time("1h30m", 1000) == 1000 + 5400
    assert parse_time(0, 1000) == 1000
    assert parse_time("2026-01-01T00:15:00Z", 0) == DEFAULT_START_SECONDS + 900
    with pytest.raises(ValueError, match="without a unit"):
        parse_time(15, 0)
    assert [offset_words(s) for s in (0, 780, 450, 3900, 32400, -120, 30)] == ["0m", "13m", "7m30s", "1h05m", "9h00m", "-2m", "30s"]


def test_evaluate_all_gives_final_states_and_reasons(spec):
    env = spec.environment("development")
    alarms = metric_alarms(render_alarms(spec, env))
    start = DEFAULT_START_SECONDS
    depth = MetricKey.of(spec.namespace, QUEUE_DEPTH.name, QUEUE_DEPTH.dimensions("development", "hokusai:model_ready_queue"))
    failure = MetricKey.of(spec.namespace, CONNECTION_FAILURE.name, CONNECTION_FAILURE.dimensions("development", "primary"))
    data = {depth: [(start + 60 * i, 5000.0) for i in range(10)], failure: [(start + 60 * i, 0.0) for i in range(10)]}
    final = evaluate_all(alarms, data, start, start + 600)
    assert set(final) == {a["AlarmName"] for a in alarms}
    assert final[DEPTH_CRITICAL].state is State.ALARM and "5 of the last 5 datapoints breaching" in final[DEPTH_CRITICAL].reason
    assert final["hokusai-queues-development-redis-primary-connection-failure-critical"].state is State.OK
    # no heartbeat at all: the heartbeat alarm treats missing data as breaching
    assert final["hokusai-queues-development-redis-primary-collector-heartbeat-critical"].state is State.ALARM
    assert evaluate_all(alarms, data, start, start + 30)[DEPTH_CRITICAL].state is State.INSUFFICIENT_DATA


def test_samples_from_put_metric_data_entries():
    dims = QUEUE_DEPTH.dimensions("development", "q")
    got = samples_from_metric_data(
        "NS",
        [
            {"MetricName": "QueueDepth", "Dimensions": dims, "Timestamp": 120, "Value": 3},
            {"MetricName": "QueueDepth", "Dimensions": dims, "Timestamp": 180, "Values": [1, 2], "Counts": [2, 1]},
        ],
    )
    assert got == {MetricKey.of("NS", "QueueDepth", dims): [(120.0, 3.0), (180.0, 1.0), (180.0, 1.0), (180.0, 2.0)]}


def test_alarm_references(spec):
    index = AlarmIndex.build(spec, spec.environment("development"))
    assert len(index.alarms) == 23  # 20 metric alarms, 3 composites
    for ref in (
        DEPTH_CRITICAL,
        "hokusai:model_ready_queue/queue_depth/critical",
        "hokusai-model_ready_queue/queue-depth/critical",
    ):
        assert index.resolve(ref) == DEPTH_CRITICAL
    assert index.resolve("redis-primary/collector_heartbeat/critical") == index.resolve("target:primary/collector-heartbeat/critical")
    assert len(index.select(["mint_requests"])) == 11  # 10 tiers (the retry set's too) and the unhealthy composite
    assert len(index.select([])) == 23
    assert index.resolve("hokusai:mint_requests/unhealthy/critical") == "hokusai-queues-development-hokusai-mint_requests-unhealthy-critical"
    assert index.resolve("redis:primary/target_down/critical") == "hokusai-queues-development-redis-primary-target-down"


def test_explain_command():
    result = run_cli("explain", "hokusai:model_ready_queue/queue_depth/critical", "heartbeat")
    assert result.returncode == ExitStatus.SUCCESS, result.stderr
    assert (
        "ALARM when the maximum of QueueDepth (Queue=hokusai:model_ready_queue) is above 1000 in 3 of the last 5 "
        "one-minute periods; OK otherwise; missing data counts as not breaching." in result.stdout
    )
    assert (
        "Evaluated every minute over the last 5 periods of 1 minute counted back from it: with data in every period, fires at "
        "the first evaluation more than 2 minutes after a breach starts (3 of 5 breaching); clears at the latest at the first "
        "evaluation more than 3 minutes after the last breaching data." in result.stdout
    )
    assert (
        "ALARM when the sum of CollectorHeartbeat (RedisTarget=primary) is below 1 in the latest 5-minute period, counted back "
        "from each evaluation every minute (sliding window)" in result.stdout
    )
    assert (
        "If the data stop, it fires once no datapoint is left in the last 3 periods (15 minutes): at the first evaluation "
        "more than 15 minutes after the last datapoint." in result.stdout
    )
    assert result.stdout.count("hokusai-queues-development-") == 2
    missing = run_cli("explain", "no-such-alarm")
    assert missing.returncode == ExitStatus.INVALID and "unknown alarm 'no-such-alarm'" in missing.stderr
    assert "redis:primary/connection_failure/critical" in missing.stderr


def test_percentile_alarms_are_refused_by_name_and_noted_in_none_in(tmp_path):
    text = SPEC.read_text().replace("      critical:                 # more than 1000", "      critical:\n        statistic: p99  #")
    other = tmp_path / "alarms.yaml"
    other.write_text(text)
    p99 = load_spec(str(other), env="development")
    quiet = write(tmp_path, "name: quiet\nduration: 10m\nseries: {redis:primary: {CollectorHeartbeat: '1x10'}}\nexpect: [{none_in: ALARM}]\n", "quiet.yaml")
    results = run_files([quiet], p99)
    assert results[0].passed and DEPTH_CRITICAL in results[0].not_modelled
    assert "note: left out of none_in checks, not modelled: alarm " + DEPTH_CRITICAL in report(results)
    named = write(tmp_path, "name: named\nseries: {}\nexpect: [{at: 5m, alarm: hokusai:mint_requests/queue_depth/critical, state: OK}, {at: 5m, alarm: hokusai:model_ready_queue/queue_depth/critical, state: OK}]\n", "named.yaml")
    with pytest.raises(NotSupported, match="named.yaml:3: alarm .*percentiles"):
        run_files([named], p99)


# ---------------------------------------------------------------------------------------------
# Composite alarms among the rendered alarms (literal PutCompositeAlarm dicts until the spec renders them)

CONNECTION_CRITICAL = "hokusai-queues-development-redis-primary-connection-failure-critical"
HEARTBEAT_CRITICAL = "hokusai-queues-development-redis-primary-collector-heartbeat-critical"
PAGER = "arn:aws:sns:us-east-1:123456789012:pager"
PAGE = {
    "AlarmName": "page",
    "AlarmRule": f'ALARM("{DEPTH_CRITICAL}") OR ALARM("{HEARTBEAT_CRITICAL}")',
    "AlarmActions": [PAGER],
    "OKActions": [PAGER],
    "ActionsSuppressor": CONNECTION_CRITICAL,
    "ActionsSuppressorWaitPeriod": 120,
    "ActionsSuppressorExtensionPeriod": 180,
}


def with_page(spec, env):
    return render_alarms(spec, env) + [PAGE]


def test_a_composite_among_the_alarms_is_run_and_its_actions_are_expected(spec, tmp_path):
    path = write(
        tmp_path,
        """\
name: one page per backlog
series:
  hokusai:model_ready_queue:
    QueueDepth: "0x10 1500x6 0x10"
  redis:primary:
    CollectorHeartbeat: "1x26"
    ConnectionFailure: "0x26"
expect:
  - {at: 12m, alarm: page, state: OK}
  - {at: 13m, alarm: page, state: ALARM}
  - {at: 19m, alarm: page, state: OK}
  - {from: 13m, until: 13m, alarm: page, actions: ran}
  - {at: 19m, alarm: page, actions: ran, entering: OK}
  - {from: 20m, alarm: page, actions: none}
""",
    )
    [result] = run_files([path], spec, render=with_page)
    text = report([result])
    assert result.passed, text
    # the suppressor stayed OK: the page waited the 120 s WaitPeriod, then ran
    [alarm_event] = [e for e in result.actions["page"] if e.state is State.ALARM]
    assert (alarm_event.entered - result.scenario.start, alarm_event.time - result.scenario.start) == (780, 900)
    assert (
        "actions of page: OK at 1m: ran at 3m (WaitPeriod (120s) ended with "
        f"{CONNECTION_CRITICAL} not in ALARM); ALARM at 13m: ran at 15m" in " ".join(text.split())
    )


def test_queue_alarms_during_a_redis_outage_do_not_page(spec, tmp_path):
    path = write(
        tmp_path,
        """\
name: outage suppresses the page
series:
  hokusai:model_ready_queue:
    QueueDepth: "0x10 1500x6 0x10"
  redis:primary:
    CollectorHeartbeat: "1x26"
    ConnectionFailure: "0x10 1x6 0x10"
expect:
  - {at: 12m, alarm: redis:primary/connection_failure/critical, state: ALARM}
  - {at: 13m, alarm: page, state: ALARM}
  - {at: 13m, alarm: page, actions: suppressed}
  - {at: 13m, alarm: page, actions: ran}
""",
    )
    [result] = run_files([path], spec, render=with_page)
    lines = squeezed(report([result]))
    assert [o.passed for o in result.outcomes] == [True, True, True, False]
    assert "FAIL at 13m page ALARM actions: ran (line 12)" in lines
    assert "expected: actions ran" in lines and "actual: actions suppressed" in lines
    [event] = [line for line in lines if line.startswith("ALARM at 13m: suppressed")]
    assert f"{CONNECTION_CRITICAL} was in ALARM; the alarm left ALARM before the suppression ended" in event


def test_a_composite_over_a_percentile_alarm_is_not_modelled(spec, tmp_path):
    odd = {**PAGE, "AlarmName": "odd", "AlarmRule": "ALARM(p99-alarm)"}
    single = next(a for a in render_alarms(spec, spec.environments["development"]) if "Metrics" not in a)
    p99 = {**single, "AlarmName": "p99-alarm", "ExtendedStatistic": "p99"}
    p99.pop("Statistic", None)
    path = write(tmp_path, "name: x\nduration: 5m\nseries: {}\nexpect:\n  - {at: 5m, alarm: odd, state: OK}\n")
    with pytest.raises(NotSupported, match="composite alarm odd: its child p99-alarm is not modelled"):
        run_files([path], spec, render=lambda s, e: render_alarms(s, e) + [p99, odd])


@pytest.mark.parametrize(
    "expect, message",
    [
        ("{at: 5m, alarm: page, state: OK, actions: ran}", "give either 'state' (one of OK, ALARM, INSUFFICIENT_DATA) or 'actions'"),
        ("{at: 5m, alarm: page, state: OK, entering: OK}", "expect[0].entering: 'entering' picks the state whose actions are checked"),
        ("{at: 5m, alarm: page, actions: sent}", "expect[0].actions: found 'sent'; expected one of: ran, suppressed, none"),
        ("{at: 5m, none_in: ALARM, actions: ran}", "expect[0].actions: actions goes with alarm"),
    ],
)
def test_bad_actions_expectations_are_refused(spec, tmp_path, expect, message):
    path = write(tmp_path, f"name: x\nseries: {{}}\nexpect:\n  - {expect}\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, spec, render=with_page)
    assert message in str(caught.value)


def test_explain_a_composite(spec):
    from monitor.truth.scenarios import explain_text

    index = AlarmIndex.build(spec, spec.environments["development"], with_page)
    text = explain_text(index, ["page"])
    assert f"ALARM when {DEPTH_CRITICAL} is in ALARM or {HEARTBEAT_CRITICAL} is in ALARM; OK otherwise" in text
    assert f"held while {CONNECTION_CRITICAL} is in ALARM and for 180s after it leaves ALARM" in text


def test_timing_words_for_a_wall_clock_window():
    from monitor.truth.scenarios import timing_words

    alarm = {
        "AlarmName": "x", "Namespace": "N", "MetricName": "M", "Dimensions": [], "Statistic": "Maximum", "Period": 3600,
        "EvaluationPeriods": 3, "DatapointsToAlarm": 2, "Threshold": 1, "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "breaching", "EvaluationWindow": {"WallClockWindow": {"Timezone": "+05:30"}},
    }
    assert timing_words(alarm) == (
        "Fires at the end of the second breaching one-hour period on the clock in +05:30 within 3; clears at the latest at "
        "the end of the second period after the last breaching one. If the data stop, it fires once no datapoint is left "
        "in the last 5 periods (5 hours): at the end of the 5th period after the one holding the last datapoint."
    )
