"""Desired against actual: the changes that make CloudWatch match the spec (pure, no AWS).

`plan(desired_alarms, actual_alarms, desired_dashboard, actual_dashboard, owner=..., prune=...)`
compares the rendered PutMetricAlarm parameters with what DescribeAlarms returned (each actual
alarm carrying its "Tags"), field by field after normalising what AWS reports differently from
what was sent: numbers (1 vs 1.0), list order of actions and dimensions, defaults AWS fills in
or leaves out (DatapointsToAlarm = EvaluationPeriods, TreatMissingData = missing, empty lists),
and read-only fields (ARN, state, timestamps) that are not configuration at all.

Ownership is decided by the TAG_SPEC tag only: an alarm without it, or with another spec's
identity, is never changed or deleted, whatever its name.

Composite alarms (PutCompositeAlarm dicts, with an "AlarmRule") are planned like metric alarms;
anomaly detectors (PutAnomalyDetector) are derived from the alarms' ANOMALY_DETECTION_BAND
queries. Detectors cannot be tagged: one is ours to delete only when an alarm we own used it and
no desired alarm does. The order of the changes is the order apply follows: detectors, metric
alarms, composites (those named by other composites first), the dashboard, then deletes in the
reverse order, so no composite ever names an alarm that does not exist.

EvaluationWindow: left out and {"SlidingWindow": {}} are the same (the default); a wall-clock
window without Timezone is UTC. AWS reports the field back, so a live alarm without it has the
default window. An endpoint that is not AWS (the local emulator) accepts the field and forgets it:
with `window_reported=False` (see reports_evaluation_window) a live alarm without the field is not
compared on it, and a warning names the alarms whose wall-clock window could not be checked,
instead of a change that would be planned again after every apply.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlparse

from monitor.cloudwatch.alarms import Alarm, alarm_metric, alarm_name, anomaly_detectors, composite_children, detector_key, dimension_pairs, is_composite, metric_alarms
from monitor.spec import metrics, naming
from monitor.spec.windows import DEFAULT_TIMEZONE, WALL_CLOCK_WINDOW, WindowKind, read_window_field

# `plan --output json` (and apply's) document version: docs/plan-output.schema.json describes it.
# Raised when a field is removed, renamed or changes meaning; new fields do not raise it.
JSON_SCHEMA_VERSION = 1

# What DescribeAlarms returns that is not configuration: never compared.
READ_ONLY_FIELDS = frozenset(
    {
        "AlarmArn",
        "AlarmConfigurationUpdatedTimestamp",
        "StateValue",
        "StateReason",
        "StateReasonData",
        "StateUpdatedTimestamp",
        "StateTransitionedTimestamp",
        "EvaluationState",
        "ResponseMetadata",
    }
)

# Tags AWS sets itself; they cannot be changed or removed.
AWS_TAG_PREFIX = "aws:"
# Host name endings of AWS's own endpoints (commercial, China, dual-stack); anything else is an emulator.
AWS_ENDPOINT_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".api.amazonwebservices.com.cn")
EVALUATION_WINDOW = "EvaluationWindow"

Dashboard = tuple[str, dict]  # (name, body)


class Action(str, enum.Enum):
    CREATE = "create"
    UPDATE = "update"  # configuration (PutMetricAlarm) and perhaps tags
    RETAG = "retag"  # tags only (TagResource / UntagResource)
    DELETE = "delete"


SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.RETAG: "~", Action.DELETE: "-"}


@dataclass(frozen=True)
class FieldDiff:
    field: str
    old: Any
    new: Any

    def __str__(self) -> str:
        if isinstance(self.old, str) and isinstance(self.new, str) and max(len(self.old), len(self.new)) > LONG_TEXT:
            old, new = _around_difference(self.old, self.new)
            return f"{self.field}: {old} -> {new}"
        return f"{self.field}: {show(self.old)} -> {show(self.new)}"


LONG_TEXT = 60  # longer strings (descriptions) print only around where they differ
_CONTEXT = 20


def _around_difference(old: str, new: str) -> tuple[str, str]:
    """'...above 1000 in 3...' for each side: the differing middle with a little context."""
    start = 0
    while start < min(len(old), len(new)) and old[start] == new[start]:
        start += 1
    end = 0
    while end < min(len(old), len(new)) - start and old[-1 - end] == new[-1 - end]:
        end += 1
    lo = max(0, start - _CONTEXT)

    def cut(text: str) -> str:
        hi = min(len(text), len(text) - end + _CONTEXT)
        return ("..." if lo else "") + json.dumps(text[lo:hi]) + ("..." if hi < len(text) else "")

    return cut(old), cut(new)


class Resource(str, enum.Enum):
    ALARM = "alarm"  # PutMetricAlarm
    COMPOSITE_ALARM = "composite_alarm"  # PutCompositeAlarm
    ANOMALY_DETECTOR = "anomaly_detector"  # PutAnomalyDetector
    DASHBOARD = "dashboard"

    @property
    def words(self) -> str:
        return self.value.replace("_", " ")


ALARM_RESOURCES = (Resource.ALARM, Resource.COMPOSITE_ALARM)


@dataclass(frozen=True)
class Change:
    action: Action
    name: str
    resource: str = Resource.ALARM.value  # a Resource value
    alarm: Alarm | None = None  # the PutMetricAlarm / PutCompositeAlarm parameters (create, update)
    detector: Mapping | None = None  # the SingleMetricAnomalyDetector (anomaly detectors)
    depth: int = 0  # composites: how many levels of composites lie below it (apply creates lower ones first)
    arn: str | None = None  # the live alarm (update, retag, delete)
    diffs: tuple[FieldDiff, ...] = ()
    tags_to_set: Mapping[str, str] = field(default_factory=dict)
    tags_to_remove: tuple[str, ...] = ()
    body: dict | None = None  # dashboard body (create, update)

    @property
    def writes_config(self) -> bool:
        return self.action is Action.CREATE or (self.action is Action.UPDATE and bool(self.diffs))

    def lines(self) -> list[str]:
        """The human form: one header line, then one line per changed field or tag."""
        head = f"{SYMBOL[self.action]} {Resource(self.resource).words} {self.name}"
        if self.action is Action.RETAG:
            head += " (tags only)"
        out = [head]
        out += [f"    {d}" for d in self.diffs]
        out += [f"    tag {k}: set to {show(v)}" for k, v in sorted(self.tags_to_set.items())]
        out += [f"    tag {k}: removed" for k in self.tags_to_remove]
        return out

    def to_json(self) -> dict:
        data: dict[str, Any] = {"action": self.action.value, "resource": self.resource, "name": self.name}
        if self.diffs:
            data["diff"] = {d.field: {"old": d.old, "new": d.new} for d in self.diffs}
        if self.tags_to_set:
            data["tags_to_set"] = dict(self.tags_to_set)
        if self.tags_to_remove:
            data["tags_to_remove"] = list(self.tags_to_remove)
        return data


@dataclass(frozen=True)
class Conflict:
    name: str
    reason: str

    def line(self) -> str:
        return f"! alarm {self.name}: {self.reason}"


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    warnings: tuple[str, ...] = ()
    unchanged: int = 0

    def count(self, *actions: Action) -> int:
        return sum(1 for c in self.changes if c.action in actions)

    @property
    def converged(self) -> bool:
        """Nothing to do and nothing standing in the way."""
        return not self.changes and not self.conflicts

    def summary(self) -> str:
        conflicts = f", {len(self.conflicts)} conflict{'s' if len(self.conflicts) != 1 else ''}" if self.conflicts else ""
        return (
            f"Plan: {self.count(Action.CREATE)} to create, {self.count(Action.UPDATE, Action.RETAG)} to update, "
            f"{self.count(Action.DELETE)} to delete, {self.unchanged} unchanged{conflicts}."
        )

    def with_warnings(self, warnings: Iterable[str]) -> "Plan":
        return replace(self, warnings=self.warnings + tuple(warnings))

    def to_json(self) -> dict:
        return {
            "changes": [c.to_json() for c in self.changes],
            "conflicts": [{"name": c.name, "reason": c.reason} for c in self.conflicts],
            "warnings": list(self.warnings),
            "summary": {
                "create": self.count(Action.CREATE),
                "update": self.count(Action.UPDATE, Action.RETAG),
                "delete": self.count(Action.DELETE),
                "unchanged": self.unchanged,
                "conflicts": len(self.conflicts),
            },
        }


# ---------------------------------------------------------------- normalising


def _number(value):
    """1 and 1.0 compare equal and print as 1."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _metric_query(query: Mapping) -> dict:
    out: dict[str, Any] = {"Id": query["Id"], "ReturnData": query.get("ReturnData", True)}
    for key in ("Expression", "Label", "AccountId"):
        if query.get(key):
            out[key] = query[key]
    if query.get("Period"):
        out["Period"] = _number(query["Period"])
    stat = query.get("MetricStat")
    if stat:
        metric = stat["Metric"]
        out["MetricStat"] = {
            "Namespace": metric.get("Namespace"),
            "MetricName": metric.get("MetricName"),
            "Dimensions": dimension_pairs(metric.get("Dimensions")),
            "Period": _number(stat.get("Period")),
            "Stat": stat.get("Stat"),
            "Unit": stat.get("Unit"),
        }
    return out


