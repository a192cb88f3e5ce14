"""Framework presets in the spec: what they expand to, how bad entries are reported, render and explain."""

from __future__ import annotations

import json

from monitor.spec.kinds import AlarmKind
from monitor.spec.load import load_spec
from monitor.spec.sources import KeyType, OldestEnd, TimeKind
from tests.test_cli import run
from tests.test_spec import problems, write

SPEC = """\
version: 1
namespace: Test/Queues
name_prefix: t
runbooks:
  queue_depth: https://example.com/rb#depth
  processing_lag: https://example.com/rb#lag
  in_flight_depth: https://example.com/rb#inflight
  dead_letter_depth: https://example.com/rb#dead
defaults:
  alarms:
    queue_depth: {warning: {threshold: 100}}
    processing_lag: {warning: {threshold: 600}}
    in_flight_depth: {warning: {threshold: 50}}
    dead_letter_depth: {warning: {threshold: 1}}
environments:
  dev:
    redis: {host: 127.0.0.1, port: 6379, tls: false}
queues:
  - key: jobs:a
    dead_letter: jobs:a:dlq
  - framework: rq
    queue: default
  - framework: bullmq
    queue: mail
    prefix: myapp
  - framework: celery
    queue: celery
  - framework: sidekiq
    queue: critical
"""


def test_presets_expand_to_their_frameworks_keys_and_plain_queues_stay_as_they_were(tmp_path):
    spec = load_spec(write(tmp_path, SPEC), environ={})
    plain, rq, bull, celery, sidekiq = spec.queues
    assert (plain.key, plain.name, plain.framework, plain.source.parts().waiting[0].key, plain.dead_letter) == ("jobs:a", "jobs-a", None, "jobs:a", "jobs:a:dlq")
    assert plain.source.parts().time.kind is TimeKind.ELEMENT_JSON and plain.source.oldest_end is OldestEnd.TAIL
    assert (rq.key, rq.name, rq.framework) == ("rq:queue:default", "rq-default", "rq")
    assert rq.source.time.key_template == "rq:job:{id}" and rq.processing == "rq:wip:default" and rq.dead_letter == "rq:failed:default"
    assert [s.key for s in bull.source.waiting] == ["myapp:mail:wait", "myapp:mail:prioritized", "myapp:mail:paused"]
    assert bull.source.waiting[1].type is KeyType.ZSET
    assert celery.source.time.kind is TimeKind.NONE and len(celery.source.waiting) == 10
    assert sidekiq.key == "queue:critical" and sidekiq.processing is None

    def kinds(queue):
        return {rule.kind for rule in queue.alarms}

    everything = {AlarmKind.QUEUE_DEPTH, AlarmKind.PROCESSING_LAG, AlarmKind.IN_FLIGHT_DEPTH, AlarmKind.DEAD_LETTER_DEPTH}
    assert kinds(rq) == kinds(bull) == everything
    # Defaults apply where the framework keeps the part; no blind alarm where it does not.
    assert kinds(celery) == {AlarmKind.QUEUE_DEPTH}
    assert kinds(sidekiq) == {AlarmKind.QUEUE_DEPTH, AlarmKind.PROCESSING_LAG, AlarmKind.DEAD_LETTER_DEPTH}


def test_bad_preset_entries_are_reported_with_their_place_and_a_suggestion(tmp_path):
    text = SPEC + """\
  - framework: dramatik
    queue: default
  - framework: arq
    queue: arq:queue
    prefx: x
  - framework: rq
  - framework: celery
    queue: other
    alarms:
      processing_lag: {critical: {threshold: 60}}
  - framework: sidekiq
    queue: low
    alarms:
      in_flight_depth: {critical: {threshold: 60}}
"""
    found = problems(tmp_path, text)
    assert any(":30:16: queues[5].framework: found 'dramatik'" in p and "did you mean 'dramatiq'?" in p for p in found), found
    assert any(":34:5: queues[6].prefx: unknown key 'prefx'; did you mean 'prefix'?" in p for p in found), found
    assert any("queues[7]: missing required field 'queue'" in p for p in found), found
    assert any("queues[8].alarms.processing_lag: a processing_lag alarm needs an enqueue time" in p for p in found), found
    assert any("queues[9].alarms.in_flight_depth: a in_flight_depth alarm needs the queue's 'processing' list" in p for p in found), found
    assert len(found) == 5


def test_two_presets_on_one_key_are_reported_at_the_second(tmp_path):
    found = problems(tmp_path, SPEC + "  - framework: arq\n    queue: celery\n")
    assert len(found) == 1 and ":31:12: queues[5].queue: queue 'celery' is declared twice (first at queues[3])" in found[0]


def test_the_cli_exits_2_on_an_unknown_framework(tmp_path):
    done = run("validate", "--spec", write(tmp_path, SPEC.replace("framework: rq", "framework: resque")))
    assert done.returncode == 2 and "queues[1].framework: found 'resque'" in done.stderr


def test_render_and_explain_show_what_a_preset_expands_to(tmp_path):
    path = write(tmp_path, SPEC)
    rendered = json.loads(run("render", "--spec", path).stdout)
    (rq,) = [p for p in rendered["presets"] if p["framework"] == "rq"]
    assert rq["reads"]["in_flight"] == ["zset 'rq:wip:default'"] and "rq:job:{id}" in rq["reads"]["enqueue_time"]
    assert any(alarm["Dimensions"][1]["Value"] == "rq:queue:default" for alarm in rendered["alarms"])
    explained = run("explain", "--spec", path).stdout
    assert "celery-celery: celery preset" in explained and "enqueue_time: nowhere" in explained


def test_the_cost_estimate_counts_the_metrics_each_preset_publishes(tmp_path, redis_plain):
    from monitor.cloudwatch.cost import preset_extra_metrics, queue_metric_count
    from monitor.collect.collector import reading_points
    from monitor.collect.reader import read_queues

    text = SPEC + "".join(f"  - framework: {f}\n    queue: q-{f}\n" for f in ("dramatiq", "arq", "rq", "bullmq", "sidekiq", "celery"))
    spec = load_spec(write(tmp_path, text.replace("queue: default", "queue: other")), environ={})
    readings = read_queues(redis_plain.client(), [q.source for q in spec.queues], now=1e9).readings
    for queue, reading in zip(spec.queues, readings):
        published = {p.metric.name for p in reading_points(reading)}
        assert len(published) == queue_metric_count(bool(queue.processing), bool(queue.dead_letter)) + preset_extra_metrics(queue), queue.name
