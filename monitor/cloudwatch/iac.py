"""What `apply` writes, as infrastructure as code: a CloudFormation template or Terraform JSON (pure).

One source, three outputs: both take the rendered alarms (PutMetricAlarm parameters, or
PutCompositeAlarm parameters when a dict has an "AlarmRule") and the rendered dashboard, and carry
every parameter over unchanged; the Terraform side only renames them to the provider's arguments.
Anomaly detectors are derived from the alarms whose metric math uses ANOMALY_DETECTION_BAND.

`cloudformation_template(alarms, dashboard, description=...)` -> a template (dict; JSON or YAML).
`terraform_config(alarms, dashboard)` -> a `*.tf.json` document (dict).
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
from typing import Any, Callable, Iterable, Mapping, Sequence

from monitor.cloudwatch.alarms import Alarm, BandError, alarm_detectors, composite_children, detector_key
from monitor.cloudwatch.dashboard import DEFAULT_ACCOUNT_ID, DEFAULT_PARTITION
from monitor.cloudwatch.rules import is_composite, rule_children  # noqa: F401 (rule_children re-exported)
from monitor.errors import UsageError

Dashboard = tuple[str, dict]  # (name, PutDashboard body)

CFN_MAX_RESOURCES = 500  # CloudFormation quota: resources declared in one template
CFN_MAX_TEMPLATE_BYTES = 1_000_000  # CloudFormation quota "1 MB" for a template body in S3 (51,200 bytes inline)
CFN_MAX_LOGICAL_ID = 255  # CloudFormation logical IDs: A-Za-z0-9, up to 255 characters
HASH_CHARS = 8  # hex digits of sha256(name) that keep a shortened or sanitised identifier unique

CFN_METRIC_ALARM = "AWS::CloudWatch::Alarm"
CFN_COMPOSITE_ALARM = "AWS::CloudWatch::CompositeAlarm"
CFN_DASHBOARD = "AWS::CloudWatch::Dashboard"
CFN_ANOMALY_DETECTOR = "AWS::CloudWatch::AnomalyDetector"

TF_METRIC_ALARM = "aws_cloudwatch_metric_alarm"
TF_COMPOSITE_ALARM = "aws_cloudwatch_composite_alarm"
TF_DASHBOARD = "aws_cloudwatch_dashboard"

# PutMetricAlarm / PutCompositeAlarm parameter -> aws_cloudwatch_*_alarm argument, where it is a
# plain rename. Dimensions, Tags, Metrics and ActionsSuppressor* change shape (see below).
TF_ALARM_ARGUMENTS = {
    "AlarmName": "alarm_name",
    "AlarmDescription": "alarm_description",
    "ActionsEnabled": "actions_enabled",
    "AlarmActions": "alarm_actions",
    "OKActions": "ok_actions",
    "InsufficientDataActions": "insufficient_data_actions",
    "Namespace": "namespace",
    "MetricName": "metric_name",
    "Period": "period",
    "Statistic": "statistic",
    "ExtendedStatistic": "extended_statistic",
    "Unit": "unit",
    "EvaluationPeriods": "evaluation_periods",
    "DatapointsToAlarm": "datapoints_to_alarm",
    "Threshold": "threshold",
    "ThresholdMetricId": "threshold_metric_id",
    "ComparisonOperator": "comparison_operator",
    "TreatMissingData": "treat_missing_data",
    "EvaluateLowSampleCountPercentile": "evaluate_low_sample_count_percentiles",
    "AlarmRule": "alarm_rule",
}
# MetricDataQuery -> metric_query block argument.
TF_QUERY_ARGUMENTS = {"Id": "id", "Expression": "expression", "Label": "label", "ReturnData": "return_data", "Period": "period", "AccountId": "account_id"}
# MetricStat (and its Metric) -> metric block argument inside metric_query.
TF_METRIC_ARGUMENTS = {"Namespace": "namespace", "MetricName": "metric_name", "Period": "period", "Stat": "stat", "Unit": "unit"}
# PutCompositeAlarm's suppressor parameters -> the actions_suppressor block.
TF_SUPPRESSOR_ARGUMENTS = {"ActionsSuppressor": "alarm", "ActionsSuppressorWaitPeriod": "wait_period", "ActionsSuppressorExtensionPeriod": "extension_period"}

# The alarm ARNs of the dashboard's alarm status widgets: render_dashboard's placeholder account.
_PLACEHOLDER_ARN = re.compile(rf"^arn:{DEFAULT_PARTITION}:cloudwatch:([a-z0-9-]+):{DEFAULT_ACCOUNT_ID}:alarm:(.+)$")


class Format(str, enum.Enum):
    """What `render --format` prints."""

    API = "api"  # the PutMetricAlarm parameters and the PutDashboard body, as apply sends them
    CLOUDFORMATION = "cloudformation"
    TERRAFORM = "terraform"


class IacError(UsageError):
    """The alarms cannot be expressed in the requested format (too many, or an unknown parameter)."""


_children = composite_children  # the alarm names a composite needs to exist first


# ---------------------------------------------------------------- anomaly detectors


def anomaly_detectors(alarms: Iterable[Alarm]) -> list[dict]:
    """One SingleMetricAnomalyDetector per distinct metric and statistic under an ANOMALY_DETECTION_BAND.

    Each comes with "Alarms": the names of the alarms that use it (so they can depend on it).
    """
    found: dict[str, dict] = {}
    for alarm in alarms:
        try:
            detectors = alarm_detectors(alarm)
        except BandError as exc:
            raise IacError(str(exc)) from None
        for detector in detectors:
            found.setdefault(detector_key(detector), {**detector, "Alarms": []})["Alarms"].append(alarm["AlarmName"])
    return list(found.values())


def _detector_name(detector: Mapping) -> str:
    dims = ",".join(f"{d['Name']}={d['Value']}" for d in detector["Dimensions"])
    return f"{detector['Namespace']}/{detector['MetricName']}[{dims}]/{detector['Stat']}"


# ---------------------------------------------------------------- identifiers


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:HASH_CHARS]


def logical_id(kind: str, name: str) -> str:
    """A CloudFormation logical ID: Kind + the name in CamelCase + a hash of the exact name (stable, unique)."""
    words = re.split(r"[^A-Za-z0-9]+", name)
    readable = "".join(w[:1].upper() + w[1:] for w in words)
    readable = readable[: CFN_MAX_LOGICAL_ID - len(kind) - HASH_CHARS]
    return f"{kind}{readable}{_digest(name)}"


def terraform_name(name: str) -> str:
    """A Terraform resource name: the alarm name itself when it is a valid identifier, else sanitised plus a hash."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
        return name
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", name)
    if not re.match(r"[A-Za-z_]", cleaned):
        cleaned = "_" + cleaned
    return f"{cleaned}_{_digest(name)}"


