"""The spec's declared shape (SPEC_SCHEMA), its CloudWatch limits and defaults, and its JSON Schema.

The same declaration drives the validator (monitor.spec.load) and `provision-alarms schema`.
"""

from __future__ import annotations

from monitor.spec.kinds import (
    COMPARISON_SPELLINGS,
    DELAYED_KINDS,
    PATTERN_KINDS,
    PERCENTILE_PATTERN,
    QUEUE_KINDS,
    STATISTICS,
    STREAM_KINDS,
    TARGET_KINDS,
    AlarmKind,
    Severity,
    TreatMissingData,
)
from monitor.spec import runbooks
from monitor.spec.presets import Framework
from monitor.spec.schema import Bool, Either, Field, ListOf, Num, Obj, Str
from monitor.spec.sources import (
    OldestEnd,
    QueuePart,
    ScoreUnit,
    TimestampFormat,
)
from monitor.spec.windows import MAX_TIMEZONE_LENGTH, TIMEZONE_HINT, WALL_CLOCK_PERIODS_HINT, WindowKind

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
MAX_DIMENSION_VALUE = 1024  # PutMetricData: a dimension value (a key is the Queue dimension) is at most 1024 characters

# PutCompositeAlarm: ActionsSuppressorWaitPeriod / ActionsSuppressorExtensionPeriod, in seconds.
# No wait: when Redis goes down the queue alarms go quiet (missing data is not breaching), so no
# queue page needs to wait for the target alarm; a wait would only hold back, and if the
# composite is OK again before it ends drop, the page of a one-minute ALARM (a dead letter).
DEFAULT_SUPPRESS_WAIT_SECONDS = 0
DEFAULT_SUPPRESS_EXTENSION_SECONDS = 300  # the backlog an outage left behind settles within minutes
MAX_SUPPRESS_SECONDS = 86400

# Built-in values for a tier field that neither the defaults nor the queue sets.
DEFAULT_PERIOD = 60
DEFAULT_EVALUATION_PERIODS = 1

_SLUG = r"[a-z][a-z0-9-]*"
_TIER = r"[a-z][a-z0-9_-]*"
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
            "evaluation_window": Field(
                Str(
                    enum=tuple(w.value for w in WindowKind),
                    doc="sliding (the default): every evaluation looks at the periods counted back from it. wall_clock: "
                    f"periods aligned to the clock (needs a period of {WALL_CLOCK_PERIODS_HINT}), each counted once it has ended.",
                )
            ),
            "timezone": Field(
                Str(max_length=MAX_TIMEZONE_LENGTH, doc=f"Time zone of a wall_clock window (default UTC): {TIMEZONE_HINT}.")
            ),
            "enabled": Field(Bool(doc="false removes this tier (for one queue, or everywhere when set in defaults).")),
            "runbook": Field(Str(pattern=runbooks.REFERENCE_PATTERN, pattern_hint=runbooks.REFERENCE_HINT, doc="Runbook for this tier, written into the alarm description: a URL, or #section of the shipped docs/runbooks.md.")),
            "description": Field(Str(max_length=400, doc="Extra words for the alarm description.")),
            "min_depth": Field(Num(minimum=0, doc="time_to_drain only: a queue at or below this depth counts as drained (a small steady backlog is not an incident).")),
            "only_when_idle": Field(
                Bool(
                    doc="in_flight_depth only: count in-flight messages only in periods when nothing waited (Maximum QueueDepth 0), so consumers busy with a backlog do not fire it and a message left by a crashed worker does."
                )
            ),
            "parts": Field(
                ListOf(
                    Str(enum=tuple(p.value for p in QueuePart)),
                    min_items=1,
                    doc="queue_depth only: the parts of the queue this tier counts, summed with metric math: waiting (QueueDepth, the default), in_flight (InFlightDepth, needs 'processing'), retry (DelayedTotal of the queue's 'retry' set).",
                )
            ),
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
    doc="A runbook per alarm kind: a URL, or #section of the shipped docs/runbooks.md (named without a link until it is published).",
    fields={kind.value: Field(Str(pattern=runbooks.REFERENCE_PATTERN, pattern_hint=runbooks.REFERENCE_HINT)) for kind in AlarmKind},
)

