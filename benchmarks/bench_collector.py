"""The whole collector (discovery, reads, points, PutMetricData) next to a naive emitter and the server's limit.

Run: python -m benchmarks.bench_collector [--queues 10000] [--memory-queues 100000]
It starts its own throwaway redis-server and uses the AWS emulator in-process for PutMetricData.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.bench_reader import best_of, redis_benchmark, seed
from monitor.collect.timestamps import parse_enqueue_time
from monitor.local.redis_server import RedisServer
from monitor.spec.sources import TimestampFormat

ROOT = Path(__file__).resolve().parent.parent
MIN_SPEEDUP_OVER_NAIVE = 20
MIN_SHARE_OF_REDIS_BENCHMARK = 1 / 8
MAX_PEAK_MEMORY_MB = 128
MAX_IMPORT_RATIO = 1.3
IMPORT_REPEATS = 7


def bench_spec(port: int, count: int):
    """The shipped spec's demo environment, pointed at the bench server, with `count` declared queues."""
    from monitor.spec.load import load_spec
    from monitor.spec.model import Queue
    from monitor.spec.sources import QueueSource

    spec = load_spec(str(ROOT / "alarms.yaml"), env="demo", environ={"DEMO_REDIS_PORT": str(port)})
    queues = tuple(
        Queue(key=f"bench:q:{i}", name=f"q{i}", source=QueueSource(f"bench:q:{i}", f"bench:q:{i}:processing", f"bench:q:{i}:dlq"))
        for i in range(count)
    )
    return dataclasses.replace(spec, queues=queues)


def make_collector(port: int, count: int, cloudwatch=None, *, dry_run: bool = False):
    from monitor.collect.collector import Collector

    spec = bench_spec(port, count)
    environ = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port), "REDIS_AUTH_TOKEN": "", "REDIS_TLS_ENABLED": "false"}
    return Collector(spec, spec.environment("demo"), environ=environ, cloudwatch=cloudwatch, emit=lambda line: None, dry_run=dry_run)


def naive(client, sources, now):
    """The emitter's shape, one command per round trip, doing the collector's work: 3 LLEN + 1 LINDEX a queue."""
    ages = []
    for source in sources:
        client.llen(source.key)
        client.llen(source.processing_key)
        client.llen(source.dead_letter_key)
        raw = client.lindex(source.key, -1)
        if raw is not None:
            ages.append(now - parse_enqueue_time(raw, source.timestamp_field, TimestampFormat.AUTO))
    return ages


def import_seconds(module: str) -> float:
    """Best-of wall time of importing `module` in a fresh interpreter, bytecode cached for both sides.

    boto3 is installed with compiled bytecode; our modules get theirs on the first (discarded) run,
    so both are measured as a Lambda would run them with bytecode (PYTHONDONTWRITEBYTECODE unset).
    """
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env).stdout) for _ in range(IMPORT_REPEATS + 1)]
    return min(runs[1:])


class _Accepted:
    status_code = 200


def _accept_without_sending(**kwargs):
    """Answer PutMetricData after botocore has built (serialised) the request, without a network."""
    return _Accepted(), {}


def pattern_spec(port: int):
    """The demo spec with no declared queue and one pattern matching every bench queue: how 100,000 queues arrive."""
    from monitor.spec.load import load_spec
    from monitor.spec.model import Pattern
    from monitor.spec.sources import OldestEnd, TimestampFormat

    spec = load_spec(str(ROOT / "alarms.yaml"), env="demo", environ={"DEMO_REDIS_PORT": str(port)})
    pattern = Pattern(
        pattern="bench:q:*[0-9]",
        processing="{key}:processing",
        dead_letter="{key}:dlq",
        oldest_end=OldestEnd.TAIL,
        timestamp_field="timestamp",
        timestamp_format=TimestampFormat.AUTO,
        max_keys=10_000,
    )
    return dataclasses.replace(spec, queues=(), patterns=(pattern,))


