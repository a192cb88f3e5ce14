"""`make demo`: the whole job on an embedded default, no AWS account needed.

A local redis-server (password, temp dir, no persistence) and a local AWS emulator (a moto server)
stand in for ElastiCache and CloudWatch. The hokusai queues are seeded in their real formats, the
shipped spec's `demo` environment is applied, the real Lambda handler runs on a simulated
schedule (one minute per run, the backlog growing, the last runs with Redis stopped), every alarm
is evaluated offline on the data the emulator holds (the emulator never evaluates alarms), and
the emulator's alarm states are set to the result before `status` shows them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, TextIO

from monitor.collect import collector as collector_module
from monitor.errors import ExitStatus, MonitorError
from monitor.local import samples
from monitor.local.emulator import local_aws
from monitor.local.redis_server import LOOPBACK, RedisServer, new_password

DEMO_ENV = "demo"
REGION = "us-east-1"
RUNS = 10  # simulated minutes, one collection each
OUTAGE_RUNS = 2  # the last runs happen with Redis stopped: 2 of 3 failing periods page
BACKLOG = 1500
OLDEST_AGE = 15 * 60
GROWTH_PER_MINUTE = 120
DEAD_LETTER_AT = (3, RUNS - OUTAGE_RUNS - 1)  # minutes when a job fails into the DLQ
STEP = 60
TREND_WINDOW = f"{RUNS * STEP // 60}m"  # status --since: the simulated minutes


class DemoError(MonitorError):
    exit_status = ExitStatus.ERROR


@dataclass
class DemoResult:
    """What the demo ended with: final alarm states and where it left its files."""

    states: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    directory: Path | None = None
    dashboard_path: Path | None = None
    redis_port: int = 0
    seconds: float = 0.0


@contextlib.contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set (None: unset) process environment variables for the demo's duration, then put them back."""
    saved = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _simulated_clock(start: float) -> Iterator[list[float]]:
    """Replace the collector's clock; the yielded one-element list holds the simulated now."""
    now = [start]
    real = collector_module.clock
    collector_module.clock = lambda: now[0]
    try:
        yield now
    finally:
        collector_module.clock = real


def _say(out: TextIO, text: str = "") -> None:
    out.write(text + "\n")
    out.flush()


def _heading(out: TextIO, text: str) -> None:
    _say(out)
    _say(out, f"== {text}")


def _metric_line(minute: int, collector) -> str:
    """What one run published, from the collector's readings and summary."""
    summary = collector.last_summary
    if summary.connection_failure:
        return f"  minute {minute:2d}  Redis unreachable ({summary.failure_reason}): ConnectionFailure=1, CollectorHeartbeat=1"
    return f"  minute {minute:2d}  " + " | ".join(_reading_words(r) for r in collector.last_readings) + f" | ConnectionFailure=0 ({summary.points} points)"


def _reading_words(reading) -> str:
    short = reading.source.key.split(":")[-1]
    parts = [f"depth={reading.depth}", f"age={reading.oldest_age_seconds:.0f}s" if reading.oldest_age_seconds is not None else "age=?"]
    if reading.source.processing_key:
        parts.append(f"in-flight={reading.in_flight}")
    if reading.source.dead_letter_key:
        parts.append(f"dlq={reading.dead_letter}")
    return f"{short} " + " ".join(parts)


def _published_samples(cloudwatch, alarms, start: datetime, end: datetime):
    """Every alarm's metric as the emulator holds it, per minute, for the offline evaluator."""
    from monitor.cloudwatch.alarms import alarm_metric, metric_alarms
    from monitor.cloudwatch.api import metric_data
    from monitor.truth.evaluator import MetricKey

    keys = {alarm_metric(a) for a in metric_alarms(alarms)}
    queries, ids = [], {}
    for index, (namespace, name, dims) in enumerate(sorted(keys)):
        ident = f"m{index}"
        ids[ident] = MetricKey.of(namespace, name, dict(dims))
        queries.append(
            {
                "Id": ident,
                "MetricStat": {
                    "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dims]},
                    "Period": STEP,
                    "Stat": "Maximum",  # one sample per minute was published: every statistic is that value
                },
                "ReturnData": True,
            }
        )
    series = metric_data(cloudwatch, queries, start=start, end=end)
    return {key: sorted((ts.timestamp(), v) for ts, v in series.get(ident, [])) for ident, key in ids.items()}