_QUEUE = Obj(
    doc="A Redis list used as a job queue.",
    fields={
        "key": Field(Str(max_length=MAX_DIMENSION_VALUE, doc="The Redis key of the list."), required=True),
        "name": Field(Str(pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]*", pattern_hint="letters, digits, '.', '_' and '-'", max_length=100, doc="Short name used in alarm names (default: the key with ':' turned into '-').")),
        "description": Field(Str(max_length=300)),
        "processing": Field(Str(max_length=MAX_DIMENSION_VALUE, doc="The processing (in-flight) list, where consumers move messages they work on."), nullable=True),
        "dead_letter": Field(Str(max_length=MAX_DIMENSION_VALUE, doc="The dead-letter list."), nullable=True),
        "retry": Field(
            Str(doc="The sorted set where failed jobs wait before they are pushed back (declare it under 'delayed' too); a queue_depth tier can count it with parts: [retry]."),
            nullable=True,
        ),
        **_QUEUE_READ_FIELDS,
        "target": Field(Str(pattern=_SLUG, pattern_hint="a Redis target name of the environments", doc="Which Redis target holds it (default: the environment's first).")),
        "alarms": Field(_alarms_schema(QUEUE_KINDS)),
        "runbooks": Field(_RUNBOOKS),
    },
)

_PRESET = Obj(
    doc="A job framework's queue: the preset knows its keys, types and where enqueue times live (docs/frameworks.md).",
    fields={
        "framework": Field(Str(enum=tuple(f.value for f in Framework), doc="The job framework that keeps the queue."), required=True),
        "queue": Field(Str(max_length=200, doc="The framework's own queue name, e.g. default."), required=True),
        "prefix": Field(Str(min_length=0, max_length=200, doc="The framework's key prefix, when it is not the framework's default.")),
        "name": Field(_QUEUE.fields["name"].node),
        "description": Field(Str(max_length=300)),
        "target": Field(_QUEUE.fields["target"].node),
        "alarms": Field(_alarms_schema(QUEUE_KINDS)),
        "runbooks": Field(_RUNBOOKS),
    },
)

_STREAM = Obj(
    doc="A Redis stream used as a job queue, read by consumer groups.",
    fields={
        "key": Field(Str(max_length=MAX_DIMENSION_VALUE, doc="The Redis key of the stream."), required=True),
        "name": Field(_QUEUE.fields["name"].node),
        "description": Field(Str(max_length=300)),
        "groups": Field(
            ListOf(
                Str(max_length=200, doc="A consumer group name."),
                doc="The consumer groups to measure and alarm on. Left out: every group is measured, none gets alarms.",
            )
        ),
        "target": Field(_QUEUE.fields["target"].node),
        "alarms": Field(_alarms_schema(STREAM_KINDS)),
        "runbooks": Field(_RUNBOOKS),
    },
)

_DELAYED = Obj(
    doc="A Redis sorted set of delayed jobs, scored by due time; a scheduler moves due jobs to a work queue.",
    fields={
        "key": Field(Str(max_length=MAX_DIMENSION_VALUE, doc="The Redis key of the sorted set."), required=True),
        "name": Field(_QUEUE.fields["name"].node),
        "description": Field(Str(max_length=300)),
        "score_unit": Field(Str(enum=tuple(u.value for u in ScoreUnit), doc="What a score is: the due time in epoch seconds (default) or milliseconds.")),
        "grace_seconds": Field(Num(minimum=0, maximum=86400, doc="A job counts as overdue once due longer ago than this (default 0).")),
        "target": Field(_QUEUE.fields["target"].node),
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
        "name": Field(Str(pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]*", pattern_hint="letters, digits, '.', '_' and '-'", max_length=100, doc="Short name used in alarm names (default: the pattern with runs of other characters turned into '-').")),
        "alarms": Field(_alarms_schema(PATTERN_KINDS)),
        "runbooks": Field(_RUNBOOKS),
    },
)

_INCIDENTS = Obj(
    doc="One page per incident: composite alarms over each subject's tiers, quiet while its Redis target is down.",
    fields={
        "severities": Field(
            ListOf(
                Str(enum=tuple(s.value for s in Severity)),
                min_items=1,
                doc="For each of these severities, every queue (stream group, delayed set, pattern) with tiers of it gets an 'unhealthy' composite alarm: ALARM while any of those tiers is.",
            )
        ),
        "notify": Field(
            Str(
                enum=("composite", "both"),
                doc="composite (default): only the composite notifies; the tiers it covers lose their own actions. both: the tiers keep theirs too (and are not suppressed).",
            )
        ),
        "suppress_while_target_down": Field(
            Bool(doc="Hold the composites' actions while the Redis target's connection or heartbeat alarm is in ALARM (ActionsSuppressor; default true).")
        ),
        "suppress_wait_seconds": Field(
            Num(integer=True, minimum=0, maximum=MAX_SUPPRESS_SECONDS, doc="ActionsSuppressorWaitPeriod: how long a composite's actions wait for the target alarm to go into ALARM.")
        ),
        "suppress_extension_seconds": Field(
            Num(integer=True, minimum=0, maximum=MAX_SUPPRESS_SECONDS, doc="ActionsSuppressorExtensionPeriod: how long actions stay held after the target alarm leaves ALARM.")
        ),
        "runbook": Field(
            Str(
                pattern=runbooks.REFERENCE_PATTERN,
                pattern_hint=runbooks.REFERENCE_HINT,
                doc="Runbook named in the unhealthy composites' descriptions (default: the runbook of the first tier each covers).",
            )
        ),
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
    doc="Several Redis targets; queues, patterns, streams and delayed sets pick theirs with 'target'.",
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
                fields={"queue": Field(Obj(fields=dict(_QUEUE_READ_FIELDS))), "alarms": Field(_alarms_schema(QUEUE_KINDS + STREAM_KINDS + DELAYED_KINDS + PATTERN_KINDS))},
            )
        ),
        "target_alarms": Field(_alarms_schema(TARGET_KINDS)),
        "incidents": Field(_INCIDENTS),
        "environments": Field(
            Obj(keys=Str(pattern=_SLUG, pattern_hint="an environment name (lower case letters, digits and '-')", max_length=40), values=_ENVIRONMENT),
            required=True,
        ),
        "queues": Field(ListOf(Either(discriminator="framework", present=_PRESET, absent=_QUEUE, doc="A Redis list queue, or a framework's queue (framework: ...)."))),
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
