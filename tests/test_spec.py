"""The spec validator: every rule has a failing example; errors carry file, line, path and the allowed values."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from monitor.errors import SpecError
from monitor.spec.declaration import json_schema
from monitor.spec.kinds import AlarmKind, Comparison, Severity, TreatMissingData
from monitor.spec import yamlload
from monitor.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent

BASE = """\
version: 1
namespace: Test/Queues
name_prefix: t
runbooks:
  queue_depth: https://example.com/rb#depth
defaults:
  alarms:
    queue_depth:
      critical:
        threshold: 100
        period: 60
        evaluation_periods: 5
        datapoints_to_alarm: 3
environments:
  dev:
    redis:
      host: 127.0.0.1
      port: 6379
      tls: false
queues:
  - key: jobs:a
    dead_letter: jobs:a:dlq
"""


@pytest.fixture(params=["libyaml", "pure-python"])
def yaml_loader(request, monkeypatch):
    """Each guarantee holds with libyaml's composer and with PyYAML's own (used when libyaml is absent)."""
    if request.param == "libyaml":
        if not yaml.__with_libyaml__:
            pytest.skip("PyYAML is built without libyaml here")
        monkeypatch.setattr(yamlload, "_Loader", yaml.CSafeLoader)
    else:
        monkeypatch.setattr(yamlload, "_Loader", yaml.SafeLoader)
    return request.param


def write(tmp_path: Path, text: str, name: str = "alarms.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def problems(tmp_path: Path, text: str, **kwargs) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, text), environ=kwargs.pop("environ", {}), **kwargs)
    return [str(p) for p in info.value.problems]


def test_shipped_spec_is_valid_and_covers_the_hokusai_queues():
    spec = load_spec(str(ROOT / "alarms.yaml"), environ={})
    keys = [q.key for q in spec.queues]
    assert keys == ["hokusai:model_ready_queue", "hokusai:mint_requests"]
    ready, mint = spec.queues
    assert ready.processing == "hokusai:model_ready_queue:processing"
    assert ready.dead_letter == "hokusai:model_ready_queue:dlq"
    assert ready.source.oldest_end.value == "both" and ready.source.timestamp_field == "timestamp"
    assert mint.dead_letter == "hokusai:mint_requests:dlq" and mint.processing == "hokusai:mint_requests:processing"
    # hokusai-token's consumer parks transient failures in a sorted set scored by due time (ms).
    assert mint.retry == "hokusai:mint_requests:retry"
    (retry,) = spec.delayed
    assert (retry.key, retry.source.score_unit.value) == (mint.retry, "milliseconds")
    dev = spec.environments["development"]
    assert dev.redis.host == "master.hokusai-redis-development.lenvj6.use1.cache.amazonaws.com"
    assert dev.redis.port == 6379 and dev.redis.tls is True
    assert dev.redis.auth_token.secret_arn.endswith(":secret:hokusai/redis/development/auth-token-0GWWJx")
    # The mint queue's three alarms of today are carried over: the DLQ one as a non-paging warning,
    # since dead_letter_arrivals/critical pages for the same dead letter.
    by_tier = {(r.kind, r.tier): r for r in mint.alarms}
    dlq = by_tier[(AlarmKind.DEAD_LETTER_DEPTH, "warning")]
    assert (dlq.comparison, dlq.threshold, dlq.statistic, dlq.period, dlq.evaluation_periods) == (Comparison.GE, 1, "Maximum", 300, 1)
    assert (AlarmKind.DEAD_LETTER_DEPTH, "critical") not in by_tier
    for queue in spec.queues:  # one dead letter pages once
        paging = [r for r in queue.alarms if r.severity is Severity.CRITICAL and r.kind in (AlarmKind.DEAD_LETTER_DEPTH, AlarmKind.DEAD_LETTER_ARRIVALS)]
        assert [r.kind for r in paging] == [AlarmKind.DEAD_LETTER_ARRIVALS]
    depth = by_tier[(AlarmKind.QUEUE_DEPTH, "critical")]
    assert (depth.comparison, depth.threshold, depth.period, depth.evaluation_periods, depth.datapoints_to_alarm) == (Comparison.GE, 50, 300, 1, 1)
    unsettled = by_tier[(AlarmKind.QUEUE_DEPTH, "unsettled")]
    assert (unsettled.threshold, unsettled.period, unsettled.evaluation_periods, unsettled.severity) == (1, 300, 3, Severity.WARNING)
    assert [p.value for p in unsettled.parts] == ["waiting", "in_flight", "retry"]
    for queue in spec.queues:  # work stuck in a processing list, and unreadable messages or keys
        kinds = {(r.kind, r.severity) for r in queue.alarms}
        assert {(AlarmKind.IN_FLIGHT_DEPTH, Severity.WARNING), (AlarmKind.READ_ERRORS, Severity.WARNING)} <= kinds
        assert next(r for r in queue.alarms if r.kind is AlarmKind.IN_FLIGHT_DEPTH).only_when_idle
    ready_kinds = {r.kind for r in ready.alarms}
    assert {AlarmKind.QUEUE_DEPTH, AlarmKind.PROCESSING_LAG, AlarmKind.DEAD_LETTER_ARRIVALS} <= ready_kinds
    assert {r.kind for r in spec.target_alarms} == {AlarmKind.CONNECTION_FAILURE, AlarmKind.COLLECTOR_HEARTBEAT}


def test_environment_variables_override_the_defaults(yaml_loader):
    spec = load_spec(str(ROOT / "alarms.yaml"), environ={"REDIS_HOST": "127.0.0.1", "REDIS_PORT": "7000"})
    redis = spec.environments["development"].redis
    assert redis.host == "127.0.0.1"
    assert redis.port == 7000  # an unquoted ${VAR} is typed like a literal


def test_minimal_spec_gets_builtin_defaults(tmp_path):
    spec = load_spec(write(tmp_path, BASE), environ={})
    (rule,) = spec.queues[0].alarms
    assert rule.comparison is Comparison.GT and rule.statistic == "Maximum"
    assert rule.treat_missing_data is TreatMissingData.NOT_BREACHING
    assert spec.queues[0].name == "jobs-a"  # ':' sanitised for alarm names


def test_unset_variable_without_default_is_an_error_with_its_position(tmp_path, yaml_loader):
    text = BASE.replace("host: 127.0.0.1", "host: ${NO_SUCH_HOST}")
    (problem,) = problems(tmp_path, text)
    assert "alarms.yaml:17:13: environments.dev.redis.host" in problem
    assert "NO_SUCH_HOST is not set and has no default" in problem


def test_unset_variable_of_another_environment_is_ignored_with_env(tmp_path):
    text = BASE + "  \n"
    text = text.replace(
        "queues:", "  prod:\n    redis:\n      host: ${PROD_HOST}\nqueues:"
    )
    assert problems(tmp_path, text)  # validating everything reports it
    spec = load_spec(write(tmp_path, text), env="dev", environ={})
    assert spec.environment("dev").redis.host == "127.0.0.1"


def test_every_problem_is_reported_in_one_run_with_did_you_mean(tmp_path, yaml_loader):
    text = BASE.replace("    dead_letter: jobs:a:dlq", "    dead_leter: jobs:a:dlq\n    oldest_end: middle").replace(
        "port: 6379", "port: seventy"
    )
    found = problems(tmp_path, text)
    assert len(found) == 3
    joined = "\n".join(found)
    assert "queues[0].dead_leter: unknown key 'dead_leter'; did you mean 'dead_letter'?" in joined
    assert "queues[0].oldest_end: found 'middle'; expected one of: head, tail" in joined
    assert "environments.dev.redis.port: found 'seventy' (a string); expected an integer >= 1 and <= 65535" in joined
    # sorted by position in the file, each with line and column
    lines = [int(p.split(":")[1]) for p in found]
    assert lines == sorted(lines)


def test_duplicate_yaml_keys_are_rejected(tmp_path, yaml_loader):
    text = BASE.replace("name_prefix: t\n", "name_prefix: t\nname_prefix: u\n")
    (problem,) = problems(tmp_path, text)
    assert "duplicate key 'name_prefix' (first defined on line 3)" in problem
    assert ":4:1:" in problem


def test_duplicate_queues_are_rejected(tmp_path):
    text = BASE + "  - key: jobs:a\n"
    (problem,) = problems(tmp_path, text)
    assert "queues[1].key: queue 'jobs:a' is declared twice" in problem


def test_queue_names_that_collide_after_sanitising_are_rejected(tmp_path):
    text = BASE + "  - key: jobs-a\n"
    (problem,) = problems(tmp_path, text)
    assert "queue name 'jobs-a'" in problem and "give one a distinct 'name'" in problem


def test_wrong_types_and_missing_required_fields(tmp_path):
    text = BASE.replace("version: 1\n", "").replace("tls: false", "tls: maybe")
    found = "\n".join(problems(tmp_path, text))
    assert "missing required field 'version'" in found
    assert "environments.dev.redis.tls: found 'maybe' (a string); expected true or false" in found


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("period", 45, "CloudWatch allows 10, 20, 30 or a multiple of 60 seconds"),
        ("period", 10, "needs high-resolution metrics"),
        ("evaluation_periods", 1441, "at most 86400s (1 day)"),
        ("datapoints_to_alarm", 6, "must be at most evaluation_periods (5)"),
        ("threshold", -1, "would always fire"),
        ("comparison", "<", "fires when the value grows"),
        ("comparison", "=>", "expected one of: >, GreaterThanThreshold, >=,"),
        ("statistic", "Max", "expected one of Maximum, Minimum, Average, Sum, SampleCount or a percentile"),
        ("treat_missing_data", "not_breaching", "did you mean 'notBreaching'?"),
        ("severity", "page", "expected one of: critical, warning, info"),
    ],
)
def test_cloudwatch_rules_are_checked_offline(tmp_path, field, value, message):
    text = BASE.replace("        threshold: 100\n", f"        threshold: 100\n        {field}: {json.dumps(value)}\n", 1)
    if field in ("threshold", "period", "evaluation_periods", "datapoints_to_alarm"):
        text = BASE.replace(f"        {field}: ", f"        {field}: {json.dumps(value)}\n        x_{field}: ", 1)
        text = "\n".join(line for line in text.splitlines() if "x_" not in line) + "\n"
    found = "\n".join(problems(tmp_path, text))
    assert message in found


def test_a_broken_default_tier_is_reported_once_however_many_queues_use_it(tmp_path):
    text = BASE.replace("period: 60", "period: 90") + "".join(f"  - key: jobs:{i}\n" for i in range(50))
    found = problems(tmp_path, text)
    assert len(found) == 1 and "defaults.alarms.queue_depth.critical.period: found 90" in found[0]


def test_every_broken_queue_of_many_is_reported(tmp_path):
    text = BASE + "".join(f"  - key: jobs:{i}\n    oldest_end: middle\n" for i in range(300))
    found = problems(tmp_path, text)
    assert len(found) == 300 and all("oldest_end: found 'middle'" in p for p in found)


def test_long_periods_are_bounded_to_seven_days(tmp_path):
    text = BASE.replace("period: 60", "period: 3600").replace("evaluation_periods: 5", "evaluation_periods: 169").replace(
        "datapoints_to_alarm: 3", "datapoints_to_alarm: 1"
    )
    assert "at most 604800s (7 days)" in "\n".join(problems(tmp_path, text))


def test_tier_needs_a_threshold_and_a_severity(tmp_path):
    text = BASE + "    alarms:\n      queue_depth:\n        backlog:\n          threshold: 5\n      processing_lag:\n        critical:\n          period: 60\n"
    found = "\n".join(problems(tmp_path, text))
    assert "tier 'backlog' is not a severity name" in found
    assert "missing 'threshold' for the processing_lag alarm" in found


def test_kind_needing_a_list_the_queue_lacks(tmp_path):
    text = BASE + "    alarms:\n      in_flight_depth:\n        critical:\n          threshold: 5\n"
    assert "needs the queue's 'processing' list" in "\n".join(problems(tmp_path, text))


def test_connection_failure_and_heartbeat_thresholds_must_make_sense(tmp_path):
    text = BASE + "target_alarms:\n  connection_failure:\n    critical:\n      threshold: 5\n  collector_heartbeat:\n    critical:\n      threshold: 1\n      comparison: '>'\n"
    found = "\n".join(problems(tmp_path, text))
    assert "the failure signal is 0 or 1" in found
    assert "a heartbeat alarm fires when runs are missing: use < or <=" in found


def test_actions_are_limited_to_five_and_must_be_arns(tmp_path):
    topics = "".join(f"          - arn:aws:sns:us-east-1:123456789012:t{i}\n" for i in range(6))
    text = BASE.replace(
        "      tls: false\n",
        "      tls: false\n    notifications:\n      critical:\n        alarm:\n" + topics + "        ok:\n          - not-an-arn\n",
    )
    found = "\n".join(problems(tmp_path, text))
    assert "has 6 entries; at most 5 allowed" in found
    assert "notifications.critical.ok[0]: found 'not-an-arn' (a string); expected an SNS topic ARN" in found


def test_generated_alarm_names_are_limited_to_255_characters(tmp_path):
    text = BASE.replace("  - key: jobs:a\n", f"  - key: jobs:a\n    name: {'n' * 100}\n").replace("name_prefix: t", "name_prefix: " + "p" * 60)
    text = text.replace("      critical:\n", "      " + "c" * 60 + ":\n        severity: critical\n", 1)
    text = text.replace("  dev:\n", "  " + "e" * 40 + ":\n")
    assert "CloudWatch allows 255" in "\n".join(problems(tmp_path, text))


def test_reserved_tags_are_rejected(tmp_path):
    text = BASE.replace("name_prefix: t\n", "name_prefix: t\ntags:\n  managed-by: me\n")
    assert "set by provision-alarms itself" in "\n".join(problems(tmp_path, text))


def test_auth_token_needs_exactly_one_source(tmp_path):
    text = BASE.replace(
        "      tls: false\n",
        "      tls: false\n      auth_token:\n        secret_arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf\n        env: REDIS_AUTH_TOKEN\n",
    )
    assert "give exactly one of secret_arn or env" in "\n".join(problems(tmp_path, text))


def test_arbitrary_python_objects_are_refused(tmp_path, yaml_loader):
    text = BASE.replace("name_prefix: t", "name_prefix: !!python/object/apply:os.system ['echo pwned']")
    found = "\n".join(problems(tmp_path, text))
    assert "is not allowed" in found


def billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join(f"*{prev}" for _ in range(9)) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_after_a_bounded_number_of_values(tmp_path, yaml_loader, monkeypatch):
    """10^9 values if expanded; the builder stops at MAX_NODES (how fast: benchmarks/bench_spec.py)."""
    builders = []

    class Counted(yamlload._Builder):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            builders.append(self)

    monkeypatch.setattr(yamlload, "_Builder", Counted)
    found = "\n".join(problems(tmp_path, billion_laughs()))
    assert "expands to more than 200,000 values (an alias bomb?); refused" in found
    (builder,) = builders
    assert builder.count == yamlload.MAX_NODES + 1


def test_loading_leaves_the_cycle_collector_as_it_found_it(tmp_path):
    import gc

    assert gc.isenabled()
    load_spec(write(tmp_path, BASE), environ={})
    assert gc.isenabled()
    problems(tmp_path, BASE.replace("port: 6379", "port: seventy"))
    assert gc.isenabled()
    gc.disable()
    try:
        load_spec(write(tmp_path, BASE), environ={})
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_huge_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * (2 * 1024 * 1024) + "\n")
    with pytest.raises(SpecError) as info:
        load_spec(str(path), environ={})
    assert "a spec may be at most" in str(info.value)


def test_not_yaml_reports_line(tmp_path, yaml_loader):
    (problem,) = problems(tmp_path, "version: 1\nqueues: [\n")
    assert "not valid YAML" in problem and "alarms.yaml:3:" in problem


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SpecError) as info:
        load_spec(str(tmp_path / "nope.yaml"))
    assert "cannot read the spec" in str(info.value)


def test_merge_keys_and_anchors_work(tmp_path, yaml_loader):
    text = BASE.replace(
        "defaults:\n",
        "x-common: &common\n  period: 300\n  evaluation_periods: 1\ndefaults:\n",
    ).replace("x-common", "collector")  # collector is a real section; put the anchor under queues instead
    text = BASE + "    alarms:\n      queue_depth:\n        critical: &slow\n          period: 300\n          evaluation_periods: 1\n        warning:\n          <<: *slow\n          threshold: 10\n"
    spec = load_spec(write(tmp_path, text), environ={})
    tiers = {r.tier: r for r in spec.queues[0].alarms}
    assert tiers["warning"].period == 300 and tiers["warning"].threshold == 10
    assert tiers["critical"].datapoints_to_alarm == 1  # new N resets the inherited M


def test_json_schema_accepts_the_shipped_spec_and_rejects_unknown_keys():
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    data = yaml.safe_load((ROOT / "alarms.yaml").read_text())
    jsonschema.validate(data, schema)
    data["queues"][0]["procesing"] = "x"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_committed_schema_file_is_current():
    committed = json.loads((ROOT / "alarms.schema.json").read_text())
    assert committed == json_schema(), "run: provision-alarms schema > alarms.schema.json"
    assert (ROOT / "alarms.yaml").read_text().startswith("# yaml-language-server: $schema=./alarms.schema.json")


def test_a_broken_queue_still_has_its_alarms_and_duplicates_checked(tmp_path):
    text = BASE.replace("    dead_letter: jobs:a:dlq\n", "    dead_leter: jobs:a:dlq\n    alarms:\n      queue_depth:\n        critical: {threshold: 5, period: 90}\n")
    text += "  - key: jobs:a\n"
    found = "\n".join(problems(tmp_path, text))
    assert "unknown key 'dead_leter'" in found
    assert "queues[0].alarms.queue_depth.critical.period: found 90" in found
    assert "queues[1].key: queue 'jobs:a' is declared twice" in found


PARTS_BASE = BASE.replace(
    "queues:\n  - key: jobs:a\n    dead_letter: jobs:a:dlq\n",
    """queues:
  - key: jobs:a
    dead_letter: jobs:a:dlq
    processing: jobs:a:processing
    retry: jobs:a:retry
    alarms:
      queue_depth:
        unsettled:
          severity: warning
          threshold: 1
          comparison: ">="
          parts: [waiting, in_flight, retry]
