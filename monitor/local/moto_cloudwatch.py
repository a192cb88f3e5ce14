"""What moto 5.2 lacks of CloudWatch, added to its own backend: composite alarms and anomaly detectors.

moto answers PutCompositeAlarm and PutAnomalyDetector with "has not been implemented"
(shared/docs/aws-facts.md). `install()` adds them to moto's CloudWatch response class and backend,
in-process, so the tests (moto.mock_aws and the moto server alike) and the demo exercise the real
boto3 calls end to end. The rules AWS enforces that make order matter are enforced here too:
- PutCompositeAlarm fails when an alarm its AlarmRule or ActionsSuppressor names does not exist;
- DeleteAlarms fails, deleting nothing, when a composite that is not being deleted names one of
  the alarms (AWS: an alarm a composite depends on cannot be deleted);
- DescribeAlarms returns composite alarms only when AlarmTypes asks for them (AWS's default is
  metric alarms only; moto returns both).
Every write is also appended to `calls(backend)`, so a test can check the order itself.
"""

from __future__ import annotations

import re
from typing import Any

# Alarm names inside an AlarmRule: ALARM(name), OK("name"), INSUFFICIENT_DATA(arn).
_CHILD = re.compile(r'\b(?:ALARM|OK|INSUFFICIENT_DATA)\(\s*("?)(.+?)\1\s*\)')
_ARN_NAME = re.compile(r"arn:aws[a-z-]*:cloudwatch:[^:]*:[^:]*:alarm:(.+)")
DETECTOR_STATE = "PENDING_TRAINING"  # what a new detector reports until CloudWatch has trained it

_installed = False


def _name(reference: str) -> str:
    match = _ARN_NAME.fullmatch(reference)
    return match.group(1) if match else reference


def children(rule: str, suppressor: str | None = None) -> list[str]:
    """Alarm names a composite depends on: those in its rule, then its suppressor."""
    names = [_name(m.group(2)) for m in _CHILD.finditer(rule or "")]
    if suppressor:
        names.append(_name(suppressor))
    return list(dict.fromkeys(names))


def calls(backend) -> list[tuple[str, str]]:
    """(operation, resource name) of every write this extension saw, in order."""
    if not hasattr(backend, "extension_calls"):
        backend.extension_calls = []
    return backend.extension_calls


def _detectors(backend) -> dict[str, dict]:
    if not hasattr(backend, "anomaly_detectors"):
        backend.anomaly_detectors = {}
    return backend.anomaly_detectors


def _detector_key(detector: dict) -> str:
    dims = ",".join(f"{d['Name']}={d['Value']}" for d in sorted(detector.get("Dimensions") or (), key=lambda d: d["Name"]))
    return f"{detector.get('Namespace')}/{detector.get('MetricName')}[{dims}]/{detector.get('Stat')}"


