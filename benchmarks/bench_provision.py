"""How many AWS calls and how long: plan/apply for a generated spec with 1,000 alarms.

Runs `provision-alarms apply` in-process against moto's in-process emulator (mock_aws, with the
composite alarms the tests add to it), so wall times are the tool's own work plus moto's, with no
network and no AWS throttling; the paced time on real AWS is computed from the PutMetricAlarm
quota (PutCompositeAlarm is paced with it). The same spec runs twice, side by side: as it is (the
baseline), and with `incidents` (one page per incident: 201 composite alarms more). Run:

    python benchmarks/bench_provision.py
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.update(
    AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/nonexistent"
)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from monitor.cloudwatch.alarms import render_alarms  # noqa: E402
from monitor.cloudwatch.api import DESCRIBE_MAX_RECORDS, PUT_METRIC_ALARM_TPS  # noqa: E402
from monitor.commands.cli import main  # noqa: E402
from monitor.local import moto_cloudwatch  # noqa: E402
from monitor.spec.load import load_spec  # noqa: E402

WRITES = {"PutMetricAlarm", "PutCompositeAlarm", "TagResource", "UntagResource", "DeleteAlarms", "PutDashboard", "DeleteDashboards"}
TARGET_ALARMS = 1000
INCIDENTS = "incidents:\n  severities: [critical]\n"


def generated_spec(path: Path, incidents: bool = False) -> None:
    """199 queues x 5 alarms + 1 queue x 3 + 2 target alarms = 1,000 alarms (and 201 composites with incidents)."""
    queues = []
    for i in range(200):
        queue = f"  - key: jobs:q{i:03d}\n"
        if i < 199:
            queue += f"    dead_letter: jobs:q{i:03d}:dlq\n"
        if i == 0:  # the one alarm the benchmark changes
            queue += "    alarms: {queue_depth: {critical: {threshold: 500}}}\n"
        queues.append(queue)
    path.write_text(
        """version: 1
namespace: Bench/Queues
name_prefix: bench
defaults:
  alarms:
    queue_depth: {critical: {threshold: 1000, evaluation_periods: 5, datapoints_to_alarm: 3}}
    processing_lag: {warning: {threshold: 300}, critical: {threshold: 900}}
    dead_letter_arrivals: {critical: {threshold: 1}}
    dead_letter_depth: {warning: {threshold: 1, period: 300}}
target_alarms:
  connection_failure: {critical: {threshold: 1, evaluation_periods: 3, datapoints_to_alarm: 2}}
  collector_heartbeat: {critical: {threshold: 1, period: 300}}
environments:
  prod:
    region: us-east-1
    redis: {host: redis.example.com}
    notifications:
      critical: {alarm: ["arn:aws:sns:us-east-1:123456789012:critical"]}
      warning: {alarm: ["arn:aws:sns:us-east-1:123456789012:warning"]}
