"""Trends in `status`: the window, sparklines, changes, what a terminal can show, and one batch of calls."""

from __future__ import annotations

import io
import re
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from monitor.cloudwatch.alarms import render_alarms
from monitor.commands import status
from monitor.commands.status import Sample, change, parse_since, sparkline, trend_period
from monitor.errors import ExitStatus
from monitor.spec import metrics
from monitor.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc)
MINT = "hokusai:mint_requests"
MODEL = "hokusai:model_ready_queue"


def points(values, *, every: int = 60, end: datetime = NOW) -> tuple[Sample, ...]:
    """One sample per `every` seconds, the last one a period before `end`; None leaves a gap."""
    count = len(values)
    return tuple(Sample(v, end - timedelta(seconds=every * (count - i))) for i, v in enumerate(values) if v is not None)


@pytest.mark.parametrize(
    "text, seconds",
    [("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("90s", 90), ("1d", 86400), ("15d", 15 * 86400), (" 45m ", 2700)],
)
def test_parse_since(text, seconds):
    assert parse_since(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text, message", [("30", "not a duration"), ("m30", "not a duration"), ("2 h", "not a duration"), ("", "not a duration"), ("30s", "1m to 15d"), ("16d", "1m to 15d")])
def test_parse_since_rejects(text, message):
    with pytest.raises(ValueError, match=message):
        parse_since(text)


def test_trend_period_keeps_sixty_points_at_most():
    assert [trend_period(timedelta(minutes=m)) for m in (1, 30, 60, 61, 120, 24 * 60)] == [60, 60, 60, 120, 120, 1440]
    assert trend_period(timedelta(days=15)) % 60 == 0 and timedelta(days=15).total_seconds() / trend_period(timedelta(days=15)) <= 60


def test_sparkline_rises_falls_and_leaves_gaps():
    start = NOW - timedelta(minutes=8)
    assert sparkline(points([0, 1, 2, 3, 4, 5, 6, 7]), start=start, end=NOW) == "▁▂▃▄▅▆▇█"
    assert sparkline(points([7, 6, 5, 4, 3, 2, 1, 0]), start=start, end=NOW, bars=status.SPARK_ASCII) == "#*+=:-._"
    assert sparkline(points([1, 2, 3, 4, 5, 6, 7, 8]), start=start, end=NOW) == "▂▃▄▅▅▆▇█"  # scaled from 0, not from the lowest
    assert sparkline(points([0, 0, None, None, 4, 4, 4, 8]), start=start, end=NOW) == "▁▁  ▅▅▅█"
    assert sparkline(points([0] * 8), start=start, end=NOW) == "▁" * 8
    assert sparkline(points([1000, 1001, 1002]), start=start, end=NOW) == "     ███"  # scaled from 0: a small change stays small
    assert sparkline((), start=start, end=NOW) == ""


def test_sparkline_slices_take_the_highest_point():
    start = NOW - timedelta(minutes=30)
    series = points([5 if i == 13 else 0 for i in range(30)])
    line = sparkline(series, start=start, end=NOW)
    assert len(line) == status.SPARK_WIDTH and line.count("█") == 1 and set(line) == {"▁", "█"}


def test_change_is_last_minus_first():
    assert change(points([3, 9, 40])) == 37
    assert change(points([40, 2])) == -38
    assert change(points([7])) is None and change(()) is None


class Stream(io.StringIO):
    def __init__(self, tty: bool, encoding: str = "utf-8"):
        super().__init__()
        self._tty, self._encoding = tty, encoding

    def isatty(self) -> bool:
        return self._tty

    @property
    def encoding(self) -> str:
        return self._encoding


@pytest.mark.parametrize(
    "tty, encoding, environ, colour, unicode",
    [
        (True, "utf-8", {"TERM": "xterm", "LANG": "en_GB.UTF-8"}, True, True),
        (False, "utf-8", {"TERM": "xterm", "LANG": "en_GB.UTF-8"}, False, False),  # a pipe
        (True, "utf-8", {"TERM": "dumb", "LANG": "en_GB.UTF-8"}, False, False),
        (True, "utf-8", {"TERM": "xterm", "LANG": "en_GB.UTF-8", "NO_COLOR": "1"}, False, True),
        (True, "utf-8", {"TERM": "xterm", "LANG": "en_GB.ISO-8859-1"}, True, False),
        (True, "utf-8", {"TERM": "xterm"}, True, False),  # no locale at all: C
        (True, "utf-8", {"TERM": "xterm", "LANG": "C", "LC_CTYPE": "C.UTF-8"}, True, False),  # Python's own coercion of C
        (True, "utf-8", {"TERM": "xterm", "LANG": "C", "LC_CTYPE": "de_DE.UTF-8"}, True, True),
        (True, "utf-8", {"TERM": "xterm", "LANG": "en_GB.UTF-8", "LC_ALL": "C"}, True, False),
        (True, "latin-1", {"TERM": "xterm", "LANG": "en_GB.UTF-8"}, True, False),  # PYTHONIOENCODING=latin-1
    ],
)
def test_what_a_stream_can_show(tty, encoding, environ, colour, unicode):
    stream = Stream(tty, encoding)
    assert status.use_colour(stream, environ) is colour
    assert status.use_unicode(stream, environ) is unicode


@pytest.fixture(scope="module")
def shipped():
    spec = load_spec(str(ROOT / "alarms.yaml"), environ={})
    return spec, spec.environment("development")


def literal_report(spec, env, since=timedelta(minutes=30)):
    """A report from literal series: the model queue fills up, the mint queue drains."""
    queries = status.metric_queries(spec, env)
    series = {}
    for q in queries:
        if q.key == "depth":
            series[q.id] = points([100 + 40 * i for i in range(30)] if q.subject == MODEL else [57 - 2 * i for i in range(29)] + [0])
        elif q.key == "oldest_age_seconds":
            series[q.id] = points([60 * i for i in range(30)] if q.subject == MODEL else [30] * 30)
        elif q.key in ("dead_letter", "in_flight", "heartbeat", "connection_failure"):
            series[q.id] = points([0, 1])
    return status.build_report(
        spec, env, region="us-east-1", alarms=render_alarms(spec, env), states={}, samples=status.latest_samples(series, now=NOW),
        queries=queries, now=NOW, series=series, since=since, period=trend_period(since),
    )


@pytest.mark.parametrize("unicode", [True, False])
def test_the_table_shows_trends_at_80_columns(shipped, unicode):
    spec, env = shipped
    text = status.render_table(literal_report(spec, env), width=80, unicode=unicode)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), text
    assert text.isascii() != unicode
    assert "DEPTH 30m" in lines[1]
    model = next(line for line in lines if line.startswith("hokusai:") and "1260" in line)
    mint = next(line for line in lines if line.startswith("hokusai:") and "1260" not in line)
    assert ("▂▃▄▅▆▆▇█ +1160" if unicode else ".-:=++*# +1160") in model
    assert ("█▇▆▅▄▃▂▁   -57" if unicode else "#*+=:-._   -57") in mint


@pytest.mark.parametrize(
    "width, columns",
    [
        (200, ["QUEUE", "DEPTH", "DEPTH 30m", "OLDEST", "OLDEST 30m", "IN-FLIGHT", "DLQ", "DRAIN", "ALARMS"]),
        (140, ["QUEUE", "DEPTH", "DEPTH 30m", "OLDEST", "OLDEST 30m", "IN-FLIGHT", "DLQ", "ALARMS"]),  # the drain estimate goes first
        (100, ["QUEUE", "DEPTH", "DEPTH 30m", "OLDEST", "ALARMS"]),  # optional columns go before keys are cut
        (80, ["QUEUE", "DEPTH", "DEPTH 30m", "OLDEST", "ALARMS"]),  # then keys are cut, and the trend stays
        (64, ["QUEUE", "DEPTH", "OLDEST", "ALARMS"]),
        (60, ["QUEUE", "DEPTH", "ALARMS"]),
    ],
)
def test_columns_make_way_in_order(shipped, width, columns):
    spec, env = shipped
    lines = status.render_table(literal_report(spec, env), width=width, unicode=True).splitlines()
    assert re.split(r"\s{2,}", lines[1]) == columns
    keys_whole = any(line.startswith(MODEL) for line in lines)
    assert keys_whole == (width >= 100)


def test_wide_tables_show_the_age_trend_too(shipped):
    spec, env = shipped
    text = status.render_table(literal_report(spec, env), width=200, unicode=True)
    model = next(line for line in text.splitlines() if line.startswith(MODEL))
    assert "29m  ▂▃▄▄▅▆▇█ +29m" in model
    mint = next(line for line in text.splitlines() if line.startswith(MINT))
    assert re.search(r"30s  █{8} +0  ", mint), mint  # steady: no change


def test_json_carries_the_series(shipped):
    spec, env = shipped
    document = status.report_json(literal_report(spec, env, since=timedelta(minutes=10)))
    assert document["trend"] == {"since_seconds": 600, "period_seconds": 60}
    model = next(q for q in document["queues"] if q["queue"] == MODEL)
    assert [v for _, v in model["series"]["depth"]] == [100 + 40 * i for i in range(20, 30)]  # the last ten minutes only
    assert model["series"]["depth"][-1][0] == "2026-11-29T02:59:00Z"
    assert model["change"] == {"depth": 360, "oldest_age_seconds": 540, "in_flight": 1, "dead_letter": 1}


def put_history(client, spec, env, now: datetime) -> None:
    """Half an hour of one-minute samples: the model queue grows by 40 a minute."""
    data = []
    for minute in range(30):
        moment = now - timedelta(minutes=30 - minute)
        for subject, metric, value in (
            (MODEL, metrics.QUEUE_DEPTH, 100 + 40 * minute),
            (MODEL, metrics.OLDEST_MESSAGE_AGE, 60 * minute),
            (MINT, metrics.QUEUE_DEPTH, 5),
        ):
            data.append({"MetricName": metric.name, "Dimensions": metric.dimensions(env.name, subject), "Value": value, "Timestamp": moment})
    for start in range(0, len(data), 1000):
        client.put_metric_data(Namespace=spec.namespace, MetricData=data[start : start + 1000])


@pytest.mark.parametrize("since, periods", [(timedelta(minutes=30), [{60}]), (timedelta(hours=2), [{120}, {60}])])
def test_trends_come_from_batched_calls_never_one_per_queue(shipped, since, periods):
    spec, env = shipped
    seen = []
    with mock_aws():
        client = boto3.client("cloudwatch", region_name="us-east-1")
        now = datetime.now(timezone.utc)
        put_history(client, spec, env, now)
        client.meta.events.register(
            "provide-client-params.cloudwatch.GetMetricData",
            lambda params, **_: seen.append(({q["MetricStat"]["Period"] for q in params["MetricDataQueries"]}, params["EndTime"] - params["StartTime"])),
        )
        report = status.collect_status(spec, env, client, since=since, now=now)
    # One call for every queue's series; a wider trend adds one call of one-minute points for the latest
    # values, over the last 15 minutes only.
    assert [p for p, _ in seen] == periods
    if len(seen) == 2:
        assert seen[1][1] <= status.LOOKBACK + timedelta(minutes=1)
    model = next(q for q in report.queues if q.queue.key == MODEL)
    depth = model.series["depth"]
    assert depth[-1].value == model.values["depth"].value == 100 + 40 * 29
    assert change(depth) == depth[-1].value - depth[0].value > 0
    if periods == {60}:
        assert len(depth) == 30 and change(depth) == 40 * 29
    mint = next(q for q in report.queues if q.queue.key == MINT)
    assert change(mint.series["depth"]) == 0 and "oldest_age_seconds" not in mint.series


def test_a_day_long_window_still_shows_the_latest_minute(shipped):
    """--since 1d: 24-minute series points start up to 24 minutes ago; the latest values come from one-minute points."""
    spec, env = shipped
    period = trend_period(timedelta(days=1))
    # 20 minutes into a 24-minute period: the current period's point is stamped 20 minutes ago.
    now = datetime.fromtimestamp(datetime.now(timezone.utc).timestamp() // period * period + 20 * 60, timezone.utc)
    target = env.targets[0].name
    with mock_aws():
        client = boto3.client("cloudwatch", region_name="us-east-1")
        put_history(client, spec, env, now)
        for minute in range(1, 31):  # the target is healthy; the model queue's in-flight count drains
            client.put_metric_data(Namespace=spec.namespace, MetricData=[
                {"MetricName": m.name, "Dimensions": m.dimensions(env.name, subject), "Value": v, "Timestamp": now - timedelta(minutes=minute)}
                for m, subject, v in ((metrics.CONNECTION_FAILURE, target, 0), (metrics.COLLECTOR_HEARTBEAT, target, 1), (metrics.IN_FLIGHT_DEPTH, MODEL, minute))
            ])
        report = status.collect_status(spec, env, client, since=timedelta(days=1), now=now)
    model = next(q for q in report.queues if q.queue.key == MODEL)
    assert model.values["depth"].value == 100 + 40 * 29  # the last minute's value, not the Maximum of 24 minutes
    assert model.values["depth"].timestamp >= now - timedelta(minutes=2)
    assert next(q for q in report.queues if q.queue.key == MINT).values["depth"].value == 5
    assert model.values["in_flight"].value == 1  # the series' point of the same minutes is the Maximum, 20
    assert model.series["in_flight"][-1].value == 20 and model.series["depth"][-1].timestamp == now - timedelta(minutes=20)
    line = next(t for t in report.targets if t.name == target)
    assert line.connection == "OK"
    assert now - line.values["heartbeat"].timestamp < timedelta(minutes=2)


TWO_TARGETS = """\
version: 1
namespace: Test/Queues
name_prefix: two
target_alarms:
  connection_failure:
    critical: {threshold: 1}
environments:
  dev:
    redis_targets:
      - {name: jobs, host: 127.0.0.1, tls: false}
      - {name: cache, host: 127.0.0.1, tls: false}
queues:
  - key: a
"""


def test_status_has_a_line_per_redis_target(tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text(textwrap.dedent(TWO_TARGETS))
    spec = load_spec(str(path), environ={})
    env = spec.environment("dev")
    with mock_aws():
        client = boto3.client("cloudwatch", region_name="us-east-1")
        failure = metrics.CONNECTION_FAILURE
        client.put_metric_data(
            Namespace=spec.namespace,
            MetricData=[
                {"MetricName": failure.name, "Dimensions": failure.dimensions("dev", name), "Value": value, "Timestamp": datetime.now(timezone.utc) - timedelta(minutes=2)}
                for name, value in (("jobs", 0), ("cache", 1))
            ],
        )
        report = status.collect_status(spec, env, client)
    assert [(t.name, t.connection, len(t.alarms)) for t in report.targets] == [("jobs", "OK", 1), ("cache", "FAILING", 1)]
    lines = status.render_table(report).splitlines()
    assert lines[-2].startswith("redis jobs: connection OK;") and lines[-1].startswith("redis cache: connection FAILING;")


def test_each_queue_shows_its_time_to_drain_from_the_same_series(shipped):
    """The model queue grows 40 a minute; the mint queue is empty: the DRAIN column and the JSON say so."""
    spec, env = shipped
    report = literal_report(spec, env)
    text = status.render_table(report, width=200, unicode=True)
    assert "growing 40/min: will not drain" in next(line for line in text.splitlines() if line.startswith(MODEL))
    assert "  empty  " in next(line for line in text.splitlines() if line.startswith(MINT))
    by_queue = {q["queue"]: q["drain"] for q in status.report_json(report)["queues"]}
    assert by_queue[MODEL]["state"] == "growing" and by_queue[MODEL]["per_minute"] == 40
    assert by_queue[MODEL]["seconds"] == 86400  # the estimate's cap: a growing queue never drains
    assert by_queue[MINT]["state"] == "empty"


def test_patterns_get_a_row_of_their_aggregates_and_alarms(tmp_path):
    text = (ROOT / "examples" / "tenants" / "alarms.yaml").read_text()
    path = tmp_path / "alarms.yaml"
    path.write_text(text)
    spec = load_spec(str(path), environ={})
    env = spec.environment("production")
    queries = status.metric_queries(spec, env)
    series = {q.id: points([40] if q.key == "queues" else [900, 950]) for q in queries if q.subject == "tenant:*:jobs"}
    worst = "tenants-production-tenant-jobs-pattern-depth-max-critical"
    report = status.build_report(
        spec, env, region="eu-west-1", alarms=render_alarms(spec, env), states={worst: ("ALARM", "Threshold Crossed")},
        samples=status.latest_samples(series, now=NOW), queries=queries, now=NOW, series=series,
    )
    lines = status.render_table(report, width=200).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("PATTERN"))
    assert re.split(r"\s{2,}", lines[header]) == ["PATTERN", "QUEUES", "DEPTH-SUM", "DEPTH-MAX", "OLDEST", "ALARMS"]
    assert re.split(r"\s{2,}", lines[header + 1])[:5] == ["tenant:*:jobs", "40", "950", "950", "15m 50s"]
    assert "ALARM depth-max/critical" in lines[header + 1]
    (pattern,) = status.report_json(report)["patterns"]
    assert (pattern["pattern"], pattern["name"], pattern["state"], pattern["queues"]) == ("tenant:*:jobs", "tenant-jobs", "ALARM", 40)
    assert report.exit_status is ExitStatus.CHECK_FAILED