def _comparable_actions(alarm: Mapping) -> dict[str, Any]:
    """The description and actions, which metric and composite alarms share, in canonical form."""
    return {
        "AlarmDescription": alarm.get("AlarmDescription") or "",
        "ActionsEnabled": alarm.get("ActionsEnabled", True),
        "AlarmActions": tuple(sorted(alarm.get("AlarmActions") or ())),
        "OKActions": tuple(sorted(alarm.get("OKActions") or ())),
        "InsufficientDataActions": tuple(sorted(alarm.get("InsufficientDataActions") or ())),
    }


def comparable_composite(alarm: Mapping) -> dict[str, Any]:
    return {
        **_comparable_actions(alarm),
        "AlarmRule": alarm.get("AlarmRule"),
        # AWS may report a suppressor by name or by ARN.
        "ActionsSuppressor": alarm_name(alarm["ActionsSuppressor"]) if alarm.get("ActionsSuppressor") else None,
        "ActionsSuppressorWaitPeriod": _number(alarm.get("ActionsSuppressorWaitPeriod")) if alarm.get("ActionsSuppressor") else None,
        "ActionsSuppressorExtensionPeriod": _number(alarm.get("ActionsSuppressorExtensionPeriod")) if alarm.get("ActionsSuppressor") else None,
    }