delayed:
  - key: jobs:a:retry
    score_unit: milliseconds
""",
)


def test_queue_depth_parts_and_retry_set(tmp_path):
    spec = load_spec(write(tmp_path, PARTS_BASE), environ={})
    (queue,) = spec.queues
    assert queue.retry == "jobs:a:retry"
    unsettled = next(r for r in queue.alarms if r.tier == "unsettled")
    assert [p.value for p in unsettled.parts] == ["waiting", "in_flight", "retry"]
    assert next(r for r in queue.alarms if r.tier == "critical").parts == ()  # the defaults' tier: QueueDepth alone


@pytest.mark.parametrize(
    "change, expected",
    [
        (("    processing: jobs:a:processing\n", ""), "queues[0].alarms.queue_depth.unsettled.parts: counting 'in_flight' needs the queue's 'processing' key, which is not set"),
        (("    retry: jobs:a:retry\n", ""), "queues[0].alarms.queue_depth.unsettled.parts: counting 'retry' needs the queue's 'retry' key, which is not set"),
        (("delayed:\n  - key: jobs:a:retry\n", "delayed:\n  - key: jobs:b:retry\n"), "queues[0].retry: the retry set 'jobs:a:retry' is not declared under 'delayed'"),
        (("[waiting, in_flight, retry]", "[waiting, dead]"), "parts[1]: found 'dead'; expected one of: waiting, in_flight, retry"),
        (("    retry: jobs:a:retry\n", "    retry: jobs:a\n"), "queues[0].retry: the retry key cannot be the queue itself ('jobs:a')"),
        (("      queue_depth:\n        unsettled:", "      dead_letter_depth:\n        unsettled:"), "'parts' is for queue_depth tiers of queues only, not for dead_letter_depth"),
        (("          parts: [waiting, in_flight, retry]\n", "          only_when_idle: true\n"), "'only_when_idle' is for in_flight_depth tiers only, not for queue_depth"),
    ],
)
def test_parts_and_idle_only_are_checked(tmp_path, change, expected):
    old, new = change
    assert old in PARTS_BASE
    found = problems(tmp_path, PARTS_BASE.replace(old, new))
    assert any(expected in p for p in found), found


# ---------------------------------------------------------------------------------------------
# evaluation_window / timezone


def window_spec(tier: str, period: int = 300) -> str:
    return BASE.replace("        period: 60\n", f"        period: {period}\n" + textwrap.indent(tier, "        "))


def test_a_tier_may_ask_for_a_wall_clock_window_in_a_time_zone(tmp_path):
    spec = load_spec(write(tmp_path, window_spec("evaluation_window: wall_clock\ntimezone: Europe/Berlin\n")), environ={})
    rule = spec.queues[0].alarms[0]
    assert (rule.evaluation_window.value, rule.timezone) == ("wall_clock", "Europe/Berlin")
    default = load_spec(write(tmp_path, BASE, "plain.yaml"), environ={}).queues[0].alarms[0]
    assert (default.evaluation_window.value, default.timezone) == ("sliding", None)


@pytest.mark.parametrize(
    "tier, found",
    [
        (
            "evaluation_window: wall_clock\nperiod: 120\n",
            "queue_depth.critical.evaluation_window: a wall-clock evaluation window needs a period of 60, 300, 3600, 86400 or 604800 seconds",
        ),
        (
            "evaluation_window: wall_clock\ntimezone: Mars/Olympus\n",
            "queue_depth.critical.timezone: found 'Mars/Olympus', which is not a time zone; expected an IANA time zone name",
        ),
        ("evaluation_window: wall_clock\ntimezone: '+05:31'\n", "a UTC offset must be a multiple of 5 minutes"),
        ("timezone: UTC\n", "queue_depth.critical.timezone: a time zone goes with evaluation_window: wall_clock"),
        ("evaluation_window: tumbling\n", "queue_depth.critical.evaluation_window: found 'tumbling'; expected one of: sliding, wall_clock"),
    ],
)
def test_unsupported_windows_are_refused_with_file_line_and_the_allowed_values(tmp_path, tier, found):
    period = 120 if "120" in tier else 300
    [problem] = [p for p in problems(tmp_path, window_spec(tier.replace("period: 120\n", ""), period)) if "window" in p or "timezone" in p]
    assert problem.startswith(f"{tmp_path / 'alarms.yaml'}:") and found in problem
    line = int(problem.split(":")[1])
    assert 11 <= line <= 13  # the tier's own lines


def test_a_key_longer_than_a_cloudwatch_dimension_value_is_refused(tmp_path):
    """A queue key is the Queue dimension: CloudWatch takes at most 1024 characters there."""
    long_key = "k" * 1025
    found = problems(tmp_path, BASE.replace("  - key: jobs:a\n", f"  - key: {long_key}\n"))
    assert any(":21:10:" in p and "queues[0].key: is 1025 characters long; at most 1024 allowed" in p for p in found), found
    at_limit = BASE.replace("  - key: jobs:a\n", f"  - key: {'k' * 1024}\n    name: long\n")
    assert load_spec(write(tmp_path, at_limit), environ={}).queues[0].key == "k" * 1024
