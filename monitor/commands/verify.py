"""`provision-alarms verify`: the post-deployment checks, each pass, fail or skipped with its reason.

Each check is a small function handed the clients it needs; `run_checks` runs them in order, so a
check that depends on another (Redis needs the token) is skipped, with the reason, when that one
failed. `render_table` and `report_json` are pure. No output ever contains the Redis token.
"""

from __future__ import annotations

import enum
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence, TextIO

from monitor.cloudwatch.alarms import render_alarms
from monitor.collect.connection import (
    ConfigError,
    RedisSettings,
    Secret,
    TokenProvider,
    classify_failure,
    open_client,
    resolve_settings,
    scrub,
)
from monitor.collect.reader import key_types
from monitor.errors import AwsError, ExitStatus
from monitor.spec import metrics, naming
from monitor.spec.model import Environment, Spec

HEARTBEAT_RUNS = 3  # the collector counts as running when it ran within this many schedule intervals
INGESTION_SLACK = timedelta(seconds=60)  # a datapoint can take about a minute to become readable
UNKNOWN_SCHEDULE_WINDOW = timedelta(minutes=15)  # cron() schedules: no fixed interval to derive from
ACTION_FIELDS = ("AlarmActions", "OKActions", "InsufficientDataActions")
ACCESS_DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")
JSON_FORMAT_VERSION = 1

ClientFactory = Callable[[str], Any]  # AWS service name -> botocore client


class Status(str, enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, on what, and what came of it."""

    name: str
    subject: str
    status: Status
    detail: str


def _aws_reason(exc: Exception) -> str:
    from monitor.cloudwatch.clients import describe_error

    return describe_error(exc)  # already one line


def _error_code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


# ---------------------------------------------------------------- the checks


def check_secret(settings: RedisSettings, provider: TokenProvider) -> Check:
    """The auth token's secret can be read (with the caller's credentials)."""
    source = settings.token
    if not source.secret_arn:
        reason = "the token comes from an environment variable" if source.literal else "no auth token is configured"
        return Check("secret", "-", Status.SKIPPED, f"{reason}; no secret to read")
    try:
        provider.get()
    except ConfigError as exc:
        return Check("secret", source.secret_arn, Status.FAIL, str(exc))
    key = f" (key {source.secret_json_key})" if source.secret_json_key else ""
    return Check("secret", source.secret_arn, Status.PASS, f"readable{key}")


def check_redis(settings: RedisSettings, token: Secret | None) -> tuple[Check, Any]:
    """Connect, authenticate and PING with the collector's settings; returns the open client on success."""
    import redis

    transport = "TLS, certificate verified" if settings.tls else "no TLS"
    auth = f"AUTH as {settings.username}" if settings.username else ("AUTH with the token" if token else "no AUTH")
    subject = f"{settings.host}:{settings.port}/{settings.db}"
    client = None
    answered = "PING answered"
    try:
        client = open_client(settings, token)  # a single-connection client connects (and AUTHs) here
        try:
            client.ping()
        except redis.exceptions.NoPermissionError:
            # The collector's least ACL user (-@all +llen +lindex ...) may not PING: it is in.
            answered = "connected and authenticated (this ACL user may not PING)"
    except (redis.RedisError, OSError) as exc:
        if client is not None:
            client.close()
        reason = classify_failure(exc, settings)
        text = scrub(f"{type(exc).__name__}: {exc}", token)[:300]
        return Check("redis", subject, Status.FAIL, f"{reason}: {text} ({transport}, {auth})"), None
    version = ""
    try:
        version = f", Redis {client.info('server').get('redis_version')}"
    except redis.RedisError:
        pass  # a least-privilege ACL user may not run INFO; the version is only a courtesy
    return Check("redis", subject, Status.PASS, f"{answered} ({transport}, {auth}{version})"), client


def queue_keys(spec: Spec) -> list[tuple[str, str, str]]:
    """(role, key, Redis type) of every key the spec's queues read: each part's keys, each key once."""
    keys: dict[str, tuple[str, str, str]] = {}
    for queue in spec.queues:
        parts = queue.source.parts()
        for role, part in (("queue", parts.waiting), ("processing", parts.in_flight), ("dead letter", parts.dead), ("delayed", parts.delayed)):
            for key_source in part:
                keys.setdefault(key_source.key, (role, key_source.key, key_source.type.value))
    return list(keys.values())