def run_demo(spec_path: str, out: TextIO, cli_main: Callable[[list[str]], int]) -> DemoResult:
    """Run the demo, running commands through `cli_main` as a user would; raises MonitorError subclasses
    for a person and always cleans up what it started."""
    import boto3

    from lambda_handlers.queue_metrics import handler
    from monitor.cloudwatch.alarms import render_alarms
    from monitor.cloudwatch.dashboard import render_dashboard
    from monitor.spec.load import load_spec
    from monitor.truth.evaluator import transitions
    from monitor.truth.scenarios import evaluate_all, timelines

    begun = time.monotonic()
    result = DemoResult(directory=Path(tempfile.mkdtemp(prefix="queue-monitor-demo-")))
    password = new_password()
    redis_dir = result.directory / "redis"
    redis_dir.mkdir()
    server = RedisServer(directory=redis_dir, password=password)
    with contextlib.ExitStack() as stack:
        # Its config file holds the password: remove it with the server, keep only the dashboard.
        stack.callback(shutil.rmtree, redis_dir, True)
        _heading(out, "Starting a local redis-server (password, no persistence) and a local AWS emulator")
        stack.callback(server.close)
        server.start()
        result.redis_port = server.port
        endpoint = stack.enter_context(local_aws())
        _say(out, f"  redis-server on {LOOPBACK}:{server.port}; AWS emulator at {endpoint}")
        aws_env = {
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_SESSION_TOKEN": "demo",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DISABLE_REQUEST_COMPRESSION": "true",  # the emulator cannot read gzipped bodies
        }
        stack.enter_context(_environment({**aws_env, "AWS_PROFILE": None, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}))
        secrets = boto3.client("secretsmanager", region_name=REGION, endpoint_url=endpoint)
        arn = secrets.create_secret(Name="demo/redis/auth-token", SecretString=password)["ARN"]
        _say(out, f"  the Redis password is in the emulator's Secrets Manager: {arn}")
        stack.enter_context(
            _environment(
                {"MONITOR_SPEC": str(Path(spec_path).resolve()), "MONITOR_ENV": DEMO_ENV, "DEMO_REDIS_PORT": str(server.port), "DEMO_REDIS_SECRET_ARN": arn}
            )
        )
        spec = load_spec(spec_path, env=DEMO_ENV)
        env = spec.environment(DEMO_ENV)

        start = (int(time.time()) // STEP - RUNS) * STEP  # the simulated minutes end at the real now
        client = server.client()
        samples.seed_hokusai(client, start, backlog=BACKLOG, oldest_age=OLDEST_AGE, in_flight=2, dead_letters=3, mint=4)
        _heading(out, "Seeded the hokusai queues in their producers' formats")
        _say(out, f"  {samples.MODEL_READY}: {BACKLOG} envelopes, the oldest enqueued {OLDEST_AGE // 60} minutes ago (tail)")
        _say(out, f"  {samples.MODEL_READY_PROCESSING}: 2 stuck; {samples.MODEL_READY_DLQ}: 3 dead letters")
        _say(out, f"  {samples.MINT}: 4 fresh requests, consumed promptly (healthy)")

        _heading(out, f"provision-alarms apply --env {DEMO_ENV} --yes   (alarms and dashboard, against the emulator)")
        with contextlib.redirect_stdout(out):
            status = cli_main(["apply", "--spec", spec_path, "--env", DEMO_ENV, "--yes", "--write-rate", "0", "--no-metric-check"])
        if status != ExitStatus.SUCCESS:
            raise DemoError(f"apply against the emulator failed with exit status {int(status)}")

        _heading(out, f"The real Lambda handler on a simulated schedule: {RUNS} runs, one per minute")
        collector_module._LAMBDA_STATE.clear()  # a cold start: the token is fetched from Secrets Manager
        with _simulated_clock(start) as now:
            for minute in range(RUNS):
                now[0] = start + minute * STEP + 5
                if minute == RUNS - OUTAGE_RUNS:
                    server.stop()
                    _say(out, "  -- redis-server stopped: the next runs cannot connect --")
                if server.running and minute > 0:
                    samples.push_backlog(client, now[0], GROWTH_PER_MINUTE, 30, start_id=100_000 * minute)
                    if minute in DEAD_LETTER_AT:
                        client.lpush(samples.MODEL_READY_DLQ, samples.model_ready_dead_letter(now[0] - 600, now[0] - 1, f"failed-{minute}"))
                log = io.StringIO()
                with contextlib.redirect_stdout(log):  # the Lambda's own log line: one JSON object per run
                    handler({"source": "aws.events", "detail-type": "Scheduled Event"}, None)
                (collector,) = next(iter(collector_module._LAMBDA_STATE.values()))  # the demo spec has one target
                _say(out, _metric_line(minute, collector))
                if minute in (0, RUNS - 1):
                    _say(out, f"             log line: {log.getvalue().strip()}")
                if minute == 0 and server.running:
                    client.delete(samples.MINT)  # the mint consumer keeps up: empty at every later run
        collector_module._LAMBDA_STATE.clear()  # its clients point at this emulator, which is about to go
        end = start + RUNS * STEP

        _heading(out, "What CloudWatch would do: every alarm evaluated offline on the emulator's data")
        alarms = render_alarms(spec, env)
        cloudwatch = boto3.client("cloudwatch", region_name=REGION, endpoint_url=endpoint)
        data = _published_samples(
            cloudwatch, alarms, datetime.fromtimestamp(start - 3600, timezone.utc), datetime.fromtimestamp(end + STEP, timezone.utc)
        )
        lines = timelines(alarms, data, start, end)
        final = evaluate_all(alarms, data, start, end)
        for alarm in (a for a in alarms if a["AlarmName"] in lines):  # those the evaluator models
            changes = [
                f"{e.state.value} at minute {(e.time - start) // STEP}" for e in transitions(lines[alarm["AlarmName"]]) if e.state.value != "INSUFFICIENT_DATA"
            ]
            _say(out, f"  {alarm['AlarmName']}: {', '.join(changes) or 'no data'}")
            evaluation = final[alarm["AlarmName"]]
            state = evaluation.state.value
            result.states[alarm["AlarmName"]] = state
            result.reasons[alarm["AlarmName"]] = evaluation.reason
            cloudwatch.set_alarm_state(AlarmName=alarm["AlarmName"], StateValue=state, StateReason=evaluation.reason[:1000] or state)
        firing = [name for name, state in result.states.items() if state == "ALARM"]
        _say(out, f"  {len(firing)} of {len(alarms)} alarms in ALARM now; the emulator's alarm states are set to match")

        # The window is the simulated minutes: each queue's sparkline and change show them.
        _heading(out, f"provision-alarms status --env {DEMO_ENV} --since {TREND_WINDOW}")
        with contextlib.redirect_stdout(out):
            cli_main(["status", "--spec", spec_path, "--env", DEMO_ENV, "--since", TREND_WINDOW])

        _heading(out, "Why they fire")
        from monitor.truth import composite
        from monitor.truth.evaluator import explain

        by_name = {a["AlarmName"]: a for a in alarms}
        for name in firing:
            _say(out, f"  {name}")
            _say(out, f"    {(composite.explain if composite.is_composite(by_name[name]) else explain)(by_name[name])}")
            _say(out, f"    now: {result.reasons[name]}")

        dashboard_name, body = render_dashboard(spec, env, region=REGION, alarms=alarms)
        result.dashboard_path = result.directory / f"{dashboard_name}.json"
        result.dashboard_path.write_text(json.dumps(body, indent=2) + "\n")
        _heading(out, "Done")
        _say(out, f"  dashboard JSON: {result.dashboard_path} (also in the emulator as '{dashboard_name}')")
    result.seconds = time.monotonic() - begun
    _say(out, f"  stopped redis-server and the AWS emulator; {result.seconds:.1f} s in all")
    return result
