"""The thin AWS side of provisioning: read live alarms, tags, dashboard and metrics; carry out a plan.

Reads cost few calls on purpose (a no-op re-apply of 1,000 alarms: about 21 calls, plus ListMetrics):
- DescribeAlarms, 100 per page, limited to the spec's name prefix: the configuration of every
  alarm whose name we might want, including foreign alarms squatting on one of our names.
- The Resource Groups Tagging API (GetResources), 100 alarms per page, filtered on our ownership
  tag: every alarm this spec owns, with all its tags, wherever its name points. So ownership and
  tag drift are known without one ListTagsForResource per alarm, and prune finds owned alarms
  outside the prefix (those are then described by name, to skip ones already deleted).
- ListTagsForResource, one alarm at a time, only where the index cannot settle it alone: a
  desired name that exists but is not in our index (foreign, or the index lags a fresh tag), an
  owned alarm whose indexed tags differ from the desired ones (confirm drift before writing),
  and every prune candidate (confirm ownership before deleting). In a converged account: none.

Writes go one change at a time: a failed write is reported and the others still happen, so
re-running converges. PutMetricAlarm and DeleteAlarms are paced under their quotas.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import botocore.exceptions

from monitor.cloudwatch.alarms import Alarm, alarm_metric, alarm_name, anomaly_detectors, dimension_pairs, is_composite, metric_alarms
from monitor.cloudwatch.clients import Aws, describe_error, error_code, translate_errors
from monitor.cloudwatch.plan import ALARM_RESOURCES, Action, Change, Plan, Resource, composite_depths, owner_of, tag_dict, tag_diff
from monitor.spec import naming

DESCRIBE_MAX_RECORDS = 100  # DescribeAlarms: MaxRecords 1..100
DESCRIBE_MAX_NAMES = 100  # DescribeAlarms: at most 100 AlarmNames per call
GET_METRIC_DATA_MAX_QUERIES = 500  # GetMetricData: at most 500 MetricDataQueries per request
TAGGING_PAGE_SIZE = 100  # GetResources: ResourcesPerPage 1..100
DELETE_BATCH = 100  # DeleteAlarms: at most 100 names per call
DESCRIBE_DETECTORS_MAX_RESULTS = 100  # DescribeAnomalyDetectors: MaxResults 1..100
ALARM_TYPES = ("MetricAlarm", "CompositeAlarm")  # DescribeAlarms AlarmTypes
PUT_METRIC_ALARM_TPS = 3.0  # CloudWatch quota per account and region (adjustable)
DELETE_ALARMS_TPS = 3.0  # CloudWatch quota per account and region (adjustable)
ALARM_RESOURCE_TYPE = "cloudwatch:alarm"  # Resource Groups Tagging API resource type
PAGINATION_RESTARTS = 10  # whole re-reads after an expired token, before the error is reported
_TOKEN_EXPIRED = {"PaginationTokenExpiredException", "InvalidNextToken", "InvalidNextTokenException"}
_NOT_FOUND = {"ResourceNotFound", "ResourceNotFoundException", "DashboardNotFoundError"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


# ---------------------------------------------------------------- reads


def _pages(call: Callable, token_in: str, token_out: str, **kwargs) -> list[dict]:
    """Every page; read again from the first when a token has expired.

    A token can be spent by an attempt whose answer was lost (a dropped connection): the retry then
    meets "token expired" (the emulator's tokens are single-use; AWS's expire after a while).
    """
    for _ in range(PAGINATION_RESTARTS):
        try:
            return list(_pages_once(call, token_in, token_out, dict(kwargs)))
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in _TOKEN_EXPIRED:
                raise
    return list(_pages_once(call, token_in, token_out, dict(kwargs)))


def _pages_once(call: Callable, token_in: str, token_out: str, kwargs: dict) -> Iterator[dict]:
    while True:
        page = call(**kwargs)
        yield page
        token = page.get(token_out)
        if not token:
            return
        kwargs[token_in] = token


def describe_alarms(cw, *, prefix: str | None = None, names: Sequence[str] | None = None, composites: bool = False) -> list[dict]:
    """Metric alarms (and composites, when asked) by name prefix, or by names (any number: 100 per call), 100 per page."""
    if names is not None and len(names) > DESCRIBE_MAX_NAMES:
        return [
            a
            for start in range(0, len(names), DESCRIBE_MAX_NAMES)
            for a in describe_alarms(cw, names=names[start : start + DESCRIBE_MAX_NAMES], composites=composites)
        ]
    # Without AlarmTypes, DescribeAlarms returns metric alarms only.
    kwargs: dict = {"MaxRecords": DESCRIBE_MAX_RECORDS, **({"AlarmTypes": list(ALARM_TYPES)} if composites else {})}
    if prefix is not None:
        kwargs["AlarmNamePrefix"] = prefix
    if names is not None:
        if not names:
            return []
        kwargs["AlarmNames"] = list(names)
    return [
        a for page in _pages(cw.describe_alarms, "NextToken", "NextToken", **kwargs) for key in ("MetricAlarms", "CompositeAlarms") for a in page.get(key, [])
    ]


def describe_detectors(cw, namespace: str) -> list[dict]:
    """The SingleMetricAnomalyDetector of every anomaly detector in the namespace, 100 per page."""
    pages = _pages(cw.describe_anomaly_detectors, "NextToken", "NextToken", Namespace=namespace, MaxResults=DESCRIBE_DETECTORS_MAX_RESULTS)
    found = []
    for page in pages:
        for detector in page.get("AnomalyDetectors", []):
            single = detector.get("SingleMetricAnomalyDetector") or detector
            if single.get("MetricName"):  # metric-math detectors are not ours
                found.append({k: single.get(k) for k in ("Namespace", "MetricName", "Dimensions", "Stat")})
    return found


def metric_data(cw, queries: Sequence[dict], *, start, end, **options) -> dict[str, list[tuple]]:
    """{query id: [(timestamp, value), ...]} between start and end: 500 queries per call, pages followed."""
    points: dict[str, list[tuple]] = {}
    for offset in range(0, len(queries), GET_METRIC_DATA_MAX_QUERIES):
        chunk = list(queries[offset : offset + GET_METRIC_DATA_MAX_QUERIES])
        for page in _pages(cw.get_metric_data, "NextToken", "NextToken", MetricDataQueries=chunk, StartTime=start, EndTime=end, **options):
            for result in page.get("MetricDataResults", []):
                points.setdefault(result["Id"], []).extend(zip(result.get("Timestamps", []), result.get("Values", [])))
    return points


def owned_alarm_tags(tagging, owner: str) -> dict[str, dict[str, str]]:
    """Every alarm carrying our ownership tag, by name, with all its tags (100 per page)."""
    kwargs = {
        "TagFilters": [{"Key": naming.TAG_SPEC, "Values": [owner]}],
        "ResourceTypeFilters": [ALARM_RESOURCE_TYPE],
        "ResourcesPerPage": TAGGING_PAGE_SIZE,
    }
    return {
        alarm_name(r["ResourceARN"]): tag_dict(r.get("Tags"))
        for page in _pages(tagging.get_resources, "PaginationToken", "PaginationToken", **kwargs)
        for r in page.get("ResourceTagMappingList", [])
    }


def list_tags(cw, arn: str) -> dict[str, str]:
    return tag_dict(cw.list_tags_for_resource(ResourceARN=arn).get("Tags"))


def read_dashboard(cw, name: str) -> tuple[str, dict] | None:
    try:
        body = cw.get_dashboard(DashboardName=name)["DashboardBody"]
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in _NOT_FOUND:
            return None
        raise
    return name, json.loads(body)


def published_metrics(cw, namespaces: Iterable[str]) -> set[tuple]:
    """(namespace, metric name, sorted dimensions) of every metric with data: one paged ListMetrics per namespace."""
    found = set()
    for ns in sorted(set(namespaces)):
        for page in _pages(cw.list_metrics, "NextToken", "NextToken", Namespace=ns):
            for m in page.get("Metrics", []):
                found.add((ns, m["MetricName"], dimension_pairs(m.get("Dimensions"))))
    return found


@dataclass
class Live:
    """What CloudWatch holds that matters to one spec: alarms (each with "Tags") and the dashboard."""

    alarms: list[dict]
    dashboard: tuple[str, dict] | None
    warnings: list[str] = field(default_factory=list)
    detectors: list[dict] = field(default_factory=list)  # anomaly detectors, read only when a band is desired or owned


def read_live(
    aws: Aws, desired: Sequence[Alarm], *, prefix: str, owner: str, dashboard_name: str, confirm_owned: bool
) -> Live:
    """The live side for plan(): every alarm that is desired by name or owned by tag, with its tags."""
    cw = aws.cloudwatch
    warnings: list[str] = []
    with translate_errors():
        described = {a["AlarmName"]: a for a in describe_alarms(cw, prefix=prefix, composites=True)}
        try:
            owned: dict[str, dict[str, str]] | None = owned_alarm_tags(aws.tagging, owner)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) not in _DENIED:
                raise
            owned = None
            warnings.append(
                "tag:GetResources is not allowed: reading tags one alarm at a time (one call per alarm), "
                "and owned alarms outside the name prefix cannot be found"
            )
        # Owned alarms outside the prefix (named another way, or by hand): check they still exist.
        outside = [n for n in (owned or {}) if n not in described]
        described.update((alarm["AlarmName"], alarm) for alarm in describe_alarms(cw, names=outside, composites=True))
        wanted = {a["AlarmName"]: tag_dict(a.get("Tags")) for a in desired}
        alarms = []
        for name, alarm in described.items():
            if owned is not None and name in owned:
                tags = owned[name]
                if name in wanted:
                    confirm = any(tag_diff(wanted[name], tags))  # drift: confirm before writing
                else:
                    confirm = confirm_owned  # a prune candidate: confirm before deleting
            elif owned is None or name in wanted:
                tags, confirm = {}, True  # ownership unknown: foreign, or the index lags a fresh tag
            else:
                continue  # neither wanted nor ours: nothing here concerns this spec
            if confirm:
                tags = list_tags(cw, alarm["AlarmArn"])
            alarms.append({**alarm, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]})
        dashboard = read_dashboard(cw, dashboard_name)
        # DescribeAnomalyDetectors only where a band is wanted or one of ours had one: none otherwise.
        banded = anomaly_detectors(list(desired) + [a for a in alarms if owner_of(a) == owner])
        detectors = [d for ns in sorted({d["Namespace"] for d in banded}) for d in describe_detectors(cw, ns)]
    return Live(alarms, dashboard, warnings, detectors)


def read_published(aws: Aws, desired: Sequence[Alarm]) -> set[tuple]:
    with translate_errors():
        return published_metrics(aws.cloudwatch, {alarm_metric(a)[0] for a in metric_alarms(desired)})


# ---------------------------------------------------------------- writes


class Pacer:
    """At most `rate` calls per second (0 means unpaced): stay under a quota instead of hitting it."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / rate if rate else 0.0
        self.clock, self.sleep = clock, sleep
        self._next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        now = self.clock()
        if now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