# ---------------------------------------------------------------- CloudFormation


def cfn_escape(text: str) -> str:
    """A literal string inside Fn::Sub: '${' is written '${!'."""
    return text.replace("${", "${!")


def _dashboard_text(body: dict, arn_prefix: Callable[[str], str], escape: Callable[[str], str]) -> tuple[str, bool]:
    """The body as JSON text for a template language: literal text escaped, each placeholder alarm
    ARN's "arn:aws:cloudwatch:REGION:123456789012:alarm:" replaced by arn_prefix(REGION).

    Returns (text, whether any ARN was replaced).
    """
    marker = "\0"  # cannot occur in the body: json.dumps writes it as \u0000

    def mark(value):
        if isinstance(value, dict):
            return {k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        match = _PLACEHOLDER_ARN.match(value) if isinstance(value, str) else None
        return f"{marker}{match.group(1)}{marker}{match.group(2)}" if match else value

    parts = json.dumps(mark(body), separators=(",", ":")).split(json.dumps(marker)[1:-1])
    # parts alternate: literal text, a region, literal text (alarm name onwards), a region, ...
    return "".join(arn_prefix(part) if i % 2 else escape(part) for i, part in enumerate(parts)), len(parts) > 1


def _cfn_dashboard_body(body: dict) -> Any:
    """The body as a string; alarm ARNs get the deploying account and partition through Fn::Sub."""
    text, substituted = _dashboard_text(body, lambda region: f"arn:${{AWS::Partition}}:cloudwatch:{region}:${{AWS::AccountId}}:alarm:", cfn_escape)
    return {"Fn::Sub": text} if substituted else json.dumps(body, separators=(",", ":"))


def cloudformation_template(alarms: Sequence[Alarm], dashboard: Dashboard | None, *, description: str) -> dict:
    """A template declaring exactly these alarms, their anomaly detectors and the dashboard."""
    resources: dict[str, dict] = {}
    ids = {a["AlarmName"]: logical_id("CompositeAlarm" if is_composite(a) else "Alarm", a["AlarmName"]) for a in alarms}
    detectors = anomaly_detectors(alarms)
    detector_ids: dict[str, list[str]] = {}
    for detector in detectors:
        detector_id = logical_id("AnomalyDetector", _detector_name(detector))
        properties = {"SingleMetricAnomalyDetector": {k: v for k, v in detector.items() if k != "Alarms" and v != []}}
        resources[detector_id] = {"Type": CFN_ANOMALY_DETECTOR, "Properties": properties}
        for name in detector["Alarms"]:
            detector_ids.setdefault(name, []).append(detector_id)
    for alarm in alarms:
        resource: dict[str, Any] = {"Type": CFN_COMPOSITE_ALARM if is_composite(alarm) else CFN_METRIC_ALARM}
        # A composite can be created only after its children exist: same-template children first.
        depends = detector_ids.get(alarm["AlarmName"], []) + [ids[c] for c in (_children(alarm) if is_composite(alarm) else ()) if c in ids]
        if depends:
            resource["DependsOn"] = depends
        resource["Properties"] = dict(alarm)  # the PutMetricAlarm / PutCompositeAlarm parameters as they are
        resources[ids[alarm["AlarmName"]]] = resource
    if dashboard is not None:
        name, body = dashboard
        resources[logical_id("Dashboard", name)] = {
            "Type": CFN_DASHBOARD,
            "Properties": {"DashboardName": name, "DashboardBody": _cfn_dashboard_body(body)},
        }
    if len(resources) > CFN_MAX_RESOURCES:
        raise IacError(
            f"{len(resources)} resources exceed CloudFormation's {CFN_MAX_RESOURCES} per template: "
            "render --format terraform instead, or split the spec"
        )
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Description": description, "Resources": resources}
    size = len(json.dumps(template, indent=2).encode())  # as `render --output json` prints it; YAML is smaller
    if size > CFN_MAX_TEMPLATE_BYTES:
        raise IacError(f"the template is {size:,} bytes, over CloudFormation's {CFN_MAX_TEMPLATE_BYTES:,}: render --format terraform instead, or split the spec")
    return template


# ---------------------------------------------------------------- Terraform


def tf_escape(value):
    """Terraform JSON reads every string as a template: '${' and '%{' are written '$${' and '%%{'."""
    if isinstance(value, str):
        return value.replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, list):
        return [tf_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: tf_escape(v) for k, v in value.items()}
    return value