def _window(value) -> tuple[str, str] | None:
    """None for the default sliding window, ("WallClockWindow", time zone) for a wall-clock one."""
    try:
        kind, timezone = read_window_field(value or None)
    except ValueError:
        return ("unreadable", repr(value))  # shown as a change rather than taken for the default
    if kind is WindowKind.SLIDING:
        return None
    return (WALL_CLOCK_WINDOW, timezone or DEFAULT_TIMEZONE)


def reports_evaluation_window(endpoint_url: str | None) -> bool:
    """Whether DescribeAlarms at this endpoint reports EvaluationWindow: AWS does, the local emulator does not."""
    if not endpoint_url:
        return True
    host = urlparse(endpoint_url).hostname or ""
    return host.endswith(AWS_ENDPOINT_SUFFIXES)


def comparable(alarm: Mapping) -> dict[str, Any]:
    """The configuration of an alarm in one canonical form, whether rendered or described."""
    if is_composite(alarm):
        return comparable_composite(alarm)
    evaluation_periods = _number(alarm.get("EvaluationPeriods"))
    config: dict[str, Any] = {
        **_comparable_actions(alarm),
        "Namespace": alarm.get("Namespace") or None,
        "MetricName": alarm.get("MetricName") or None,
        "Dimensions": dimension_pairs(alarm.get("Dimensions")),
        "Period": _number(alarm.get("Period")) or None,
        "Statistic": alarm.get("Statistic") or None,
        "ExtendedStatistic": alarm.get("ExtendedStatistic") or None,
        "Unit": alarm.get("Unit") or None,
        "Metrics": tuple(json.dumps(_metric_query(q), sort_keys=True) for q in sorted(alarm.get("Metrics") or (), key=lambda q: q["Id"])),
        "EvaluationPeriods": evaluation_periods,
        # AWS leaves DatapointsToAlarm out when it was not sent; it then means "all N".
        "DatapointsToAlarm": _number(alarm.get("DatapointsToAlarm") or evaluation_periods),
        "Threshold": _number(float(alarm["Threshold"])) if alarm.get("Threshold") is not None else None,
        "ThresholdMetricId": alarm.get("ThresholdMetricId") or None,
        "ComparisonOperator": alarm.get("ComparisonOperator"),
        "TreatMissingData": alarm.get("TreatMissingData") or "missing",
        "EvaluateLowSampleCountPercentile": alarm.get("EvaluateLowSampleCountPercentile") or None,
        EVALUATION_WINDOW: _window(alarm.get(EVALUATION_WINDOW)),
    }
    return config


