"""What trends cost `status`: GetMetricData calls, metrics requested, datapoints and time, by window.

Run: python -m benchmarks.bench_status [--queues 250]
The AWS emulator runs in-process (moto), holding 30 minutes of one-minute data for every queue.
The baseline is the window status read before trends (the latest value: the last 15 minutes,
one-minute points). GetMetricData is billed per metric requested, not per datapoint, so equal
"metrics" means equal cost; the seconds are the emulator's and only compare the windows.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import yaml
from moto import mock_aws

from monitor.commands import status
from monitor.spec import metrics
from monitor.spec.load import load_spec

WINDOWS = (("baseline: latest value (15m)", timedelta(minutes=15)), ("--since 30m (default)", timedelta(minutes=30)), ("--since 2h", timedelta(hours=2)))


def write_spec(directory: Path, queues: int) -> Path:
    document = {
        "version": 1,
        "namespace": "Bench/Queues",
        "name_prefix": "bench",
        "defaults": {"alarms": {"queue_depth": {"critical": {"threshold": 100}}}},
        "environments": {"prod": {"region": "us-east-1", "redis": {"host": "redis.internal"}}},
        "queues": [{"key": f"jobs:{i:04d}"} for i in range(queues)],
    }
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def put_history(client, spec, env, now: datetime) -> None:
    data = []
    for queue in spec.queues:
        for minute in range(30):
            moment = now - timedelta(minutes=30 - minute)
            for metric, value in ((metrics.QUEUE_DEPTH, minute * 3), (metrics.OLDEST_MESSAGE_AGE, minute * 60)):
                data.append({"MetricName": metric.name, "Dimensions": metric.dimensions(env.name, queue.key), "Value": value, "Timestamp": moment})
    for start in range(0, len(data), 1000):
        client.put_metric_data(Namespace=spec.namespace, MetricData=data[start : start + 1000])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", type=int, default=250)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, mock_aws():
        spec = load_spec(str(write_spec(Path(directory), args.queues)), environ={})
        env = spec.environment("prod")
        client = boto3.client("cloudwatch", region_name="us-east-1")
        now = datetime.now(timezone.utc)
        put_history(client, spec, env, now)
        calls: list[int] = []
        client.meta.events.register("provide-client-params.cloudwatch.GetMetricData", lambda params, **_: calls.append(len(params["MetricDataQueries"])))
        print(f"status of {args.queues} queues (2 metrics each + 2 target metrics), 30 minutes of one-minute data in the emulator")
        print(f"{'window':32} {'calls':>5} {'metrics':>8} {'points':>8} {'period':>7} {'seconds':>8}")
        for label, since in WINDOWS:
            calls.clear()
            started = time.perf_counter()
            report = status.collect_status(spec, env, client, since=since, now=now)
            status.render_table(report, width=120, unicode=True)
            seconds = time.perf_counter() - started
            points = sum(len(p) for q in report.queues for p in q.series.values())
            if since == WINDOWS[0][1]:
                points = sum(1 for q in report.queues for _ in q.values)  # the baseline kept only the latest point
            print(f"{label:32} {len(calls):>5} {sum(calls):>8} {points:>8} {report.period:>6}s {seconds:>8.2f}")


if __name__ == "__main__":
    main()