queues:
"""
        + "".join(queues)
        + (INCIDENTS if incidents else "")
    )


def publish_every_metric(spec_path: Path) -> int:
    """Give every alarm's metric one datapoint, so the silent-alarm check reads real pages."""
    spec = load_spec(str(spec_path), env="prod")
    from monitor.cloudwatch.alarms import alarm_metric

    metrics = sorted({alarm_metric(a) for a in render_alarms(spec, spec.environment("prod")) if "AlarmRule" not in a})
    cw = boto3.client("cloudwatch")
    data = [{"MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dims], "Value": 0.0} for _, name, dims in metrics]
    for start in range(0, len(data), 1000):
        cw.put_metric_data(Namespace="Bench/Queues", MetricData=data[start : start + 1000])
    return len(data)


def apply(spec_path: Path) -> tuple[dict, float, int]:
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(["apply", "--spec", str(spec_path), "--env", "prod", "--yes", "--output", "json", "--write-rate", "0"])
    elapsed = time.perf_counter() - started
    return json.loads(out.getvalue()), elapsed, int(status)


def row(label: str, result: dict, elapsed: float, status: int) -> list[str]:
    calls = result["api_calls"]
    writes = sum(n for op, n in calls.items() if op in WRITES)
    reads = sum(n for op, n in calls.items() if op not in WRITES)
    paced = (calls.get("PutMetricAlarm", 0) + calls.get("PutCompositeAlarm", 0)) / PUT_METRIC_ALARM_TPS
    by_op = ", ".join(f"{op} {n}" for op, n in sorted(calls.items()))
    return [label, str(reads), str(writes), f"{elapsed:.2f} s", f"{paced:.1f} s", f"exit {status}", by_op]


def variant(incidents: bool) -> tuple[int, int, list[list[str]], dict, dict]:
    """(alarms, published metrics, rows, the no-op run's calls, the changed run's calls) of one spec."""
    with tempfile.TemporaryDirectory() as tmp, mock_aws():
        spec_path = Path(tmp) / "alarms.yaml"
        generated_spec(spec_path, incidents)
        spec = load_spec(str(spec_path), env="prod")
        alarms = len(render_alarms(spec, spec.environment("prod")))
        assert alarms == TARGET_ALARMS + (201 if incidents else 0), alarms
        metrics = publish_every_metric(spec_path)
        name = "incidents" if incidents else "baseline"
        rows = [row(f"{name}: first apply", *apply(spec_path))]
        noop = apply(spec_path)
        rows.append(row(f"{name}: no-op re-apply", *noop))
        spec_path.write_text(spec_path.read_text().replace("threshold: 500}", "threshold: 600}"))
        changed = apply(spec_path)
        rows.append(row(f"{name}: changed threshold", *changed))
    return alarms, metrics, rows, noop[0]["api_calls"], changed[0]["api_calls"]


def main_bench() -> None:
    moto_cloudwatch.install()
    alarms, metrics, rows, noop_calls, changed_calls = variant(incidents=False)
    with_incidents, _, incident_rows, incident_noop, _ = variant(incidents=True)
    naive_calls = alarms
    naive_paced = naive_calls / PUT_METRIC_ALARM_TPS
    rows.append(["naive (put every alarm)", "0", str(naive_calls), "-", f"{naive_paced:.1f} s", "-", f"PutMetricAlarm {naive_calls} on every run"])
    rows += incident_rows

    headers = ["run", "reads", "writes", "wall (moto)", f"paced @{PUT_METRIC_ALARM_TPS:g} TPS", "status", "API calls by operation"]
    widths = [max(len(r[i]) for r in rows + [headers]) for i in range(len(headers))]
    print(f"{alarms} alarms (baseline), {with_incidents} with incidents; {metrics} published metrics; emulator: moto {__import__('moto').__version__} in-process (mock_aws)")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    describe_limit = math.ceil(alarms / DESCRIBE_MAX_RECORDS) + 1
    print()
    print(
        f"targets: no-op writes {sum(n for op, n in noop_calls.items() if op in WRITES)} (want 0); "
        f"no-op DescribeAlarms {noop_calls.get('DescribeAlarms', 0)} (want <= ceil({alarms}/100)+1 = {describe_limit}); "
        f"one change writes {sum(n for op, n in changed_calls.items() if op in WRITES)} (want 1); "
        f"with incidents the no-op writes {sum(n for op, n in incident_noop.items() if op in WRITES)} (want 0)"
    )
    print(
        f"per-alarm ListTagsForResource would add {alarms} reads to every run; tags came from GetResources "
        f"({noop_calls.get('GetResources', 0)} calls) and ListTagsForResource {noop_calls.get('ListTagsForResource', 0)}"
    )
    print(
        "moto differs from AWS in the read counts: its DescribeAlarms never pages (AWS: ceil(alarms/100) = "
        f"{math.ceil(alarms / DESCRIBE_MAX_RECORDS)} calls), and its GetResources also stops each page at 100 tags "
        f"(AWS: ResourcesPerPage=100, so {math.ceil(alarms / 100)} calls)."
    )


if __name__ == "__main__":
    main_bench()