def _readable(field_name: str, value):
    if field_name == "Metrics":
        return [json.loads(q) for q in value]
    if field_name == "Dimensions":
        return {k: v for k, v in value}
    if field_name == EVALUATION_WINDOW:
        return {value[0]: {"Timezone": value[1]}} if value else {"SlidingWindow": {}}
    if isinstance(value, tuple):
        return list(value)
    return value


def config_diff(desired: Mapping, actual: Mapping, *, window_reported: bool = True) -> tuple[FieldDiff, ...]:
    """The fields that differ; with `window_reported` False, a live alarm without EvaluationWindow is not compared on it."""
    new, old = comparable(desired), comparable(actual)
    if not window_reported and EVALUATION_WINDOW not in actual and EVALUATION_WINDOW in new:
        old[EVALUATION_WINDOW] = new[EVALUATION_WINDOW]
    return tuple(FieldDiff(k, _readable(k, old[k]), _readable(k, new[k])) for k in new if new[k] != old[k])


def tag_dict(tags) -> dict[str, str]:
    """Tags as a dict from either [{"Key", "Value"}] (AWS) or a mapping."""
    if tags is None:
        return {}
    if isinstance(tags, Mapping):
        return dict(tags)
    return {t["Key"]: t["Value"] for t in tags}


def tag_diff(desired: Mapping[str, str], actual: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """(tags to set, tag keys to remove); tags AWS owns (aws:*) are left alone."""
    to_set = {k: v for k, v in desired.items() if actual.get(k) != v}
    to_remove = tuple(sorted(k for k in actual if k not in desired and not k.startswith(AWS_TAG_PREFIX)))
    return to_set, to_remove


def owner_of(alarm: Mapping) -> str | None:
    return tag_dict(alarm.get("Tags")).get(naming.TAG_SPEC)


def show(value) -> str:
    """A value as the plan prints it: numbers without .0, strings quoted, lists as JSON."""
    value = _number(value)
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, sort_keys=True)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _canonical_json(body) -> Any:
    """Parsed JSON with integral floats as ints, so 1 and 1.0 compare equal."""
    if isinstance(body, dict):
        return {k: _canonical_json(v) for k, v in body.items()}
    if isinstance(body, (list, tuple)):
        return [_canonical_json(v) for v in body]
    return _number(body)


# ---------------------------------------------------------------- the plan


def composite_depths(alarms: Iterable[Mapping]) -> dict[str, int]:
    """For each composite, how many levels of composites its rule and suppressor name below it (0: only metric alarms)."""
    composites = {a["AlarmName"]: composite_children(a) for a in alarms if is_composite(a)}
    depths: dict[str, int] = {}

    def depth(name: str, seen: tuple[str, ...] = ()) -> int:
        if name not in depths:
            below = [c for c in composites[name] if c in composites and c not in seen]
            depths[name] = 1 + max((depth(c, seen + (name,)) for c in below), default=-1)
        return depths[name]

    for name in composites:
        depth(name)
    return depths