def check_queue_keys(client, spec: Spec) -> list[Check]:
    """TYPE of every declared key and LLEN of the lists: two round trips whatever the count.

    An ACL user without TYPE (the collector's least user) gets LLEN alone: 0 means absent (Redis
    never keeps an empty list) and WRONGTYPE means not a list; keys of other types are then not checked.
    """
    keys = queue_keys(spec)
    types = key_types(client, [key for _, key, _ in keys])
    measured = [key for i, (_, key, expected) in enumerate(keys) if expected == "list" and (types is None or types[i] == "list")]
    pipe = client.pipeline(transaction=False)
    for key in measured:
        pipe.llen(key)
    depths = dict(zip(measured, pipe.execute(raise_on_error=False)))
    checks = []
    for i, (role, key, expected) in enumerate(keys):
        name = f"{role} key"
        depth = depths.get(key)
        if types is None and expected != "list":
            checks.append(Check(name, key, Status.SKIPPED, f"a {expected} is expected; this user may not run TYPE"))
            continue
        kind = types[i] if types is not None else ("none" if depth == 0 else "list" if isinstance(depth, int) else "other")
        if isinstance(depth, Exception) and "WRONGTYPE" not in str(depth):
            raise depth
        if kind == expected:
            checks.append(Check(name, key, Status.PASS, f"list, depth {depth}" if kind == "list" else kind))
        elif kind == "none":
            # Redis deletes an emptied list (or set), so an absent key is simply an empty part.
            checks.append(Check(name, key, Status.PASS, "empty (key absent)"))
        else:
            what = f"a {kind}" if types is not None else "WRONGTYPE"
            checks.append(Check(name, key, Status.FAIL, f"{what}, not a {expected}: the collector cannot read it (QueueReadErrors)"))
    return checks


def schedule_interval(expression: str) -> timedelta | None:
    """The interval of an EventBridge rate() expression; None for cron()."""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours)\)", expression.strip())
    if not match:
        return None
    amount = int(match.group(1))
    return timedelta(minutes=amount) if match.group(2).startswith("minute") else timedelta(hours=amount)


def heartbeat_window(spec: Spec) -> timedelta:
    interval = schedule_interval(spec.collector.schedule)
    if interval is None:
        return UNKNOWN_SCHEDULE_WINDOW
    return HEARTBEAT_RUNS * max(interval, timedelta(minutes=1)) + INGESTION_SLACK


def _minutes(window: timedelta) -> str:
    minutes = window.total_seconds() / 60
    return f"{minutes:g} minutes"


def check_collector(cloudwatch, spec: Spec, env: Environment, target: str, *, now: datetime) -> list[Check]:
    """The collector is running (CollectorHeartbeat recently) and its last run reached Redis."""
    window = heartbeat_window(spec)
    subject = f"{metrics.ENVIRONMENT}={env.name}, {metrics.TARGET}={target}"

    def query(query_id: str, metric: metrics.Metric, stat: str) -> dict:
        dims = metric.dimensions(env.name, target)
        return {
            "Id": query_id,
            "MetricStat": {"Metric": {"Namespace": spec.namespace, "MetricName": metric.name, "Dimensions": dims}, "Period": 60, "Stat": stat},
            "ReturnData": True,
        }

    from monitor.cloudwatch.api import metric_data

    found = metric_data(
        cloudwatch,
        [query("heartbeat", metrics.COLLECTOR_HEARTBEAT, "Sum"), query("failure", metrics.CONNECTION_FAILURE, "Maximum")],
        start=now - window,
        end=now + timedelta(minutes=1),
        ScanBy="TimestampDescending",
    )
    series = {query_id: sorted(points, reverse=True) for query_id, points in found.items()}
    beats = [(t, v) for t, v in series.get("heartbeat", []) if v > 0]
    if not beats:
        heartbeat = Check(
            "collector running",
            subject,
            Status.FAIL,
            f"no {metrics.COLLECTOR_HEARTBEAT.name} in {spec.namespace} in the last {_minutes(window)}: the collector is not "
            "running or cannot publish (is the schedule rule enabled? see the function's Errors and logs)",
        )
        skipped = Check("collector reaches redis", subject, Status.SKIPPED, "no recent collector run to look at")
        return [heartbeat, skipped]
    runs = int(sum(v for _, v in beats))
    latest = beats[0][0].astimezone(timezone.utc).strftime("%H:%M UTC")
    checks = [Check("collector running", subject, Status.PASS, f"{runs} run(s) in the last {_minutes(window)}, latest in the minute of {latest}")]
    failures = series.get("failure", [])
    if not failures:
        checks.append(Check("collector reaches redis", subject, Status.SKIPPED, f"no {metrics.CONNECTION_FAILURE.name} datapoint yet"))
    elif failures[0][1] >= 1:
        checks.append(
            Check(
                "collector reaches redis",
                subject,
                Status.FAIL,
                f"the collector's latest run could not reach Redis ({metrics.CONNECTION_FAILURE.name}=1): see failure_reason "
                "in its log line (security groups, VPC endpoints, token)",
            )
        )
    else:
        checks.append(Check("collector reaches redis", subject, Status.PASS, f"{metrics.CONNECTION_FAILURE.name}=0 in its latest run"))
    return checks


