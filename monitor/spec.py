"""The spec (alarms.yaml): its declared shape, its validation, and the typed objects it becomes.

`load_spec` is the only way in: it reads the file safely, checks it against SPEC_SCHEMA (the same
declaration that `provision-alarms schema` prints as JSON Schema), runs the CloudWatch and
consistency rules, and either returns a frozen `Spec` or raises SpecError with every problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from monitor import naming
from monitor.errors import SpecError, UsageError
from monitor.kinds import (
    COMPARISON_SPELLINGS,
    DELAYED_KINDS,
    PERCENTILE_PATTERN,
    QUEUE_KINDS,
    STATISTICS,
    STREAM_KINDS,
    TARGET_KINDS,
    AlarmKind,
    Comparison,
    Severity,
    TreatMissingData,
)
from monitor.queue_types import DelayedSource, ScoreUnit, StreamSource
from monitor.reader import OldestEnd, QueueSource, TimestampFormat
from monitor.schema import Bool, Field, ListOf, Num, Obj, Str, check
from monitor.yamlload import Document, LoadError, Problem, format_path, load_document

DEFAULT_SPEC_PATH = "alarms.yaml"
SCHEMA_FILE_NAME = "alarms.schema.json"
SPEC_VERSION = 1

# CloudWatch PutMetricAlarm rules (botocore does not check them client-side).
HIGH_RESOLUTION_PERIODS = (10, 20, 30)
MAX_EVALUATION_SECONDS = 7 * 24 * 3600  # Period x EvaluationPeriods
MAX_EVALUATION_SECONDS_SHORT = 24 * 3600  # ... when Period < 3600
MAX_ACTIONS_PER_STATE = 5
MAX_ALARM_TAGS = 50
MAX_DESCRIPTION = 1024  # AlarmDescription

# Built-in values for a tier field that neither the defaults nor the queue sets.
DEFAULT_PERIOD = 60
DEFAULT_EVALUATION_PERIODS = 1

_SLUG = r"[a-z][a-z0-9-]*"
_TIER = r"[a-z][a-z0-9_-]*"
_URL = r"https?://\S+"
_SNS_ARN = r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?"
_LAMBDA_ARN = r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?"
_SECRET_ARN = r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+"
_ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NAMESPACE = r"(?!AWS/)[A-Za-z0-9 ._/#:-]+"


def _tier_schema() -> Obj:
    return Obj(
        title="alarm_tier",
        doc="One alarm tier. Fields left out come from `defaults.alarms` (same kind and tier), then the built-in defaults.",
        fields={
            "severity": Field(Str(enum=tuple(s.value for s in Severity), doc="Picks the notification targets. Defaults to the tier name when that is a severity.")),
            "threshold": Field(Num(doc="The value compared with the statistic of each period.")),
            "comparison": Field(Str(enum=COMPARISON_SPELLINGS, doc="How the statistic is compared with the threshold (>, >=, <, <= or the CloudWatch names).")),
            "statistic": Field(
                Str(
                    pattern="|".join(STATISTICS) + "|" + PERCENTILE_PATTERN,
                    pattern_hint="one of " + ", ".join(STATISTICS) + " or a percentile such as p99",
                    doc="How each period's samples are reduced to one datapoint.",
                )
            ),
            "period": Field(Num(integer=True, minimum=10, doc="Seconds per datapoint: 10, 20, 30 (high resolution) or a multiple of 60.")),
            "evaluation_periods": Field(Num(integer=True, minimum=1, doc="N: how many recent periods are looked at.")),
            "datapoints_to_alarm": Field(Num(integer=True, minimum=1, doc="M: how many of the N periods must breach (default N).")),
            "treat_missing_data": Field(Str(enum=tuple(t.value for t in TreatMissingData), doc="What a period without data counts as.")),
            "enabled": Field(Bool(doc="false removes this tier (for one queue, or everywhere when set in defaults).")),
            "runbook": Field(Str(pattern=_URL, pattern_hint="an http(s) URL", doc="Runbook link, written into the alarm description.")),
            "description": Field(Str(max_length=400, doc="Extra words for the alarm description.")),
        },
    )


def _tiers_schema(kind: AlarmKind) -> Obj:
    return Obj(
        doc=f"Tiers of the {kind.value} alarm, by tier name (e.g. critical, warning): {kind.info.meaning}.",
        keys=Str(pattern=_TIER, pattern_hint="a tier name such as critical or warning (lower case, digits, - and _)"),
        values=_tier_schema(),
    )


def _alarms_schema(kinds) -> Obj:
    return Obj(fields={kind.value: Field(_tiers_schema(kind)) for kind in kinds})


_QUEUE_READ_FIELDS = {
    "oldest_end": Field(Str(enum=tuple(e.value for e in OldestEnd), doc="Which end holds the oldest message: tail (index -1; LPUSH producers) or head.")),
    "timestamp_field": Field(Str(pattern=r"[^.\s]+(\.[^.\s]+)*", pattern_hint="a dotted path such as timestamp or payload.created_at", doc="Where the enqueue time lives in a JSON message.")),
    "timestamp_format": Field(Str(enum=tuple(f.value for f in TimestampFormat), doc="iso8601 (no zone means UTC), epoch_seconds, epoch_millis or auto.")),
}

_RUNBOOKS = Obj(
    doc="A runbook URL per alarm kind.",
    fields={kind.value: Field(Str(pattern=_URL, pattern_hint="an http(s) URL")) for kind in AlarmKind},
)

_QUEUE = Obj(
    doc="A Redis list used as a job queue.",
    fields={
        "key": Field(Str(doc="The Redis key of the list."), required=True),
        "name": Field(Str(pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]*", pattern_hint="letters, digits, '.', '_' and '-'", max_length=100, doc="Short name used in alarm names (default: the key with ':' turned into '-').")),
        "description": Field(Str(max_length=300)),
        "processing": Field(Str(doc="The processing (in-flight) list, where consumers move messages they work on."), nullable=True),
        "dead_letter": Field(Str(doc="The dead-letter list."), nullable=True),
        **_QUEUE_READ_FIELDS,
        "target": Field(Str(pattern=_SLUG, pattern_hint="a Redis target name of the environments", doc="Which Redis target holds it (default: the environment's first).")),
        "alarms": Field(_alarms_schema(QUEUE_KINDS)),
        "runbooks": Field(_RUNBOOKS),
    },
)

_STREAM = Obj(
    doc="A Redis stream used as a job queue, read by consumer groups.",
    fields={
        "key": Field(Str(doc="The Redis key of the stream."), required=True),
        "name": Field(_QUEUE.fields["name"].node),
        "description": Field(Str(max_length=300)),
        "groups": Field(
            ListOf(
                Str(max_length=200, doc="A consumer group name."),
                doc="The consumer groups to measure and alarm on. Left out: every group is measured, none gets alarms.",
            )
        ),
        "alarms": Field(_alarms_schema(STREAM_KINDS)),
        "runbooks": Field(_RUNBOOKS),
    },
)

_DELAYED = Obj(
    doc="A Redis sorted set of delayed jobs, scored by due time; a scheduler moves due jobs to a work queue.",
    fields={
        "key": Field(Str(doc="The Redis key of the sorted set."), required=True),
        "name": Field(_QUEUE.fields["name"].node),
        "description": Field(Str(max_length=300)),
        "score_unit": Field(Str(enum=tuple(u.value for u in ScoreUnit), doc="What a score is: the due time in epoch seconds (default) or milliseconds.")),
        "grace_seconds": Field(Num(minimum=0, maximum=86400, doc="A job counts as overdue once due longer ago than this (default 0).")),
        "alarms": Field(_alarms_schema(DELAYED_KINDS)),
        "runbooks": Field(_RUNBOOKS),
    },
)

_PATTERN = Obj(
    doc="Queues discovered at collection time by a key pattern (SCAN MATCH, lists only).",
    fields={
        "pattern": Field(Str(pattern=r".*[*?\[].*", pattern_hint="a glob pattern with *, ? or [...] such as tenant:*:jobs"), required=True),
        "processing": Field(Str(pattern=r".*\{key\}.*", pattern_hint="a template containing {key}, e.g. {key}:processing"), nullable=True),
        "dead_letter": Field(Str(pattern=r".*\{key\}.*", pattern_hint="a template containing {key}, e.g. {key}:dlq"), nullable=True),
        **_QUEUE_READ_FIELDS,
        "max_keys": Field(Num(integer=True, minimum=1, maximum=10_000, doc="At most this many discovered keys get metrics of their own.")),
        "target": Field(Str(pattern=_SLUG, pattern_hint="a Redis target name of the environments", doc="Which Redis target to scan (default: the environment's first).")),
    },
)

_NOTIFY = Obj(
    doc="Actions per alarm state (at most 5 each): SNS topic or Lambda function ARNs.",
    fields={
        state: Field(
            ListOf(
                Str(pattern=f"{_SNS_ARN}|{_LAMBDA_ARN}", pattern_hint="an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME) or a Lambda function ARN"),
                max_items=MAX_ACTIONS_PER_STATE,
            )
        )
        for state in ("alarm", "ok", "insufficient_data")
    },
)

_AUTH = Obj(
    doc="Where the Redis AUTH token (password) comes from; never the token itself.",
    fields={
        "secret_arn": Field(Str(pattern=_SECRET_ARN, pattern_hint="a Secrets Manager secret ARN")),
        "secret_json_key": Field(Str(doc="When the secret is JSON, the key that holds the token.")),
        "env": Field(Str(pattern=_ENV_NAME, pattern_hint="an environment variable name")),
    },
)

_REDIS = Obj(
    doc="The Redis target of an environment.",
    fields={
        "name": Field(Str(pattern=_SLUG, pattern_hint="lower case letters, digits and '-'", doc="Target name used in metric dimensions and alarm names (default: primary).")),
        "host": Field(Str(), required=True),
        "port": Field(Num(integer=True, minimum=1, maximum=65535)),
        "db": Field(Num(integer=True, minimum=0, maximum=15)),
        "tls": Field(Bool(doc="Use TLS (ElastiCache in-transit encryption); certificates are verified.")),
        "ca_bundle": Field(Str(doc="Path of a CA bundle to verify the server certificate."), nullable=True),
        "username": Field(Str(doc="ACL (RBAC) user name."), nullable=True),
        "auth_token": Field(_AUTH, nullable=True),
        "cluster": Field(Bool(doc="Redis Cluster (cluster mode enabled): host is the configuration endpoint; every primary is read.")),
    },
)
_REDIS_TARGETS = ListOf(
    Obj(doc="One of several Redis targets of an environment.", fields={**_REDIS.fields, "name": Field(_REDIS.fields["name"].node, required=True)}),
    min_items=1,
    doc="Several Redis targets; queues and patterns pick theirs with 'target'.",
)

_ENVIRONMENT = Obj(
    doc="One deployment environment.",
    fields={
        "description": Field(Str(max_length=300)),
        "region": Field(Str(pattern=r"[a-z]{2}(-[a-z]+)+-\d", pattern_hint="an AWS region such as us-east-1")),
        "redis": Field(_REDIS),
        "redis_targets": Field(_REDIS_TARGETS),
        "notifications": Field(Obj(doc="Notification targets per severity.", fields={s.value: Field(_NOTIFY) for s in Severity})),
    },
)

_COLLECTOR = Obj(
    doc="How the collector Lambda runs.",
    fields={
        "function_name": Field(Str(pattern=r"[A-Za-z0-9_-]{1,64}", pattern_hint="a Lambda function name")),
        "schedule": Field(Str(pattern=r"rate\(\d+ (minute|minutes|hour|hours)\)|cron\(.+\)", pattern_hint="an EventBridge expression such as rate(1 minute)")),
        "publish": Field(Str(enum=("put_metric_data", "emf"), doc="put_metric_data calls the API; emf writes Embedded Metric Format log lines.")),
        "storage_resolution": Field(Num(integer=True, minimum=1, maximum=60, doc="1 (high resolution) or 60.")),
        "connect_timeout_seconds": Field(Num(exclusive_minimum=0, maximum=30)),
        "read_timeout_seconds": Field(Num(exclusive_minimum=0, maximum=30)),
        "discovery": Field(
            Obj(
                fields={
                    "scan_count": Field(Num(integer=True, minimum=10, maximum=100_000, doc="COUNT per SCAN call.")),
                    "max_keys": Field(Num(integer=True, minimum=1, maximum=10_000, doc="Per-key metrics per pattern at most (cost guard).")),
                    "time_budget_seconds": Field(Num(exclusive_minimum=0, maximum=60)),
                }
            )
        ),
    },
)

SPEC_SCHEMA = Obj(
    title="root",
    doc="Redis queue alarms: the queues, their Redis targets per environment, and their CloudWatch alarms.",
    fields={
        "version": Field(Num(integer=True, minimum=SPEC_VERSION, maximum=SPEC_VERSION, doc="Spec format version."), required=True),
        "namespace": Field(Str(pattern=_NAMESPACE, pattern_hint="a CloudWatch namespace not starting with AWS/", max_length=255), required=True),
        "name_prefix": Field(Str(pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]*", pattern_hint="letters, digits, '.', '_' and '-'", max_length=60), required=True),
        "tags": Field(
            Obj(
                doc="Tags put on every alarm.",
                keys=Str(pattern=r"(?!aws:)[\w.:/=+@ -]{1,128}", pattern_hint="a tag key (1-128 characters, not starting with aws:)"),
                values=Str(pattern=r"[\w.:/=+@ -]{0,256}", pattern_hint="a tag value (at most 256 characters)", min_length=0),
            )
        ),
        "collector": Field(_COLLECTOR),
        "runbooks": Field(_RUNBOOKS),
        "defaults": Field(
            Obj(
                doc="Defaults for every queue.",
                fields={"queue": Field(Obj(fields=dict(_QUEUE_READ_FIELDS))), "alarms": Field(_alarms_schema(QUEUE_KINDS + STREAM_KINDS + DELAYED_KINDS))},
            )
        ),
        "target_alarms": Field(_alarms_schema(TARGET_KINDS)),
        "environments": Field(
            Obj(keys=Str(pattern=_SLUG, pattern_hint="an environment name (lower case letters, digits and '-')", max_length=40), values=_ENVIRONMENT),
            required=True,
        ),
        "queues": Field(ListOf(_QUEUE)),
        "patterns": Field(ListOf(_PATTERN)),
        "streams": Field(ListOf(_STREAM)),
        "delayed": Field(ListOf(_DELAYED)),
    },
)


_ENV_REF_SCHEMA = {"type": "string", "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}"}


def _allow_env_refs(node):
    """Let every scalar also be a ${VAR} reference, which is resolved before validation."""
    if isinstance(node, list):
        return [_allow_env_refs(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {name: _allow_env_refs(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "anyOf"):
            out[key] = _allow_env_refs(value)
        else:
            out[key] = value
    if out.get("type") in ("string", "integer", "number", "boolean"):
        description = out.pop("description", None)
        out = {"anyOf": [out, _ENV_REF_SCHEMA]}
        if description:
            out["description"] = description
    return out


def _share_repeated(node, defs: dict):
    """Move each titled sub-schema to $defs once and refer to it, so the file stays small."""
    if isinstance(node, list):
        return [_share_repeated(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _share_repeated(v, defs) for k, v in node.items()}
    title = out.get("title")
    if title and title != "root":
        defs[title] = out
        return {"$ref": f"#/$defs/{title}"}
    if title == "root":
        out.pop("title")
        out["$defs"] = dict(sorted(defs.items()))
    return out


def json_schema() -> dict:
    """The JSON Schema of alarms.yaml, for editors (yaml-language-server)."""
    schema = _share_repeated(_allow_env_refs(SPEC_SCHEMA.json_schema()), {})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "provision-alarms spec (alarms.yaml)",
        **schema,
    }


# ---------------------------------------------------------------- typed objects


@dataclass(frozen=True)
class AuthToken:
    secret_arn: str | None = None
    secret_json_key: str | None = None
    env: str | None = None


@dataclass(frozen=True)
class RedisTarget:
    name: str
    host: str
    port: int = 6379
    db: int = 0
    tls: bool = True
    ca_bundle: str | None = None
    username: str | None = None
    auth_token: AuthToken | None = None
    cluster: bool = False


@dataclass(frozen=True)
class Notifications:
    alarm: tuple[str, ...] = ()
    ok: tuple[str, ...] = ()
    insufficient_data: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environment:
    name: str
    redis: RedisTarget
    notifications: Mapping[Severity, Notifications]
    region: str | None = None
    description: str = ""
    targets: tuple[RedisTarget, ...] = ()  # every target, `redis` first; () means just `redis`

    def __post_init__(self):
        if not self.targets:
            object.__setattr__(self, "targets", (self.redis,))

    def actions(self, severity: Severity) -> Notifications:
        return self.notifications.get(severity, Notifications())

    def target(self, name: str | None) -> RedisTarget:
        """The named target, or the first one for None (queues that name no target)."""
        if name is None:
            return self.targets[0]
        for target in self.targets:
            if target.name == name:
                return target
        raise UsageError(f"environment '{self.name}' has no Redis target '{name}'; it has: {', '.join(t.name for t in self.targets)}")


@dataclass(frozen=True)
class AlarmRule:
    """One alarm tier after merging defaults and overrides: everything needed to render it."""

    kind: AlarmKind
    tier: str
    severity: Severity
    threshold: float
    comparison: Comparison
    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing_data: TreatMissingData
    runbook: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Queue:
    key: str
    name: str
    source: QueueSource
    alarms: tuple[AlarmRule, ...] = ()
    description: str = ""
    target: str | None = None  # the Redis target's name; None: the environment's first

    @property
    def processing(self) -> str | None:
        return self.source.processing_key

    @property
    def dead_letter(self) -> str | None:
        return self.source.dead_letter_key


@dataclass(frozen=True)
class Stream:
    """A stream; its alarms are rendered once per listed consumer group."""

    key: str
    name: str
    groups: tuple[str, ...]  # () = every group is measured, none gets alarms
    alarms: tuple[AlarmRule, ...] = ()
    description: str = ""

    @property
    def source(self) -> StreamSource:
        return StreamSource(self.key, self.groups)


@dataclass(frozen=True)
class DelayedQueue:
    """A sorted set of delayed jobs scored by due time."""

    key: str
    name: str
    source: DelayedSource
    alarms: tuple[AlarmRule, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Pattern:
    pattern: str
    processing: str | None
    dead_letter: str | None
    oldest_end: OldestEnd
    timestamp_field: str
    timestamp_format: TimestampFormat
    max_keys: int
    target: str | None = None  # the Redis target's name; None: the environment's first

    def source(self, key: str) -> QueueSource:
        """What to read for one key this pattern discovered."""
        return QueueSource(
            key=key,
            processing_key=self.processing.replace("{key}", key) if self.processing else None,
            dead_letter_key=self.dead_letter.replace("{key}", key) if self.dead_letter else None,
            oldest_end=self.oldest_end,
            timestamp_field=self.timestamp_field,
            timestamp_format=self.timestamp_format,
        )


@dataclass(frozen=True)
class Discovery:
    scan_count: int = 1000
    max_keys: int = 100
    time_budget_seconds: float = 5.0


@dataclass(frozen=True)
class Collector:
    function_name: str = "redis-queue-metrics"
    schedule: str = "rate(1 minute)"
    publish: str = "put_metric_data"
    storage_resolution: int = 60
    connect_timeout_seconds: float = 3.0
    read_timeout_seconds: float = 3.0
    discovery: Discovery = Discovery()


@dataclass(frozen=True)
class Spec:
    path: str
    namespace: str
    name_prefix: str
    tags: Mapping[str, str]
    collector: Collector
    environments: Mapping[str, Environment]
    queues: tuple[Queue, ...]
    patterns: tuple[Pattern, ...]
    target_alarms: tuple[AlarmRule, ...]
    warnings: tuple[Problem, ...] = field(default=(), compare=False)
    streams: tuple[Stream, ...] = ()
    delayed: tuple[DelayedQueue, ...] = ()

    def environment(self, name: str | None) -> Environment:
        """The named environment (or the only one); a clear error listing the choices otherwise."""
        if name is None:  # the first environment in the file
            return next(iter(self.environments.values()))
        try:
            return self.environments[name]
        except KeyError:
            raise UsageError(f"{self.path}: no environment '{name}'; the spec has: {', '.join(self.environments)}") from None


# ---------------------------------------------------------------- loading


def load_spec(path: str = DEFAULT_SPEC_PATH, *, env: str | None = None, environ: Mapping[str, str] | None = None) -> Spec:
    """Read, validate and build the spec; raise SpecError with every problem found."""
    try:
        doc = load_document(path, os.environ if environ is None else environ)
    except LoadError as exc:
        raise SpecError(exc.problems) from None
    problems = list(doc.problems)
    # A value whose ${VAR} is unset is reported as exactly that, not also as a wrong type.
    unresolved = {format_path(p) for p in doc.unset_vars}
    problems += [p for p in check(SPEC_SCHEMA, doc) if p.path not in unresolved]
    if env is not None and isinstance(doc.data, dict):
        envs = doc.data.get("environments")
        if isinstance(envs, dict) and env not in envs:
            problems.append(doc.problem(("environments",), f"no environment '{env}' (--env); the spec has: {', '.join(map(str, envs)) or 'none'}"))
    for var_path, name in doc.unset_vars.items():
        if env is not None and len(var_path) > 1 and var_path[0] == "environments" and var_path[1] != env:
            continue  # another environment's variables need not be set to use this one
        problems.append(
            doc.problem(var_path, f"environment variable {name} is not set and has no default (write ${{{name}:-value}} to give one)")
        )
    builder = _SpecBuilder(doc, problems)
    spec = builder.build()
    if builder.problems:
        raise SpecError(sorted(builder.problems, key=lambda p: (p.line, p.column)))
    return spec


class _SpecBuilder:
    """Builds typed objects from a document, skipping parts that already have problems."""

    def __init__(self, doc: Document, problems: list[Problem]):
        self.doc = doc
        self.problems = problems
        self.warnings: list[Problem] = []
        self._bad = {p.path for p in problems}

    def ok(self, path: tuple) -> bool:
        prefix = format_path(path)
        if not path:
            return not self._bad
        return not any(b == prefix or b.startswith(prefix + ".") or b.startswith(prefix + "[") for b in self._bad)

    def error(self, path: tuple, message: str, *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, key=key))

    def build(self) -> Spec | None:
        data = self.doc.data if isinstance(self.doc.data, dict) else {}
        collector = self._collector(data.get("collector") or {}) if self.ok(("collector",)) else Collector()
        runbooks = data.get("runbooks") or {}
        defaults = data.get("defaults") or {}
        default_alarms = defaults.get("alarms") or {} if isinstance(defaults, dict) else {}
        queue_defaults = defaults.get("queue") or {} if isinstance(defaults, dict) else {}
        queues = self._queues(data.get("queues") or [], queue_defaults, default_alarms, runbooks, collector)
        patterns = self._patterns(data.get("patterns") or [], queue_defaults, collector)
        streams = self._streams(data.get("streams") or [], default_alarms, runbooks, collector)
        delayed = self._delayed(data.get("delayed") or [], default_alarms, runbooks, collector)
        target_alarms = tuple(
            self._rules(("target_alarms",), {}, data.get("target_alarms") or {}, TARGET_KINDS, runbooks, collector, needs=lambda _: True)
        )
        environments = self._environments(data.get("environments") or {})
        self._check_tags(data.get("tags") or {})
        self._check_targets(data, queues, patterns, environments)
        if self.ok(()) and isinstance(self.doc.data, dict):
            self._check_names(data, queues, target_alarms, environments)
            self._check_typed_names(data, queues, streams, delayed, environments)
        if self.problems:
            return None
        return Spec(
            path=self.doc.file,
            namespace=data["namespace"],
            name_prefix=data["name_prefix"],
            tags=dict(data.get("tags") or {}),
            collector=collector,
            environments=environments,
            queues=tuple(queues),
            patterns=tuple(patterns),
            target_alarms=target_alarms,
            warnings=tuple(self.warnings),
            streams=tuple(streams),
            delayed=tuple(delayed),
        )

    def _collector(self, raw: dict) -> Collector:
        disc = raw.get("discovery") or {}
        base = Collector()
        collector = Collector(
            function_name=raw.get("function_name", base.function_name),
            schedule=raw.get("schedule", base.schedule),
            publish=raw.get("publish", base.publish),
            storage_resolution=raw.get("storage_resolution", base.storage_resolution),
            connect_timeout_seconds=raw.get("connect_timeout_seconds", base.connect_timeout_seconds),
            read_timeout_seconds=raw.get("read_timeout_seconds", base.read_timeout_seconds),
            discovery=Discovery(
                scan_count=disc.get("scan_count", base.discovery.scan_count),
                max_keys=disc.get("max_keys", base.discovery.max_keys),
                time_budget_seconds=disc.get("time_budget_seconds", base.discovery.time_budget_seconds),
            ),
        )
        if collector.storage_resolution not in (1, 60):
            self.error(("collector", "storage_resolution"), f"found {collector.storage_resolution}; expected 1 (high resolution) or 60")
        return collector

    def _read_fields(self, raw: dict, queue_defaults: dict) -> dict:
        def pick(name: str, default: str) -> str:
            return raw.get(name, queue_defaults.get(name, default))

        return {
            "oldest_end": OldestEnd(pick("oldest_end", OldestEnd.TAIL.value)),
            "timestamp_field": pick("timestamp_field", "timestamp"),
            "timestamp_format": TimestampFormat(pick("timestamp_format", TimestampFormat.AUTO.value)),
        }

    def _queues(self, raw_queues, queue_defaults, default_alarms, runbooks, collector) -> list[Queue]:
        if not self.ok(("defaults",)) or not isinstance(raw_queues, list):
            return []
        queues: list[Queue] = []
        seen_keys: dict[str, int] = {}
        for index, raw in enumerate(raw_queues):
            path = ("queues", index)
            if not isinstance(raw, dict) or not isinstance(raw.get("key"), str):
                continue
            key = raw["key"]
            if key in seen_keys:
                self.error(path + ("key",), f"queue '{key}' is declared twice (first at queues[{seen_keys[key]}]); each queue once")
                continue
            seen_keys[key] = index
            if not self.ok(path):
                if self.ok(path + ("alarms",)) and isinstance(raw.get("alarms"), dict):
                    # Elsewhere broken, but its alarm tiers can still be checked: report all in one run.
                    self._rules(path + ("alarms",), default_alarms, raw["alarms"], QUEUE_KINDS, runbooks, collector, lambda kind: True)
                continue
            for role in ("processing", "dead_letter"):
                if raw.get(role) == key:
                    self.error(path + (role,), f"the {role} list cannot be the queue itself ('{key}')")
            source = QueueSource(
                key=key, processing_key=raw.get("processing"), dead_letter_key=raw.get("dead_letter"), **self._read_fields(raw, queue_defaults)
            )
            queue_runbooks = {**runbooks, **(raw.get("runbooks") or {})}

            def needs(kind: AlarmKind, raw=raw) -> bool:
                return kind.info.needs is None or bool(raw.get(kind.info.needs))

            rules = self._rules(path + ("alarms",), default_alarms, raw.get("alarms") or {}, QUEUE_KINDS, queue_runbooks, collector, needs)
            queues.append(
                Queue(
                    key=key,
                    name=raw.get("name") or naming.slug(key),
                    source=source,
                    alarms=tuple(rules),
                    description=raw.get("description", ""),
                    target=raw.get("target"),
                )
            )
        return queues

    def _streams(self, raw_streams, default_alarms, runbooks, collector) -> list[Stream]:
        streams: list[Stream] = []
        if not isinstance(raw_streams, list) or not self.ok(("defaults",)):
            return streams
        seen: set[str] = set()
        for index, raw in enumerate(raw_streams):
            path = ("streams", index)
            if not self.ok(path) or not self._first(path, raw["key"], seen):
                continue
            groups = tuple(raw.get("groups") or ())
            for position, group in enumerate(groups):
                if group in groups[:position]:
                    self.error(path + ("groups", position), f"consumer group '{group}' is listed twice; list each group once")
            own_runbooks = {**runbooks, **(raw.get("runbooks") or {})}
            rules = self._rules(path + ("alarms",), default_alarms, raw.get("alarms") or {}, STREAM_KINDS, own_runbooks, collector, lambda _: bool(groups))
            if not groups and any(default_alarms.get(k.value) for k in STREAM_KINDS):
                self.warnings.append(
                    self.doc.problem(path, f"stream '{raw['key']}' lists no consumer groups: its groups are measured but get no alarms (list them under 'groups')")
                )
            streams.append(
                Stream(key=raw["key"], name=raw.get("name") or naming.slug(raw["key"]), groups=groups, alarms=tuple(rules), description=raw.get("description", ""))
            )
        return streams

    def _delayed(self, raw_delayed, default_alarms, runbooks, collector) -> list[DelayedQueue]:
        delayed: list[DelayedQueue] = []
        if not isinstance(raw_delayed, list) or not self.ok(("defaults",)):
            return delayed
        seen: set[str] = set()
        for index, raw in enumerate(raw_delayed):
            path = ("delayed", index)
            if not self.ok(path) or not self._first(path, raw["key"], seen):
                continue
            source = DelayedSource(raw["key"], ScoreUnit(raw.get("score_unit", ScoreUnit.SECONDS.value)), float(raw.get("grace_seconds", 0)))
            own_runbooks = {**runbooks, **(raw.get("runbooks") or {})}
            rules = self._rules(path + ("alarms",), default_alarms, raw.get("alarms") or {}, DELAYED_KINDS, own_runbooks, collector, lambda _: True)
            delayed.append(
                DelayedQueue(key=raw["key"], name=raw.get("name") or naming.slug(raw["key"]), source=source, alarms=tuple(rules), description=raw.get("description", ""))
            )
        return delayed

    def _first(self, path: tuple, key: str, seen: set[str]) -> bool:
        """False (and an error) when this section already declared the key."""
        if key in seen:
            self.error(path + ("key",), f"'{key}' is declared twice in {path[0]}; each key once")
            return False
        seen.add(key)
        return True

    def _patterns(self, raw_patterns, queue_defaults, collector) -> list[Pattern]:
        patterns = []
        if not isinstance(raw_patterns, list) or not self.ok(("defaults",)):
            return patterns
        for index, raw in enumerate(raw_patterns):
            if not self.ok(("patterns", index)):
                continue
            fields = self._read_fields(raw, queue_defaults)
            patterns.append(
                Pattern(
                    pattern=raw["pattern"],
                    processing=raw.get("processing"),
                    dead_letter=raw.get("dead_letter"),
                    max_keys=raw.get("max_keys", collector.discovery.max_keys),
                    **fields,
                    target=raw.get("target"),
                )
            )
        return patterns

    def _rules(self, path, defaults: dict, overrides: dict, kinds, runbooks: dict, collector: Collector, needs) -> list[AlarmRule]:
        """Merge default tiers with this queue's overrides, field by field, and check each result."""
        rules: list[AlarmRule] = []
        for kind in kinds:
            base = defaults.get(kind.value) or {}
            own = overrides.get(kind.value) or {}
            if own and not needs(kind):
                self.error(path + (kind.value,), f"a {kind.value} alarm needs the queue's '{kind.info.needs}' list, which is not set")
                continue
            if not needs(kind):
                continue
            for tier in list(base) + [t for t in own if t not in base]:
                tier_path = path + (kind.value, tier) if tier in own else ("defaults", "alarms", kind.value, tier)
                if not self.ok(tier_path):
                    continue
                inherited = dict(base.get(tier) or {})
                if "evaluation_periods" in (own.get(tier) or {}):
                    # A new N resets M to "all N" unless the override says otherwise: an M
                    # inherited from a different N is almost never what was meant.
                    inherited.pop("datapoints_to_alarm", None)
                merged = {**inherited, **(own.get(tier) or {})}
                if merged.get("enabled", True) is False:
                    continue
                rule = self._rule(kind, tier, merged, tier_path, runbooks, collector)
                if rule is not None:
                    rules.append(rule)
        return rules

    def _rule(self, kind: AlarmKind, tier: str, raw: dict, path, runbooks: dict, collector: Collector) -> AlarmRule | None:
        info = kind.info
        before = len(self.problems)
        severity = raw.get("severity", tier)
        if severity not in {s.value for s in Severity}:
            self.error(path, f"tier '{tier}' is not a severity name, so it needs 'severity: critical|warning|info'")
            return None
        if "threshold" not in raw:
            self.error(path, f"missing 'threshold' for the {kind.value} alarm (set it here or in defaults.alarms.{kind.value}.{tier})")
            return None
        period = raw.get("period", DEFAULT_PERIOD)
        evaluation_periods = raw.get("evaluation_periods", DEFAULT_EVALUATION_PERIODS)
        datapoints = raw.get("datapoints_to_alarm", evaluation_periods)
        comparison = Comparison.parse(raw["comparison"]) if "comparison" in raw else info.comparison
        threshold = float(raw["threshold"])
        if period not in HIGH_RESOLUTION_PERIODS and period % 60:
            self.error(path + ("period",), f"found {period}; CloudWatch allows 10, 20, 30 or a multiple of 60 seconds")
        elif period in HIGH_RESOLUTION_PERIODS and collector.storage_resolution != 1:
            self.error(
                path + ("period",),
                f"a {period}-second period needs high-resolution metrics, but collector.storage_resolution is {collector.storage_resolution}: use 60 or more, or set storage_resolution: 1",
            )
        limit = MAX_EVALUATION_SECONDS_SHORT if period < 3600 else MAX_EVALUATION_SECONDS
        if period * evaluation_periods > limit:
            self.error(
                path + ("evaluation_periods",),
                f"period x evaluation_periods = {period * evaluation_periods}s; CloudWatch allows at most {limit}s ({'1 day' if limit == MAX_EVALUATION_SECONDS_SHORT else '7 days'}) for a {period}s period",
            )
        if datapoints > evaluation_periods:
            self.error(path + ("datapoints_to_alarm",), f"found {datapoints}; must be at most evaluation_periods ({evaluation_periods})")
        self._check_threshold(kind, comparison, threshold, path)
        runbook = raw.get("runbook") or runbooks.get(kind.value)
        if not runbook:
            self.warnings.append(self.doc.problem(path, f"no runbook for this {kind.value} alarm (set runbooks.{kind.value})"))
        if len(self.problems) > before:
            return None
        return AlarmRule(
            kind=kind,
            tier=tier,
            severity=Severity(severity),
            threshold=threshold,
            comparison=comparison,
            statistic=raw.get("statistic", info.statistic),
            period=period,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints,
            treat_missing_data=TreatMissingData(raw.get("treat_missing_data", info.treat_missing_data.value)),
            runbook=runbook,
            description=raw.get("description", ""),
        )

    def _check_threshold(self, kind: AlarmKind, comparison: Comparison, threshold: float, path) -> None:
        """Reject thresholds that make an alarm always or never fire for the kind's metric."""
        where = path + ("threshold",)
        upward = comparison in (Comparison.GT, Comparison.GE)
        if kind is AlarmKind.COLLECTOR_HEARTBEAT:
            if upward:
                self.error(path + ("comparison",), "a heartbeat alarm fires when runs are missing: use < or <=")
            elif (comparison is Comparison.LT and threshold <= 0) or threshold < 0:
                self.error(where, f"found {threshold:g}; the heartbeat count is never below that, so the alarm could never fire (use < 1)")
            return
        if not upward:
            self.error(path + ("comparison",), f"a {kind.value} alarm fires when the value grows: use > or >=")
            return
        if kind is AlarmKind.CONNECTION_FAILURE and not (
            (comparison is Comparison.GE and 0 < threshold <= 1) or (comparison is Comparison.GT and 0 <= threshold < 1)
        ):
            self.error(where, f"found {threshold:g}; the failure signal is 0 or 1, so use >= 1 (or > 0)")
            return
        if threshold < 0 or (comparison is Comparison.GE and threshold <= 0):
            self.error(where, f"found {comparison.symbol} {threshold:g}; a {kind.value} value is never negative, so the alarm would always fire")

    def _environments(self, raw_envs) -> dict[str, Environment]:
        environments: dict[str, Environment] = {}
        if not isinstance(raw_envs, dict):
            return environments
        for name, raw in raw_envs.items():
            path = ("environments", name)
            if not self.ok(path):
                continue
            raw_targets = ([("redis",), raw["redis"]],) if "redis" in raw else ()
            raw_targets += tuple([("redis_targets", i), t] for i, t in enumerate(raw.get("redis_targets") or ()))
            if not raw_targets:
                self.error(path, "missing 'redis' (one Redis target) or 'redis_targets' (several)")
                continue
            targets = [self._target(path + where, redis) for where, redis in raw_targets]
            if None in targets:
                continue
            names: dict[str, tuple] = {}
            for (where, _), target in zip(raw_targets, targets):
                if target.name in names:
                    self.error(path + where, f"Redis target '{target.name}' is named twice in this environment; give each a distinct 'name'")
                names.setdefault(target.name, where)
            notifications = {
                Severity(sev): Notifications(*(tuple(actions.get(state) or ()) for state in ("alarm", "ok", "insufficient_data")))
                for sev, actions in (raw.get("notifications") or {}).items()
            }
            environments[name] = Environment(
                name=name,
                redis=targets[0],
                notifications=notifications,
                region=raw.get("region"),
                description=raw.get("description", ""),
                targets=tuple(targets),
            )
        return environments

    def _target(self, path: tuple, redis: dict) -> RedisTarget | None:
        auth = redis.get("auth_token")
        token = None
        if auth is not None:
            sources = [k for k in ("secret_arn", "env") if auth.get(k)]
            if len(sources) != 1:
                self.error(path + ("auth_token",), "give exactly one of secret_arn or env")
                return None
            if auth.get("secret_json_key") and not auth.get("secret_arn"):
                self.error(path + ("auth_token", "secret_json_key"), "secret_json_key goes with secret_arn")
                return None
            token = AuthToken(auth.get("secret_arn"), auth.get("secret_json_key"), auth.get("env"))
        if redis.get("cluster") and redis.get("db", 0) != 0:
            self.error(path + ("db",), "a Redis Cluster has only database 0")
            return None
        return RedisTarget(
            name=redis.get("name", "primary"),
            host=redis["host"],
            port=redis.get("port", 6379),
            db=redis.get("db", 0),
            tls=redis.get("tls", True),
            ca_bundle=redis.get("ca_bundle"),
            username=redis.get("username"),
            auth_token=token,
            cluster=redis.get("cluster", False),
        )

    def _check_targets(self, data: dict, queues, patterns, environments) -> None:
        """Every target a queue or pattern names exists in every environment (each deploys them all)."""
        index_of = {q.get("key"): i for i, q in enumerate(data.get("queues") or [])}
        named = [(("queues", index_of[q.key], "target"), q.target) for q in queues if q.target]
        named += [(("patterns", i, "target"), p.target) for i, p in enumerate(patterns) if p.target]
        for path, target in named:
            missing = [e.name for e in environments.values() if target not in {t.name for t in e.targets}]
            for env in missing:
                have = ", ".join(t.name for t in environments[env].targets)
                self.error(path, f"no Redis target '{target}' in environment '{env}' (it has: {have})")

    def _check_tags(self, tags) -> None:
        if not isinstance(tags, dict):
            return
        for key in tags:
            if key in naming.RESERVED_TAG_KEYS:
                self.error(("tags", key), f"tag '{key}' is set by provision-alarms itself (ownership); choose another key", key=True)
        limit = MAX_ALARM_TAGS - len(naming.RESERVED_TAG_KEYS)
        if len(tags) > limit:
            self.error(("tags",), f"{len(tags)} tags; at most {limit} (CloudWatch allows {MAX_ALARM_TAGS} per alarm, {len(naming.RESERVED_TAG_KEYS)} are ours)")

    def _check_names(self, data, queues, target_alarms, environments) -> None:
        prefix = data["name_prefix"]
        index_of = {q.get("key"): i for i, q in enumerate(data.get("queues") or [])}
        seen: dict[str, str] = {}
        for queue in queues:
            path = ("queues", index_of[queue.key])
            if queue.name in seen:
                self.error(
                    path + ("name" if "name" in data["queues"][path[1]] else "key",),
                    f"queue name '{queue.name}' (used in alarm names) is also the name of queue '{seen[queue.name]}'; give one a distinct 'name'",
                )
            seen[queue.name] = queue.key
        longest_env = max(environments, key=len, default="")
        subjects = [(("queues", index_of[q.key]), q.name, q.alarms) for q in queues]
        subjects += [(("environments", e), naming.target_subject(t.name), target_alarms) for e in environments for t in environments[e].targets]
        for path, subject, rules in subjects:
            for rule in rules:
                name = naming.alarm_name(prefix, longest_env, subject, rule.kind, rule.tier)
                if len(name) > naming.MAX_ALARM_NAME:
                    self.error(
                        path,
                        f"alarm name '{name[:60]}...' would be {len(name)} characters; CloudWatch allows {naming.MAX_ALARM_NAME} (shorten name_prefix or the 'name')",
                    )
                    break


    def _check_typed_names(self, data, queues, streams, delayed, environments) -> None:
        """Keys and names of streams and delayed sets: each once across every section; alarm names fit."""
        keys = {q.key: f"queues[{i}]" for i, q in enumerate(queues)}
        names = {q.name: f"queues[{i}]" for i, q in enumerate(queues)}
        longest_env = max(environments, key=len, default="")
        group_subjects: dict[str, str] = {}
        for section, items in (("streams", streams), ("delayed", delayed)):
            raw_items = data.get(section) or []
            index_of = {r.get("key"): i for i, r in enumerate(raw_items)}
            for item in items:
                index = index_of[item.key]
                path = (section, index)
                if item.key in keys:
                    self.error(path + ("key",), f"key '{item.key}' is also declared at {keys[item.key]}; each key once, as one type")
                elif item.name in names:
                    field_name = "name" if "name" in raw_items[index] else "key"
                    self.error(path + (field_name,), f"name '{item.name}' (used in alarm names) is also the name at {names[item.name]}; give one a distinct 'name'")
                keys.setdefault(item.key, f"{section}[{index}]")
                names.setdefault(item.name, f"{section}[{index}]")
                subjects = [group_subject(item.name, g) for g in item.groups] if section == "streams" else [item.name]
                if section == "streams" and item.alarms:
                    for group, subject in zip(item.groups, subjects):
                        if subject in group_subjects:
                            self.error(path + ("groups",), f"group '{group}' gives alarm names ending '{subject}-KIND-TIER', as {group_subjects[subject]} does; rename the stream or the group")
                        group_subjects.setdefault(subject, f"group '{group}' of streams[{index}]")
                for subject in subjects:
                    for rule in item.alarms:
                        name = naming.alarm_name(data["name_prefix"], longest_env, subject, rule.kind, rule.tier)
                        if len(name) > naming.MAX_ALARM_NAME:
                            self.error(path, f"alarm name '{name[:60]}...' would be {len(name)} characters; CloudWatch allows {naming.MAX_ALARM_NAME} (shorten name_prefix, the 'name' or the group)")
                            return


def group_subject(stream_name: str, group: str) -> str:
    """The part of an alarm name that names one consumer group of a stream."""
    return f"{stream_name}-{naming.slug(group)}"


def problems_text(error: SpecError) -> str:
    count = len(error.problems)
    return "\n".join(str(p) for p in error.problems) + f"\n{count} problem{'s' if count != 1 else ''} found"