def _tf_map(pairs: Iterable[Mapping], key: str, value: str) -> dict[str, str]:
    return {p[key]: p[value] for p in pairs}


def _unknown(alarm: Mapping, where: str, keys: Iterable[str]) -> IacError:
    return IacError(f"alarm {alarm['AlarmName']}: {where} {', '.join(sorted(keys))} has no Terraform argument here; nothing was rendered")


def _tf_query(alarm: Mapping, query: Mapping) -> dict:
    block = {}
    for key, value in query.items():
        if key in TF_QUERY_ARGUMENTS:
            block[TF_QUERY_ARGUMENTS[key]] = value
        elif key != "MetricStat":
            raise _unknown(alarm, "metric query field", [key])
    stat = query.get("MetricStat")
    if stat:
        metric = {"namespace": stat["Metric"]["Namespace"], "metric_name": stat["Metric"]["MetricName"]}
        if stat["Metric"].get("Dimensions"):
            metric["dimensions"] = _tf_map(stat["Metric"]["Dimensions"], "Name", "Value")
        extra = set(stat) - {"Metric", "Period", "Stat", "Unit"} | set(stat["Metric"]) - {"Namespace", "MetricName", "Dimensions"}
        if extra:
            raise _unknown(alarm, "MetricStat field", extra)
        metric.update({TF_METRIC_ARGUMENTS[k]: stat[k] for k in ("Period", "Stat", "Unit") if k in stat})
        block["metric"] = metric
    return block