def describe_alarms(cloudwatch, names: Sequence[str]) -> dict[str, dict]:
    """{name: alarm} for those of the named alarms (metric or composite) that exist."""
    from monitor.cloudwatch.api import describe_alarms as describe

    return {alarm["AlarmName"]: alarm for alarm in describe(cloudwatch, names=list(names), composites=True)}


def check_alarms(cloudwatch, spec: Spec, env: Environment) -> list[Check]:
    """Every alarm of the spec exists, with its actions enabled and equal to the rendered ones."""
    wanted = render_alarms(spec, env)
    actual = describe_alarms(cloudwatch, [a["AlarmName"] for a in wanted])
    checks = []
    for alarm in wanted:
        name = alarm["AlarmName"]
        found = actual.get(name)
        if found is None:
            checks.append(Check("alarm", name, Status.FAIL, "missing: run provision-alarms apply"))
            continue
        differences = [
            f"{field} {sorted(found.get(field, []))}, the spec wants {sorted(alarm[field])}"
            for field in ACTION_FIELDS
            if sorted(found.get(field, [])) != sorted(alarm[field])
        ]
        if differences:
            checks.append(Check("alarm", name, Status.FAIL, "; ".join(differences) + " (run provision-alarms apply)"))
        elif not found.get("ActionsEnabled", True):
            checks.append(Check("alarm", name, Status.FAIL, "actions disabled: it notifies nobody (aws cloudwatch enable-alarm-actions)"))
        else:
            checks.append(Check("alarm", name, Status.PASS, f"present ({found.get('StateValue', '?')}), actions as the spec says"))
    return checks


def check_dashboard(cloudwatch, spec: Spec, env: Environment) -> Check:
    name = naming.dashboard_name(spec.name_prefix, env.name)
    try:
        cloudwatch.get_dashboard(DashboardName=name)
    except Exception as exc:
        if _error_code(exc) in ("ResourceNotFound", "ResourceNotFoundException"):
            return Check("dashboard", name, Status.FAIL, "missing: run provision-alarms apply")
        raise
    return Check("dashboard", name, Status.PASS, "present")


def _endpoints(group: dict) -> set[str]:
    addresses = set()
    for endpoint in [group.get("ConfigurationEndpoint")] + [
        e for node in group.get("NodeGroups", []) for e in [node.get("PrimaryEndpoint"), node.get("ReaderEndpoint")]
    ] + [m.get("ReadEndpoint") for node in group.get("NodeGroups", []) for m in node.get("NodeGroupMembers", [])]:
        if endpoint and endpoint.get("Address"):
            addresses.add(endpoint["Address"].lower())
    return addresses


def check_elasticache(elasticache, host: str) -> Check:
    """TLS in transit, encryption at rest and AUTH on the replication group behind host (if visible)."""
    try:
        groups = [g for page in elasticache.get_paginator("describe_replication_groups").paginate() for g in page.get("ReplicationGroups", [])]
    except Exception as exc:
        if _error_code(exc) in ACCESS_DENIED_CODES:
            return Check("elasticache", host, Status.SKIPPED, f"no permission to describe replication groups ({_error_code(exc)})")
        return Check("elasticache", host, Status.SKIPPED, f"could not describe replication groups: {_aws_reason(exc)}")
    group = next((g for g in groups if host.lower() in _endpoints(g)), None)
    if group is None:
        return Check("elasticache", host, Status.SKIPPED, f"no replication group in this account and region has the endpoint {host}")
    subject = group["ReplicationGroupId"]
    missing = [label for label, ok in (("in-transit encryption (TLS)", group.get("TransitEncryptionEnabled")), ("at-rest encryption", group.get("AtRestEncryptionEnabled"))) if not ok]
    if not group.get("AuthTokenEnabled") and not group.get("UserGroupIds"):
        missing.append("AUTH (no auth token and no RBAC user group)")
    if missing:
        return Check("elasticache", subject, Status.FAIL, "not enabled: " + ", ".join(missing))
    auth = "AUTH token" if group.get("AuthTokenEnabled") else "RBAC users"
    return Check("elasticache", subject, Status.PASS, f"TLS in transit, encrypted at rest, {auth}")


# ---------------------------------------------------------------- running them