def plan(
    desired_alarms: Sequence[Alarm],
    actual_alarms: Sequence[Mapping],
    desired_dashboard: Dashboard | None,
    actual_dashboard: Dashboard | None,
    *,
    owner: str,
    prune: bool,
    actual_detectors: Sequence[Mapping] = (),
    window_reported: bool = True,
) -> Plan:
    """The changes that make the actual alarms, anomaly detectors and dashboard match the desired ones.

    `window_reported`: whether the endpoint reports EvaluationWindow back (reports_evaluation_window).
    """
    actual_by_name = {a["AlarmName"]: a for a in actual_alarms}
    desired_names = {a["AlarmName"] for a in desired_alarms}
    depths = {**composite_depths(actual_alarms), **composite_depths(desired_alarms)}
    creates: list[Change] = []
    updates: list[Change] = []
    deletes: list[Change] = []
    conflicts: list[Conflict] = []
    warnings: list[str] = []
    unchecked_windows: list[str] = []
    unchanged = 0

    def resource(alarm: Mapping) -> str:
        return (Resource.COMPOSITE_ALARM if is_composite(alarm) else Resource.ALARM).value

    for alarm in desired_alarms:
        name = alarm["AlarmName"]
        live = actual_by_name.get(name)
        kind, depth = resource(alarm), depths.get(name, 0)
        if live is None:
            creates.append(Change(Action.CREATE, name, kind, alarm=alarm, depth=depth))
            continue
        live_owner = owner_of(live)
        if live_owner != owner:
            whose = f"belongs to spec '{live_owner}'" if live_owner else f"has no {naming.TAG_SPEC} tag"
            conflicts.append(Conflict(name, f"exists and {whose}, so it is not ours to change; left as is (rename or delete it by hand)"))
            continue
        if resource(live) != kind:
            conflicts.append(Conflict(name, f"exists as a {Resource(resource(live)).words}, not a {Resource(kind).words}; delete it (--prune after renaming, or by hand) and apply again"))
            continue
        diffs = config_diff(alarm, live, window_reported=window_reported)
        if not window_reported and EVALUATION_WINDOW not in live and _window(alarm.get(EVALUATION_WINDOW)):
            unchecked_windows.append(name)
        to_set, to_remove = tag_diff(tag_dict(alarm.get("Tags")), tag_dict(live.get("Tags")))
        if not diffs and not to_set and not to_remove:
            unchanged += 1
            continue
        updates.append(
            Change(
                Action.UPDATE if diffs else Action.RETAG,
                name,
                kind,
                alarm=alarm,
                arn=live.get("AlarmArn"),
                diffs=diffs,
                tags_to_set=to_set,
                tags_to_remove=to_remove,
                depth=depth,
            )
        )

    if unchecked_windows:
        warnings.append(
            f"{len(unchecked_windows)} alarm{'s' if len(unchecked_windows) != 1 else ''} with a wall-clock evaluation window "
            f"(e.g. {unchecked_windows[0]}) not compared on it: this endpoint does not report EvaluationWindow back "
            "(the local emulator accepts it and forgets it)"
        )
    strays = [a for a in actual_alarms if a["AlarmName"] not in desired_names and owner_of(a) == owner]
    if prune:
        deletes = [Change(Action.DELETE, a["AlarmName"], resource(a), arn=a.get("AlarmArn"), depth=depths.get(a["AlarmName"], 0)) for a in strays]
    elif strays:
        warnings.append(
            f"{len(strays)} alarm{'s' if len(strays) != 1 else ''} of this spec no longer in it "
            f"(e.g. {strays[0]['AlarmName']}); --prune deletes {'them' if len(strays) != 1 else 'it'}"
        )

    detector_creates, detector_deletes, detector_warnings = _detector_changes(desired_alarms, actual_alarms, actual_detectors, owner, prune)
    warnings += detector_warnings
    dashboard_changes = _dashboard_changes(desired_dashboard, actual_dashboard, prune)
    if not dashboard_changes and desired_dashboard is not None:
        unchanged += 1

    def writes_first(change: Change) -> tuple:
        # Metric alarms, then composites from the lowest level up: every alarm a composite names exists first.
        return (change.resource == Resource.COMPOSITE_ALARM.value, change.depth)

    creates.sort(key=writes_first)
    updates.sort(key=writes_first)
    # Deletes in the reverse order: composites from the top down, then metric alarms, then detectors.
    deletes.sort(key=lambda c: (c.resource != Resource.COMPOSITE_ALARM.value, -c.depth))
    # Creates before deletes: a renamed queue is watched by the new alarm before the old one goes.
    changes = detector_creates + creates + updates + dashboard_changes + deletes + detector_deletes
    return Plan(tuple(changes), tuple(conflicts), tuple(warnings), unchanged)