def _tf_alarm(alarm: Mapping, addresses: Mapping[str, str]) -> dict:
    if "EvaluationWindow" in alarm:
        # The provider's aws_cloudwatch_metric_alarm has no evaluation-window argument (checked in
        # its schema, internal/service/cloudwatch/metric_alarm.go); AWS::CloudWatch::Alarm has one.
        raise IacError(
            f"alarm {alarm['AlarmName']}: evaluation_window wall_clock cannot be rendered for Terraform: the AWS "
            "provider's aws_cloudwatch_metric_alarm has no evaluation-window argument. Render --format cloudformation "
            "(AWS::CloudWatch::Alarm has EvaluationWindow) or create the alarms with `provision-alarms apply`; nothing was rendered"
        )
    arguments: dict[str, Any] = {}
    unknown = []
    for key, value in alarm.items():
        if key in TF_ALARM_ARGUMENTS:
            arguments[TF_ALARM_ARGUMENTS[key]] = value
        elif key == "Dimensions":
            arguments["dimensions"] = _tf_map(value, "Name", "Value")
        elif key == "Tags":
            arguments["tags"] = _tf_map(value, "Key", "Value")
        elif key == "Metrics":
            arguments["metric_query"] = [_tf_query(alarm, q) for q in value]
        elif key not in TF_SUPPRESSOR_ARGUMENTS or not is_composite(alarm):
            unknown.append(key)
    if unknown:
        raise _unknown(alarm, "parameter", unknown)
    if is_composite(alarm) and alarm.get("ActionsSuppressor"):
        arguments["actions_suppressor"] = {tf: alarm[api] for api, tf in TF_SUPPRESSOR_ARGUMENTS.items() if api in alarm}
    arguments = tf_escape(arguments)
    if is_composite(alarm):
        # Terraform creates in dependency order only when told: children before the composite.
        depends = [addresses[c] for c in _children(alarm) if c in addresses]
        if depends:
            arguments["depends_on"] = depends
    return arguments


def _tf_address(alarm: Mapping) -> str:
    return f"{TF_COMPOSITE_ALARM if is_composite(alarm) else TF_METRIC_ALARM}.{terraform_name(alarm['AlarmName'])}"


def terraform_config(alarms: Sequence[Alarm], dashboard: Dashboard | None) -> dict:
    """A *.tf.json document declaring exactly these alarms and the dashboard (hashicorp/aws provider).

    The provider has no anomaly detector resource: CloudWatch trains the model of an alarm's
    ANOMALY_DETECTION_BAND by itself when the alarm is put.
    """
    addresses = {a["AlarmName"]: _tf_address(a) for a in alarms}
    resources: dict[str, dict] = {}
    for alarm in alarms:
        kind, name = addresses[alarm["AlarmName"]].split(".", 1)
        resources.setdefault(kind, {})[name] = _tf_alarm(alarm, addresses)
    config: dict[str, Any] = {"//": "Rendered by provision-alarms render --format terraform; do not edit by hand."}
    if dashboard is not None:
        name, body = dashboard
        data_name = terraform_name(name)
        text, substituted = _tf_dashboard_body(body, data_name)
        resources[TF_DASHBOARD] = {data_name: {"dashboard_name": tf_escape(name), "dashboard_body": text}}
        if substituted:
            config["data"] = {"aws_caller_identity": {data_name: {}}, "aws_partition": {data_name: {}}}
    config["resource"] = resources
    return config


def _tf_dashboard_body(body: dict, data_name: str) -> tuple[str, bool]:
    """The body as a template string; alarm ARNs get the deploying account and partition."""
    return _dashboard_text(
        body,
        lambda region: (
            f"arn:${{data.aws_partition.{data_name}.partition}}:cloudwatch:{region}:"
            f"${{data.aws_caller_identity.{data_name}.account_id}}:alarm:"
        ),
        tf_escape,
    )


def render(fmt: Format, document: Mapping) -> dict:
    """The render document (spec, environment, alarms, dashboard) in the given format."""
    if fmt is Format.API:
        return dict(document)
    dashboard = (document["dashboard"]["name"], document["dashboard"]["body"]) if document.get("dashboard") else None
    if fmt is Format.CLOUDFORMATION:
        description = (
            f"CloudWatch alarms and dashboard of environment {document['environment']} of {os.path.basename(document['spec'])}, "
            "rendered by provision-alarms: change the spec, not this template"
        )
        return cloudformation_template(document["alarms"], dashboard, description=description)
    return terraform_config(document["alarms"], dashboard)