def _aws_check(name: str, subject: str, run: Callable[[], Check | list[Check]]) -> list[Check]:
    """Run an AWS-side check; an AWS error fails it with what AWS said."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        result = run()
    except (BotoCoreError, ClientError) as exc:
        return [Check(name, subject, Status.FAIL, _aws_reason(exc))]
    except AwsError as exc:  # the client could not be made (no region, unknown profile)
        return [Check(name, subject, Status.FAIL, str(exc))]
    return result if isinstance(result, list) else [result]


def run_checks(spec: Spec, env: Environment, client_factory: ClientFactory, *, environ: Mapping[str, str], now: datetime | None = None) -> list[Check]:
    """Every check, in order; Redis-side checks are skipped with the reason when an earlier one failed."""
    now = now or datetime.now(timezone.utc)
    checks: list[Check] = []
    try:
        settings = resolve_settings(env, spec.collector, environ)
    except ConfigError as exc:
        settings = None
        checks.append(Check("redis settings", env.redis.name, Status.FAIL, str(exc)))
    if settings is not None:
        provider = TokenProvider(settings.token, lambda: client_factory("secretsmanager"))
        secret = check_secret(settings, provider)
        checks.append(secret)
        if secret.status is Status.FAIL:
            checks.append(Check("redis", f"{settings.host}:{settings.port}", Status.SKIPPED, "needs the token from the secret, which could not be read"))
            client = None
        else:
            redis_check, client = check_redis(settings, provider.get())
            checks.append(redis_check)
        if client is None:
            checks.append(Check("queue keys", f"{len(queue_keys(spec))} keys", Status.SKIPPED, "Redis is not reachable"))
        else:
            try:
                checks.extend(check_queue_keys(client, spec))
            except Exception as exc:  # redis.RedisError, or a socket error mid-way
                token = provider.get()
                checks.append(Check("queue keys", f"{len(queue_keys(spec))} keys", Status.FAIL, scrub(f"{type(exc).__name__}: {exc}", token)[:300]))
            finally:
                client.close()
    target = settings.target if settings is not None else env.redis.name
    checks += _aws_check("collector running", target, lambda: check_collector(client_factory("cloudwatch"), spec, env, target, now=now))
    checks += _aws_check("alarm", f"{spec.name_prefix}-{env.name}-*", lambda: check_alarms(client_factory("cloudwatch"), spec, env))
    checks += _aws_check("dashboard", naming.dashboard_name(spec.name_prefix, env.name), lambda: check_dashboard(client_factory("cloudwatch"), spec, env))
    host = settings.host if settings is not None else env.redis.host
    checks += _aws_check("elasticache", host, lambda: check_elasticache(client_factory("elasticache"), host))
    return checks


def exit_status(checks: Iterable[Check]) -> ExitStatus:
    return ExitStatus.CHECK_FAILED if any(c.status is Status.FAIL for c in checks) else ExitStatus.SUCCESS


def _counts(checks: Sequence[Check]) -> dict[str, int]:
    return {status.value: sum(1 for c in checks if c.status is status) for status in Status}


def render_table(checks: Sequence[Check], *, spec: Spec, env: Environment) -> str:
    """A plain-text table: CHECK, SUBJECT, RESULT, DETAIL, then one summary line."""
    header = ("CHECK", "SUBJECT", "RESULT", "DETAIL")
    rows = [header] + [(c.name, c.subject, c.status.value.upper(), c.detail) for c in checks]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"verify {spec.name_prefix} / {env.name} ({spec.path})"]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    counts = _counts(checks)
    lines.append(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skipped']} skipped")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def report_json(checks: Sequence[Check], *, spec: Spec, env: Environment) -> dict:
    return {
        "format_version": JSON_FORMAT_VERSION,
        "spec": spec.path,
        "environment": env.name,
        "ok": exit_status(checks) is ExitStatus.SUCCESS,
        "counts": _counts(checks),
        "checks": [{"check": c.name, "subject": c.subject, "status": c.status.value, "detail": c.detail} for c in checks],
    }


def run(
    spec: Spec,
    env: Environment,
    client_factory: ClientFactory,
    *,
    environ: Mapping[str, str],
    output: str = "table",
    stream: TextIO | None = None,
) -> ExitStatus:
    """Run the checks, print the report, and return CHECK_FAILED if any check failed."""
    import json

    stream = stream or sys.stdout
    checks = run_checks(spec, env, client_factory, environ=environ)
    if output == "json":
        stream.write(json.dumps(report_json(checks, spec=spec, env=env), indent=2) + "\n")
    else:
        stream.write(render_table(checks, spec=spec, env=env))
    return exit_status(checks)