def _detector_changes(
    desired_alarms: Sequence[Alarm], actual_alarms: Sequence[Mapping], actual_detectors: Sequence[Mapping], owner: str, prune: bool
) -> tuple[list[Change], list[Change], list[str]]:
    """Detectors the desired bands need and do not have; those only our own alarms used, no longer needed."""
    live = {detector_key(d): d for d in actual_detectors}
    wanted = {detector_key(d): d for d in anomaly_detectors(desired_alarms)}
    creates = [Change(Action.CREATE, key, Resource.ANOMALY_DETECTOR.value, detector=d) for key, d in wanted.items() if key not in live]
    ours = {detector_key(d) for d in anomaly_detectors(a for a in actual_alarms if owner_of(a) == owner)}
    # A detector some alarm of another owner (or no owner) still uses is never ours to delete.
    theirs = {detector_key(d) for d in anomaly_detectors(a for a in actual_alarms if owner_of(a) != owner)}
    unused = sorted(k for k in ours if k in live and k not in wanted and k not in theirs)
    if not prune:
        warning = [f"{len(unused)} anomaly detector{'s' if len(unused) != 1 else ''} of this spec no longer used (e.g. {unused[0]}); --prune deletes {'them' if len(unused) != 1 else 'it'}"] if unused else []
        return creates, [], warning
    return creates, [Change(Action.DELETE, key, Resource.ANOMALY_DETECTOR.value, detector=live[key]) for key in unused], []


def _dashboard_changes(desired: Dashboard | None, actual: Dashboard | None, prune: bool) -> list[Change]:
    if desired is None:
        if actual is not None and prune:
            return [Change(Action.DELETE, actual[0], resource=Resource.DASHBOARD.value)]
        return []
    name, body = desired
    if actual is None:
        return [Change(Action.CREATE, name, resource=Resource.DASHBOARD.value, body=body)]
    if _canonical_json(body) == _canonical_json(actual[1]):
        return []
    old_widgets, new_widgets = len(actual[1].get("widgets", ())), len(body.get("widgets", ()))
    diff = FieldDiff("widgets", f"{old_widgets} widgets", f"{new_widgets} widgets (body differs)")
    return [Change(Action.UPDATE, name, resource=Resource.DASHBOARD.value, body=body, diffs=(diff,))]


# ---------------------------------------------------------------- silent alarms

def silent_alarm_warnings(desired_alarms: Sequence[Alarm], published: Iterable[tuple]) -> list[str]:
    """Warn about alarms whose metric (namespace, name, dimensions) nobody has published.

    ListMetrics only knows metrics with data in the last two weeks; when a namespace has nothing
    at all, one line says so (the collector has not run yet) instead of one per alarm.
    A metric published only when non-zero (Metric.omit_zero) is rightly absent while all is well:
    its alarm is not silent, unless missing data is not treated as not breaching.
    """
    published = set(published)
    namespaces_seen = {ns for ns, _, _ in published}
    silent_by_ns: dict[str, list[Alarm]] = {}
    warnings = []
    for alarm in metric_alarms(desired_alarms):
        metric = alarm_metric(alarm)
        known = metrics.BY_NAME.get(metric[1])
        if known is not None and known.omit_zero:
            treat = alarm.get("TreatMissingData", "missing")
            if treat != "notBreaching":
                warnings.append(
                    f"alarm {alarm['AlarmName']} watches {metric[1]}, which is published only when not 0: with "
                    f"TreatMissingData={treat} a run without errors reads as missing data, not as 0; use notBreaching"
                )
        elif metric not in published:
            silent_by_ns.setdefault(metric[0], []).append(alarm)
    for ns, alarms in sorted(silent_by_ns.items()):
        if ns not in namespaces_seen:
            warnings.append(
                f"no metric in namespace {ns} has data yet (ListMetrics): {len(alarms)} alarm{'s' if len(alarms) != 1 else ''} "
                "cannot fire until the collector publishes"
            )
            continue
        for alarm in alarms:
            _, metric_name, dims = alarm_metric(alarm)
            where = ", ".join(f"{k}={v}" for k, v in dims)
            warnings.append(f"alarm {alarm['AlarmName']} watches {metric_name} ({where}), which has no data in the last two weeks (ListMetrics): check the name and dimensions, or it can never fire")
    return warnings