@dataclass(frozen=True)
class Outcome:
    change: Change
    error: str | None = None
    attempts: int = 1  # HTTP attempts the change took, retries included

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Report:
    """What execute did: an outcome per change carried out; after Ctrl-C, what was not."""

    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False
    in_flight: list[Change] = field(default_factory=list)  # interrupted during the call: may or may not have happened
    not_done: list[Change] = field(default_factory=list)  # never started

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def succeeded(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.ok]


def _without_tags(alarm: Mapping) -> dict:
    # PutMetricAlarm ignores Tags on an existing alarm; tags go through TagResource instead.
    return {k: v for k, v in alarm.items() if k != "Tags"}


def put_alarm(cw, alarm: Mapping) -> None:
    """PutCompositeAlarm or PutMetricAlarm, whichever the rendered alarm is."""
    (cw.put_composite_alarm if is_composite(alarm) else cw.put_metric_alarm)(**alarm)


def put_alarms(cw, alarms: Sequence[Mapping]) -> None:
    """Every alarm, unpaced, in an order AWS accepts: metric alarms, then composites from the lowest level up."""
    depths = composite_depths(alarms)
    for alarm in sorted(alarms, key=lambda a: (is_composite(a), depths.get(a["AlarmName"], 0))):
        put_alarm(cw, alarm)