def install() -> None:
    """Add the missing operations to moto's CloudWatch (idempotent; moto must be importable)."""
    global _installed
    if _installed:
        return
    from moto.cloudwatch import responses
    from moto.cloudwatch.exceptions import ResourceNotFoundException, ValidationError
    from moto.core.responses import ActionResult, EmptyResult

    response_class = responses.CloudWatchResponse
    original_put = response_class.put_metric_alarm
    original_describe = response_class.describe_alarms
    original_delete = response_class.delete_alarms

    def put_metric_alarm(self) -> Any:
        result = original_put(self)
        calls(self.cloudwatch_backend).append(("PutMetricAlarm", self._get_param("AlarmName")))
        return result

    def put_composite_alarm(self) -> Any:
        backend = self.cloudwatch_backend
        name = self._get_param("AlarmName")
        rule = self._get_param("AlarmRule")
        suppressor = self._get_param("ActionsSuppressor")
        missing = [c for c in children(rule, suppressor) if c not in backend.alarms and c != name]
        if missing:
            raise ValidationError(f"Could not save the composite alarm as alarms {missing} in the alarm rule do not exist")
        actions_enabled = self._get_param("ActionsEnabled")
        alarm = backend.put_metric_alarm(
            name=name,
            namespace=None,
            metric_name=None,
            metric_data_queries=None,
            comparison_operator=None,
            evaluation_periods=None,
            datapoints_to_alarm=None,
            period=None,
            threshold=None,
            statistic=None,
            extended_statistic=None,
            description=self._get_param("AlarmDescription"),
            dimensions=[],
            alarm_actions=self._get_param("AlarmActions", []),
            ok_actions=self._get_param("OKActions", []),
            insufficient_data_actions=self._get_param("InsufficientDataActions", []),
            unit=None,
            actions_enabled=True if actions_enabled is None else actions_enabled,
            treat_missing_data=None,
            rule=rule,
            tags=self._get_param("Tags", []),
        )
        # The serializer finds CompositeAlarm members by their snake_case names.
        alarm.actions_suppressor = suppressor
        alarm.actions_suppressor_wait_period = self._get_param("ActionsSuppressorWaitPeriod")
        alarm.actions_suppressor_extension_period = self._get_param("ActionsSuppressorExtensionPeriod")
        calls(backend).append(("PutCompositeAlarm", name))
        return EmptyResult()

    def describe_alarms(self) -> Any:
        result = original_describe(self)
        types = self._get_param("AlarmTypes") or ["MetricAlarm"]
        data = result.result if hasattr(result, "result") else result
        if "CompositeAlarm" not in types:
            data["CompositeAlarms"] = []
        if "MetricAlarm" not in types:
            data["MetricAlarms"] = []
        return result

    def delete_alarms(self) -> Any:
        backend = self.cloudwatch_backend
        names = set(self._get_param("AlarmNames", []))
        for other in backend.alarms.values():
            if other.rule is None or other.name in names:
                continue
            needed = names.intersection(children(other.rule, getattr(other, "actions_suppressor", None)))
            if needed:
                raise ValidationError(f"Alarms {sorted(needed)} cannot be deleted: composite alarm {other.name} depends on them")
        result = original_delete(self)
        calls(backend).extend(("DeleteAlarms", n) for n in self._get_param("AlarmNames", []))
        return result

    def _detector_param(self) -> dict:
        single = self._get_param("SingleMetricAnomalyDetector")
        if single:
            return dict(single)
        return {k: self._get_param(k) for k in ("Namespace", "MetricName", "Dimensions", "Stat")}

    def put_anomaly_detector(self) -> Any:
        detector = _detector_param(self)
        if not detector.get("Namespace") or not detector.get("MetricName") or not detector.get("Stat"):
            raise ValidationError("SingleMetricAnomalyDetector needs Namespace, MetricName and Stat")
        key = _detector_key(detector)
        _detectors(self.cloudwatch_backend)[key] = {**detector, "Dimensions": list(detector.get("Dimensions") or [])}
        calls(self.cloudwatch_backend).append(("PutAnomalyDetector", key))
        return EmptyResult()

    def delete_anomaly_detector(self) -> Any:
        key = _detector_key(_detector_param(self))
        if _detectors(self.cloudwatch_backend).pop(key, None) is None:
            raise ResourceNotFoundException("Unknown")
        calls(self.cloudwatch_backend).append(("DeleteAnomalyDetector", key))
        return EmptyResult()

    def describe_anomaly_detectors(self) -> Any:
        namespace, metric = self._get_param("Namespace"), self._get_param("MetricName")
        found = [
            {**d, "SingleMetricAnomalyDetector": dict(d), "StateValue": DETECTOR_STATE}
            for d in _detectors(self.cloudwatch_backend).values()
            if (not namespace or d["Namespace"] == namespace) and (not metric or d["MetricName"] == metric)
        ]
        return ActionResult({"AnomalyDetectors": found})

    response_class.put_metric_alarm = put_metric_alarm
    response_class.put_composite_alarm = put_composite_alarm
    response_class.describe_alarms = describe_alarms
    response_class.delete_alarms = delete_alarms
    response_class.put_anomaly_detector = put_anomaly_detector
    response_class.delete_anomaly_detector = delete_anomaly_detector
    response_class.describe_anomaly_detectors = describe_anomaly_detectors
    _installed = True