def memory_child(port: int, count: int, declared: bool) -> None:
    from monitor.collect.collector import Collector, botocore_client

    cloudwatch = botocore_client("cloudwatch", region="us-east-1")
    cloudwatch.meta.events.register("before-call.cloudwatch.PutMetricData", _accept_without_sending)
    if declared:
        collector = make_collector(port, count, cloudwatch)
    else:
        spec = pattern_spec(port)
        environ = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port), "REDIS_AUTH_TOKEN": "", "REDIS_TLS_ENABLED": "false"}
        collector = Collector(spec, spec.environment("demo"), environ=environ, cloudwatch=cloudwatch, emit=lambda line: None)
    summary = collector.run()
    assert summary.queues_read == count and not summary.connection_failure, summary.failure
    print(
        json.dumps(
            {"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "points": summary.points, "round_trips": summary.round_trips, "puts": summary.put_requests}
        )
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=10_000)
    parser.add_argument("--memory-queues", type=int, default=100_000)
    parser.add_argument("--memory-child", nargs=3, type=int, metavar=("PORT", "COUNT", "DECLARED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        port, count, declared = args.memory_child
        memory_child(port, count, bool(declared))
        return 0

    import boto3
    from moto import mock_aws

    failures = []
    with RedisServer() as server, mock_aws():
        client = server.client()
        now = time.time()
        sources = seed(client, max(args.queues, args.memory_queues), now)[: args.queues]
        memory, declared_memory = (
            json.loads(
                subprocess.run(
                    [sys.executable, "-m", "benchmarks.bench_collector", "--memory-child", str(server.port), str(args.memory_queues), str(declared)],
                    capture_output=True, text=True, check=True, cwd=ROOT,
                ).stdout
            )
            for declared in (0, 1)
        )
        # The collector as the Lambda runs it: botocore builds every PutMetricData request, which
        # is answered at once (no network), so the figures are the collector's, not an emulator's.
        from monitor.collect.collector import botocore_client

        offline = botocore_client("cloudwatch", region="us-east-1")
        offline.meta.events.register("before-call.cloudwatch.PutMetricData", _accept_without_sending)
        collector = make_collector(server.port, args.queues, offline)
        run_s, summary = best_of(collector.run)
        redis_s = min(collector.run().duration_ms for _ in range(5)) / 1000  # the Redis part of a run
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        puts = []
        cloudwatch.meta.events.register("before-call.cloudwatch.PutMetricData", lambda **kw: puts.append(1))
        moto_summary = make_collector(server.port, args.queues, cloudwatch).run()
        naive_s, _ = best_of(lambda: naive(client, sources, now))
        limit = redis_benchmark(server.port)
    boto3_s = import_seconds("boto3")
    handler_s = import_seconds("lambda_handlers.queue_metrics")

    n = args.queues
    lists = 3 * n  # each queue: its list, its processing list and its dead-letter list
    read_rate, run_rate, naive_rate = lists / redis_s, lists / run_s, lists / naive_s
    print(f"{n:,} queues = {lists:,} lists (LLEN of queue, processing and DLQ lists, plus the oldest message), best of runs")
    print(f"{'':50} {'lists/s':>10} {'round trips':>12} {'x naive':>8} {'of limit':>9}")
    for label, rate, trips in (
        ("collector, reading Redis (CollectionDuration)", read_rate, summary.round_trips),
        ("collector, whole run incl. PutMetricData requests", run_rate, summary.round_trips),
        ("naive loop, one command per round trip", naive_rate, 4 * n),
    ):
        print(f"{label:50} {rate:10,.0f} {trips:12,} {rate / naive_rate:8.1f} {rate / limit:9.3f}")
    print(f"{'redis-benchmark -c 1 -P 1000 llen (commands/s)':50} {limit:10,.0f} {'':>12} {'':>8} {1:9.3f}")
    points = moto_summary.points
    print(f"PutMetricData requests to the emulator: {len(puts)} for {points:,} points (ceil(points/1000) = {math.ceil(points / 1000)})")
    print(
        f"peak RSS of a whole collector run over {args.memory_queues:,} queues found by a pattern (PutMetricData built, not sent): "
        f"{memory['rss_mb']:.0f} MB ({memory['round_trips']} round trips incl. SCAN, {memory['puts']} PutMetricData requests)"
    )
    print(f"  the same {args.memory_queues:,} queues declared one by one in the spec: {declared_memory['rss_mb']:.0f} MB (the spec objects included)")
    print(f"import time: lambda_handlers.queue_metrics {handler_s * 1000:.0f} ms, boto3 alone {boto3_s * 1000:.0f} ms (ratio {handler_s / boto3_s:.2f})")

    checks = (
        ("collector >= 20x naive", read_rate / naive_rate >= MIN_SPEEDUP_OVER_NAIVE),
        ("collector >= 1/8 of redis-benchmark", read_rate / limit >= MIN_SHARE_OF_REDIS_BENCHMARK),
        ("round trips <= ceil(keys/1000)+1", summary.round_trips <= math.ceil(n / 1000) + 1),
        ("PutMetricData requests == ceil(points/1000)", len(puts) == math.ceil(points / 1000)),
        ("peak memory < 128 MB at 100k", memory["rss_mb"] < MAX_PEAK_MEMORY_MB),
        ("handler import <= 1.3x boto3", handler_s <= MAX_IMPORT_RATIO * boto3_s),
    )
    for name, ok in checks:
        print(f"  {'met ' if ok else 'MISSED'}  {name}")
        failures += [] if ok else [name]
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