def _write_alarm(cw, change: Change, pacer: Pacer) -> None:
    if change.writes_config:
        pacer.wait()
        put_alarm(cw, change.alarm if change.action is Action.CREATE else _without_tags(change.alarm))
    if change.action is Action.CREATE:
        return
    if change.tags_to_set:
        cw.tag_resource(ResourceARN=change.arn, Tags=[{"Key": k, "Value": v} for k, v in sorted(change.tags_to_set.items())])
    if change.tags_to_remove:
        cw.untag_resource(ResourceARN=change.arn, TagKeys=list(change.tags_to_remove))


def _write_dashboard(cw, change: Change) -> None:
    if change.action is Action.DELETE:
        cw.delete_dashboards(DashboardNames=[change.name])
    else:
        cw.put_dashboard(DashboardName=change.name, DashboardBody=json.dumps(change.body, separators=(",", ":")))


def execute(
    plan: Plan,
    aws: Aws,
    *,
    put_rate: float = PUT_METRIC_ALARM_TPS,
    delete_rate: float = DELETE_ALARMS_TPS,
    sleep=time.sleep,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Carry out exactly the plan's changes; a failed write is reported, the others still happen.

    `progress(report)` is called after each outcome. Ctrl-C (KeyboardInterrupt) stops the run and
    returns the report with `interrupted` set and the changes in flight and not started: every
    write is a whole alarm or tag set, so the next plan shows exactly what is left.
    """
    cw = aws.cloudwatch
    put_pacer, delete_pacer = Pacer(put_rate, sleep=sleep), Pacer(delete_rate, sleep=sleep)
    alarm_deletes = [c for c in plan.changes if c.resource in {r.value for r in ALARM_RESOURCES} and c.action is Action.DELETE]
    steps: list[tuple[list[Change], Callable[[], None]]] = []
    for change in plan.changes:
        if change.resource == Resource.DASHBOARD.value:
            steps.append(([change], lambda c=change: _write_dashboard(cw, c)))
        elif change.resource == Resource.ANOMALY_DETECTOR.value and change.action is Action.CREATE:
            steps.append(([change], lambda c=change: cw.put_anomaly_detector(SingleMetricAnomalyDetector=dict(c.detector))))
        elif change.resource != Resource.ANOMALY_DETECTOR.value and change.action is not Action.DELETE:
            steps.append(([change], lambda c=change: _write_alarm(cw, c, put_pacer)))
    # Deletes last (a renamed alarm's successor exists first), in the plan's order, in chunks of
    # DELETE_BATCH that never mix levels: a composite goes in an earlier call than what it names.
    for batch in _delete_batches(alarm_deletes):
        steps.append((batch, lambda b=batch: _delete_alarms(cw, b, delete_pacer)))
    for change in plan.changes:
        if change.resource == Resource.ANOMALY_DETECTOR.value and change.action is Action.DELETE:
            steps.append(([change], lambda c=change: cw.delete_anomaly_detector(SingleMetricAnomalyDetector=dict(c.detector))))

    report = Report()
    finished, in_flight = 0, []
    try:
        for changes, write in steps:
            in_flight, before = changes, aws.total_attempts
            try:
                write()
                error = None
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                error = describe_error(exc, retries=False)
            attempts = max(1, aws.total_attempts - before)
            report.outcomes += [Outcome(c, error, attempts) for c in changes]
            in_flight, finished = [], finished + 1
            if progress is not None:
                progress(report)
    except KeyboardInterrupt:
        report.interrupted = True
        report.in_flight = list(in_flight)
        report.not_done = [c for changes, _ in steps[finished + (1 if in_flight else 0) :] for c in changes]
    return report


def _delete_alarms(cw, batch: Sequence[Change], pacer: Pacer) -> None:
    pacer.wait()
    cw.delete_alarms(AlarmNames=[c.name for c in batch])


def _delete_batches(deletes: Sequence[Change]) -> list[list[Change]]:
    """Consecutive deletes of one level (composites of one depth, or metric alarms), DELETE_BATCH at most each."""
    batches: list[list[Change]] = []
    for change in deletes:
        level = (change.resource, change.depth)
        if not batches or len(batches[-1]) >= DELETE_BATCH or (batches[-1][0].resource, batches[-1][0].depth) != level:
            batches.append([])
        batches[-1].append(change)
    return batches
