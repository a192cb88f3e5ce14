"""`provision-alarms doctor`: the pure verdicts on literal readings, then against real redis-servers."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from monitor.cloudwatch.alarms import metric_alarms, render_alarms
from monitor.commands import doctor
from monitor.commands.cli import main
from monitor.commands.doctor import KeyReading, Section, SubjectReading, Verdict, diagnose
from monitor.errors import ExitStatus, RedisError
from monitor.local import samples
from monitor.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
READY, MINT, RETRY = samples.MODEL_READY, samples.MINT, samples.MINT_RETRY


@pytest.fixture(scope="module")
def shipped():
    spec = load_spec(str(ROOT / "alarms.yaml"), environ={})
    env = spec.environment("development")
    return spec, env, render_alarms(spec, env)


def published(key: str, *names: str) -> frozenset:
    return frozenset((name, key, None) for name in names)


QUEUE_METRICS = ("QueueDepth", "OldestMessageAgeSeconds", "MessageParseErrors", "QueueReadErrors")


def queue(key: str, *, waiting=("list", 3), in_flight=("list", 1), dead=("list", 0), names=QUEUE_METRICS + ("InFlightDepth", "DeadLetterDepth"), problems=()):
    parts = (
        ("waiting", key, waiting, ("QueueDepth", "OldestMessageAgeSeconds", "MessageParseErrors")),
        ("in_flight", f"{key}:processing", in_flight, ("InFlightDepth",)),
        ("dead", f"{key}:dlq", dead, ("DeadLetterDepth",)),
    )
    keys = tuple(KeyReading(part, k, "list", found, count, metric_names) for part, k, (found, count), metric_names in parts)
    return SubjectReading(Section.QUEUE, key, key, keys, waiting[1], published(key, *names), "found", 12.0, problems)


def retry_set(*, found="zset", count=2, names=("DelayedTotal", "DelayedOverdue", "QueueReadErrors")):
    key = KeyReading("delayed", RETRY, "zset", found, count, ("DelayedTotal", "DelayedOverdue"))
    return SubjectReading(Section.DELAYED, "retry", RETRY, (key,), count, published(RETRY, *names))


def verdicts(report) -> dict[str, tuple[Verdict, str]]:
    return {a.name.removeprefix("hokusai-queues-development-"): (a.verdict, a.reason) for s in report.subjects for a in s.alarms}


def test_everything_readable_is_ok_and_exits_zero(shipped):
    spec, env, alarms = shipped
    report = diagnose(spec.path, env.name, alarms, [queue(READY), queue(MINT), retry_set()])
    assert report.exit_status is ExitStatus.SUCCESS
    assert report.count(Verdict.OK) == len(metric_alarms(alarms)) - 2  # the two target alarms watch the collector, not a key (composites watch alarms)
    assert report.count(Verdict.BLIND) == report.count(Verdict.UNVERIFIED) == 0
    by_name = {a.name: a for s in report.subjects for a in s.alarms}
    unsettled = by_name["hokusai-queues-development-hokusai-mint_requests-queue-depth-unsettled"]
    assert (unsettled.kind, unsettled.tier) == ("queue_depth", "unsettled")


def test_a_wrong_type_key_makes_its_alarms_blind_with_the_reason(shipped):
    spec, env, alarms = shipped
    dlq_hash = queue(MINT, dead=("hash", None), names=QUEUE_METRICS + ("InFlightDepth",))
    report = diagnose(spec.path, env.name, alarms, [queue(READY), dlq_hash, retry_set()])
    got = verdicts(report)
    reason = f"DeadLetterDepth ({MINT}) is not published: {MINT}:dlq is a hash, not a list"
    assert got["hokusai-mint_requests-dead-letter-depth-warning"] == (Verdict.BLIND, reason)
    assert got["hokusai-mint_requests-dead-letter-arrivals-critical"] == (Verdict.BLIND, reason)
    assert got["hokusai-mint_requests-queue-depth-critical"][0] is Verdict.OK
    assert report.exit_status is ExitStatus.CHECK_FAILED


def test_no_enqueue_time_blinds_processing_lag(shipped):
    spec, env, alarms = shipped
    unreadable = queue(READY, names=("QueueDepth", "MessageParseErrors", "QueueReadErrors", "InFlightDepth", "DeadLetterDepth"), problems=("the oldest message: no field 'timestamp'",))
    got = verdicts(diagnose(spec.path, env.name, alarms, [unreadable, queue(MINT), retry_set()]))
    for tier in ("warning", "critical"):
        verdict, reason = got[f"hokusai-model_ready_queue-processing-lag-{tier}"]
        assert verdict is Verdict.BLIND and reason == f"OldestMessageAgeSeconds ({READY}) is not published: the oldest message: no field 'timestamp'"
    assert got["hokusai-model_ready_queue-read-errors-warning"][0] is Verdict.OK  # it is the alarm that sees it


def test_a_sum_is_blind_when_one_of_its_metrics_is_missing(shipped):
    spec, env, alarms = shipped
    report = diagnose(spec.path, env.name, alarms, [queue(READY), queue(MINT), retry_set(found="list", count=None, names=("QueueReadErrors",))])
    got = verdicts(report)
    verdict, reason = got["hokusai-mint_requests-queue-depth-unsettled"]
    assert verdict is Verdict.BLIND and reason.startswith(f"DelayedTotal ({RETRY}) is not published: {RETRY} is a list, not a zset")
    assert got["hokusai-mint_requests-queue-depth-critical"][0] is Verdict.OK
    # The unsettled alarm is listed under the mint queue, its first metric's subject.
    mint = next(s for s in report.subjects if s.reading.key == MINT)
    assert "hokusai-queues-development-hokusai-mint_requests-queue-depth-unsettled" in {a.name for a in mint.alarms}


def test_absent_keys_leave_their_alarms_unverified_not_blind(shipped):
    spec, env, alarms = shipped
    empty = queue(READY, waiting=("none", 0), in_flight=("none", 0))
    report = diagnose(spec.path, env.name, alarms, [empty, queue(MINT), retry_set()])
    got = verdicts(report)
    verdict, reason = got["hokusai-model_ready_queue-in-flight-depth-warning"]
    assert verdict is Verdict.UNVERIFIED and f"{READY}:processing" in reason and "absent" in reason
    assert got["hokusai-model_ready_queue-processing-lag-warning"][0] is Verdict.UNVERIFIED
    assert got["hokusai-model_ready_queue-dead-letter-depth-warning"][0] is Verdict.OK
    assert report.exit_status is ExitStatus.SUCCESS
    # Without TYPE (the least ACL user), an empty list still reads as absent.
    no_type = queue(READY, waiting=(None, 0), in_flight=(None, 1))
    got = verdicts(diagnose(spec.path, env.name, alarms, [no_type, queue(MINT), retry_set()]))
    assert got["hokusai-model_ready_queue-processing-lag-warning"][0] is Verdict.UNVERIFIED
    assert got["hokusai-model_ready_queue-dead-letter-depth-warning"][0] is Verdict.OK
    # The stuck-processing alarm also reads QueueDepth (is the queue idle?), so it is unverified too.
    assert got["hokusai-model_ready_queue-in-flight-depth-warning"] == (Verdict.UNVERIFIED, f"{READY} absent: an empty list, or a key name nobody writes to")


def test_stream_groups_that_do_not_exist_are_blind(tmp_path):
    path = tmp_path / "alarms.yaml"
    path.write_text(
        "version: 1\nnamespace: T/Q\nname_prefix: t\nenvironments:\n  dev:\n    redis: {host: 127.0.0.1, tls: false}\n"
        "streams:\n  - key: jobs\n    groups: [workers]\n    alarms:\n      consumer_group_lag:\n        critical: {threshold: 100}\n"
    )
    spec = load_spec(str(path), environ={})
    env = spec.environment("dev")
    key = KeyReading("stream", "jobs", "stream", "none", 0, ("StreamLength", "ConsumerGroupLag"))
    reading = SubjectReading(Section.STREAM, "jobs", "jobs", (key,), 0, published("jobs", "StreamLength", "QueueReadErrors"), problems=("the stream does not exist, so neither do its groups",))
    report = diagnose(spec.path, env.name, render_alarms(spec, env), [reading])
    ((check,),) = [s.alarms for s in report.subjects]
    assert check.verdict is Verdict.BLIND
    assert check.reason == "ConsumerGroupLag (jobs, group workers) is not published: the stream does not exist, so neither do its groups"


def test_table_and_json_say_the_same(shipped):
    spec, env, alarms = shipped
    report = diagnose(spec.path, env.name, alarms, [queue(READY), queue(MINT, dead=("hash", None), names=QUEUE_METRICS + ("InFlightDepth",)), retry_set()])
    text = doctor.render_table(report)
    assert f"queue {MINT}" in text and "hash (not list)" in text
    assert "BLIND       hokusai-queues-development-hokusai-mint_requests-dead-letter-depth-warning" in text
    assert text.rstrip().endswith("2 blind, 0 unverified, 16 ok: the blind alarms can never fire as things are")
    document = doctor.report_json(report)
    assert document["ok"] is False and document["counts"] == {"ok": 16, "unverified": 0, "blind": 2}
    mint = next(s for s in document["subjects"] if s["key"] == MINT)
    assert mint["keys"][2] == {"part": "dead", "key": f"{MINT}:dlq", "expected": "list", "type": "hash", "count": None}


# ---------------------------------------------------------------- against real redis-servers


def doctor_env(server, monkeypatch, **extra) -> None:
    for name in ("REDIS_URL", "MONITOR_TARGET", "REDIS_AUTH_TOKEN_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    values = {"REDIS_HOST": server.host, "REDIS_PORT": str(server.port), "REDIS_TLS_ENABLED": "false", "REDIS_AUTH_TOKEN": server.password or "", **extra}
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def run_doctor(capsys, *args) -> tuple[int, str, str]:
    status = main(["doctor", "--spec", str(ROOT / "alarms.yaml"), "--env", "development", *args])
    out = capsys.readouterr()
    return status, out.out, out.err


READ_COMMANDS = {"llen", "lindex", "evalsha_ro", "eval_ro", "script|load", "zcard", "zcount", "xlen", "xinfo|groups", "type", "auth", "hello", "client|setinfo", "ping", "info"}


def test_least_privilege_reader_sees_every_queue_and_changes_nothing(redis_acl, monkeypatch, capsys):
    admin = redis_acl.admin()
    samples.seed_hokusai(admin, time.time(), backlog=4, mint=2, mint_in_flight=1, mint_retrying=1)
    before = {key: admin.dump(key) for key in admin.keys("*")}
    admin.config_resetstat()
    doctor_env(redis_acl.server, monkeypatch, REDIS_USERNAME=redis_acl.reader.name, REDIS_AUTH_TOKEN=redis_acl.reader.password)
    status, out, err = run_doctor(capsys, "--output", "json")
    assert status == ExitStatus.SUCCESS, err
    document = json.loads(out)
    assert document["ok"] is True and document["counts"]["blind"] == 0
    ready = next(s for s in document["subjects"] if s["key"] == READY)
    assert ready["depth"] == 4 and ready["enqueue_time"] == "found" and 890 <= ready["oldest_age_seconds"] <= 910
    assert [k["type"] for k in ready["keys"]] == [None, None, None]  # this ACL user may not run TYPE
    retry = next(s for s in document["subjects"] if s["key"] == RETRY)
    assert retry["section"] == "delayed" and retry["depth"] == 1
    # Read-only: the data is unchanged and only read commands ran.
    assert {key: admin.dump(key) for key in admin.keys("*")} == before
    ran = {name.removeprefix("cmdstat_") for name in admin.info("commandstats")}
    assert ran - {"info", "config|resetstat", "keys", "dump"} <= READ_COMMANDS, ran


def test_wrong_type_and_unreadable_oldest_message_exit_six(redis_password, monkeypatch, capsys):
    admin = redis_password.client()
    now = time.time()
    samples.seed_hokusai(admin, now, backlog=3, mint=1)
    admin.rpush(READY, "{not json")  # at the tail: the oldest message
    admin.hset(f"{MINT}:processing", "job", "1")  # a hash where the processing list should be
    doctor_env(redis_password, monkeypatch)
    status, out, err = run_doctor(capsys)
    assert status == ExitStatus.CHECK_FAILED, err
    assert f"queue {READY}: depth 4; oldest job: not found: not JSON" in out
    assert any(line.split()[1:4] == [f"{MINT}:processing", "hash", "(not"] for line in out.splitlines() if "in_flight" in line)
    blind = [line.split()[1].rstrip(":") for line in out.splitlines() if line.strip().startswith("BLIND")]
    assert sorted(name.removeprefix("hokusai-queues-development-") for name in blind) == [
        "hokusai-mint_requests-in-flight-depth-warning",
        "hokusai-mint_requests-queue-depth-unsettled",
        "hokusai-model_ready_queue-processing-lag-critical",
        "hokusai-model_ready_queue-processing-lag-warning",
    ]


def test_unreachable_redis_is_one_line_and_exit_four(redis_factory, monkeypatch, capsys):
    server = redis_factory(password="p" * 20)
    server.stop()
    doctor_env(server, monkeypatch, REDIS_AUTH_TOKEN="p" * 20)
    status, out, err = run_doctor(capsys)
    assert status == ExitStatus.REDIS_FAILURE
    assert out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: cannot read Redis primary (127.0.0.1:{server.port}): refused: ") and "p" * 20 not in err


def test_read_subjects_raises_a_redis_error_for_a_bad_setting(shipped):
    spec, env, _ = shipped
    with pytest.raises(RedisError, match="cannot read Redis primary: config: ConfigError: REDIS_PORT='x' is not a port number"):
        doctor.read_subjects(spec, env, environ={"REDIS_PORT": "x"}, secrets_factory=lambda: None)


def test_stream_and_delayed_set_on_a_plain_server(redis_plain, tmp_path):
    path = tmp_path / "alarms.yaml"
    path.write_text(
        f"version: 1\nnamespace: T/Q\nname_prefix: t\nenvironments:\n  dev:\n    redis: {{host: 127.0.0.1, port: {redis_plain.port}, tls: false}}\n"
        "streams:\n  - key: jobs\n    groups: [workers, missing]\n    alarms:\n      consumer_group_lag:\n        critical: {threshold: 100}\n"
        "delayed:\n  - key: later\n    alarms:\n      delayed_overdue:\n        warning: {threshold: 0}\n"
    )
    client = redis_plain.client()
    client.xadd("jobs", {"a": "1"})
    client.xgroup_create("jobs", "workers", id="0")
    client.set("later", "a string, not a sorted set")
    spec = load_spec(str(path), environ={})
    env = spec.environment("dev")
    stream = io.StringIO()
    status = doctor.run(spec, env, environ={}, secrets_factory=lambda: None, output="json", stream=stream)
    assert status == ExitStatus.CHECK_FAILED
    got = {a["name"]: (a["verdict"], a["reason"]) for s in json.loads(stream.getvalue())["subjects"] for a in s["alarms"]}
    assert got["t-dev-jobs-workers-consumer-group-lag-critical"] == ("ok", "")
    assert got["t-dev-jobs-missing-consumer-group-lag-critical"] == ("blind", "ConsumerGroupLag (jobs, group missing) is not published: consumer group 'missing' does not exist")
    assert got["t-dev-later-delayed-overdue-warning"] == ("blind", "DelayedOverdue (later) is not published: later is a string, not a zset")


def test_presets_show_every_key_of_every_part_and_judge_sums_by_all_their_keys(redis_plain, tmp_path):
    path = tmp_path / "alarms.yaml"
    path.write_text(
        f"version: 1\nnamespace: T/Q\nname_prefix: t\nenvironments:\n  dev:\n    redis: {{host: 127.0.0.1, port: {redis_plain.port}, tls: false}}\n"
        "defaults:\n  alarms:\n    queue_depth: {warning: {threshold: 10}}\n    in_flight_depth: {warning: {threshold: 10}}\n"
        "    processing_lag: {warning: {threshold: 600}}\n"
        "queues:\n  - framework: rq\n    queue: default\n  - framework: celery\n    queue: celery\n"
    )
    client = redis_plain.client()
    client.hset("rq:job:a", "enqueued_at", "2026-11-29T07:00:00.000001Z")
    client.rpush("rq:queue:default", "a")
    client.rpush("rq:wip:default", "oops")  # RQ keeps a sorted set here
    client.rpush("celery", "{}")  # only priority step 0 in use: the other steps' lists are absent
    spec = load_spec(str(path), environ={})
    stream = io.StringIO()
    status = doctor.run(spec, spec.environment("dev"), environ={}, secrets_factory=lambda: None, output="json", stream=stream)
    assert status == ExitStatus.CHECK_FAILED
    subjects = {s["key"]: s for s in json.loads(stream.getvalue())["subjects"]}
    rq = subjects["rq:queue:default"]
    assert [(k["part"], k["key"], k["expected"], k["type"], k["count"]) for k in rq["keys"]] == [
        ("waiting", "rq:queue:default", "list", "list", 1),
        ("in_flight", "rq:wip:default", "zset", "list", None),
        ("dead", "rq:failed:default", "zset", "none", 0),
        ("delayed", "rq:scheduled:default", "zset", "none", 0),
    ]
    got = {a["name"]: (a["verdict"], a["reason"]) for s in subjects.values() for a in s["alarms"]}
    assert got["t-dev-rq-default-in-flight-depth-warning"] == ("blind", "InFlightDepth (rq:queue:default) is not published: rq:wip:default is a list, not a zset")
    assert got["t-dev-rq-default-processing-lag-warning"] == ("ok", "")
    # Nine absent priority lists beside a present one: the summed depth is verified, not "absent".
    assert got["t-dev-celery-celery-queue-depth-warning"] == ("ok", "")
    assert subjects["celery"]["enqueue_time"] == "none: this framework's jobs carry no enqueue time"
