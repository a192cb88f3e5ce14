"""The collector writes its PutMetricData requests while Redis is still being read (monitor.collect.plain
hands it each script call's readings): the same datums as a run that writes them all at the end, none
from a run that failed, and no more written ahead than MAX_HELD_BYTES."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from pathlib import Path

import pytest

from monitor.collect import collector as collector_module
from monitor.collect import publish
from monitor.collect.collector import Collector
from monitor.local import samples
from monitor.local.redis_server import AclUser
from monitor.spec import metrics
from monitor.spec.load import load_spec
from monitor.spec.model import Pattern, Queue
from monitor.spec.sources import OldestEnd, QueueSource, TimestampFormat
from tests.support.offline_cloudwatch import offline_client, sent_datums

ROOT = Path(__file__).resolve().parent.parent
NOW = 1_795_676_462.0
TARGET_METRICS = {m.name for m in metrics.ALL_METRICS if m.scope is metrics.Scope.TARGET}


def spec_of(port: int, queues: list[str], patterns: tuple[Pattern, ...] = ()):
    spec = load_spec(str(ROOT / "alarms.yaml"), env="demo", environ={"DEMO_REDIS_PORT": str(port)})
    declared = tuple(Queue(key=k, name=k.replace(":", "-"), source=QueueSource(k, f"{k}:wip", f"{k}:dlq")) for k in queues)
    return dataclasses.replace(spec, queues=declared, patterns=patterns, streams=(), delayed=())


def collector_for(spec, server, **options) -> Collector:
    environ = {"REDIS_HOST": server.host, "REDIS_PORT": str(server.port), "REDIS_AUTH_TOKEN": server.password or "", "REDIS_TLS_ENABLED": "false"}
    environ.update(options.pop("environ", {}))
    return Collector(spec, spec.environment("demo"), environ=environ, emit=lambda line: None, **options)


def comparable(datum: dict) -> str:
    """A datum as CloudWatch reads it, whichever path wrote it (a datetime becomes epoch seconds)."""
    stamp = datum["Timestamp"]
    value = None if datum["MetricName"] == metrics.COLLECTION_DURATION.name else float(datum["Value"])  # a time: differs by run
    return json.dumps({**datum, "Timestamp": stamp if isinstance(stamp, (int, float)) else int(stamp.timestamp()), "Value": value}, sort_keys=True)


def seed(client) -> tuple[list[str], Pattern]:
    """1,200 declared queues (some empty, some with a message that is no JSON, one with a key of
    another type) and a pattern matching 1,500 keys, 900 of them with metrics of their own."""
    pipe = client.pipeline(transaction=False)
    declared = []
    for i in range(1200):
        key = f"q:{i}"
        declared.append(key)
        if i % 5:
            pipe.lpush(key, samples.mint_request(NOW - i, i) if i % 97 else "not json")
        if i % 3 == 0:
            pipe.lpush(f"{key}:wip", "x")
    pipe.set("q:7:dlq", "a string")
    for i in range(1500):
        pipe.lpush(f"tenant:{i:04d}:jobs", samples.mint_request(NOW - 2 * i, i))
    pipe.execute()
    pattern = Pattern("tenant:*:jobs", "{key}:wip", None, OldestEnd.TAIL, "timestamp", TimestampFormat.AUTO, max_keys=900)
    return declared, pattern


@pytest.mark.parametrize("held_bytes", [publish.MAX_HELD_BYTES, 1], ids=["all-written-ahead", "most-written-at-the-end"])
def test_requests_written_while_reading_carry_exactly_the_datums_of_a_dry_run(redis_plain, aws_env, monkeypatch, held_bytes):
    for name in ("AWS_ENDPOINT_URL", "AWS_DISABLE_REQUEST_COMPRESSION"):  # gzipped, as for real AWS
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(publish, "MAX_HELD_BYTES", held_bytes)
    monkeypatch.setattr(collector_module, "clock", lambda: NOW)
    declared, pattern = seed(redis_plain.client())
    spec = spec_of(redis_plain.port, declared, (pattern,))
    client, sent = offline_client()
    live = collector_for(spec, redis_plain, cloudwatch=client)
    assert live._live(collector_module.datetime.fromtimestamp(NOW, collector_module.timezone.utc)) is not None  # this run writes ahead
    dry = collector_for(spec, redis_plain, dry_run=True)
    left_for_the_end = []
    send = collector_module._Live.send
    monkeypatch.setattr(collector_module._Live, "send", lambda self, points: left_for_the_end.append(len(self.later)) or send(self, points))

    summary = live.run()
    expected = dry.run()
    assert summary.connection_failure == 0 and summary.failure is None
    got = sent_datums(sent)
    assert Counter(map(comparable, got)) == Counter(map(comparable, dry.last_datums))
    assert summary.points == expected.points and summary.published == len(got) == len(dry.last_datums)
    assert summary.put_requests == len(sent) == math.ceil(len(got) / 1000)
    assert {d["MetricName"] for d in got} >= {"QueueDepth", "InFlightDepth", "OldestMessageAgeSeconds", "MessageParseErrors", "QueueReadErrors", "PatternDepthSum"}
    depths = {d["Dimensions"][1]["Value"] for d in got if d["MetricName"] == "QueueDepth"}
    assert len(depths) == 1200 + 900  # the pattern's keys past max_keys are in its aggregates only
    # Gzipped, a run's requests fit the hold: all are written while reading; with a hold of 1 byte,
    # the readings after the first full body are written at the end.
    if held_bytes == 1:
        assert 1500 < left_for_the_end[0] < 2100, left_for_the_end
    else:
        assert left_for_the_end == [0], left_for_the_end


def test_a_run_that_fails_mid_read_publishes_none_of_the_requests_written(redis_factory, aws_env, monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_DISABLE_REQUEST_COMPRESSION"):  # gzipped: requests are written ahead
        monkeypatch.delenv(name, raising=False)
    # The reader may read q:* but not z:*: the first batch of calls is read (its requests are
    # written), the second is refused. The run must then publish only its failure signal.
    reader = AclUser("reader", "reader-password-123", "resetkeys ~q:* -@all +llen +lindex +scan +evalsha_ro +eval_ro")
    server = redis_factory(password="admin-password-123", users=(reader,))
    admin = server.client()
    pipe = admin.pipeline(transaction=False)
    for i in range(1500):
        pipe.lpush(f"q:{i}", samples.mint_request(NOW - i, i))
    pipe.lpush("z:0", samples.mint_request(NOW, 0))
    pipe.execute()
    spec = spec_of(server.port, [f"q:{i}" for i in range(1500)] + ["z:0"])
    client, sent = offline_client()
    collector = collector_for(spec, server, cloudwatch=client, environ={"REDIS_USERNAME": reader.name, "REDIS_AUTH_TOKEN": reader.password})
    handed = []
    original = collector_module._Live.readings
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(collector_module._Live, "readings", lambda self, readings: handed.append(len(readings)) or original(self, readings))
        summary = collector.run()
    assert summary.connection_failure == 1 and "permission" in (summary.failure or "").lower()
    assert sum(handed) >= 1000  # the first batch was read, and its requests written, before the failure
    assert {d["MetricName"] for d in sent_datums(sent)} <= TARGET_METRICS
    assert {(d["MetricName"], d["Value"]) for d in sent_datums(sent)} >= {("ConnectionFailure", 1.0), ("CollectorHeartbeat", 1.0)}
