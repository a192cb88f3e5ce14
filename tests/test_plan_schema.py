"""`plan --output json` and `apply --output json` against their documented, versioned JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import jsonschema
import pytest

from monitor.cloudwatch.plan import JSON_SCHEMA_VERSION
from monitor.commands.cli import main
from monitor.errors import ExitStatus
from monitor.spec import naming

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "plan-output.schema.json").read_text())
SPEC = str(ROOT / "alarms.yaml")
PREFIX = "hokusai-queues-development-"


def run(capsys, endpoint: str, *args: str) -> tuple[ExitStatus, dict]:
    status = main([*args, "--spec", SPEC, "--env", "development", "--endpoint-url", endpoint, "--output", "json", "--no-metric-check"])
    out = capsys.readouterr()
    return status, json.loads(out.out)


def undocumented(instance, schema: dict, path: str = "$") -> list[str]:
    """Keys in the output that the schema does not name (the schema lets consumers ignore them; we document them all)."""
    if "$ref" in schema:
        schema = SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    found = []
    if isinstance(instance, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, value in instance.items():
            if properties is not None and key in properties:
                found += undocumented(value, properties[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                found += undocumented(value, extra, f"{path}.{key}")
            elif properties is not None:
                found.append(f"{path}.{key}")
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(instance):
            found += undocumented(item, schema["items"], f"{path}[{i}]")
    return found


def check(document: dict) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(document, SCHEMA, cls=jsonschema.Draft202012Validator)
    assert undocumented(document, SCHEMA) == []
    assert document["schema_version"] == JSON_SCHEMA_VERSION == SCHEMA["properties"]["schema_version"]["const"]


def test_every_action_and_a_conflict_match_the_schema(moto_server, capsys):
    status, first = run(capsys, moto_server, "plan", "--detailed-exitcode")
    assert status == ExitStatus.CHANGES_PENDING
    check(first)
    assert first["plan"]["summary"]["create"] == first["alarms"] + 1 and {c["resource"] for c in first["plan"]["changes"]} == {"alarm", "composite_alarm", "dashboard"}

    status, applied = run(capsys, moto_server, "apply", "--yes", "--write-rate", "0")
    assert status == ExitStatus.SUCCESS
    check(applied)
    assert len(applied["report"]) == applied["alarms"] + 1 and all(r["ok"] for r in applied["report"])

    # Drift of every kind: a threshold, a hand-made tag, a leftover owned alarm, an alarm whose ownership tag was removed.
    cw = boto3.client("cloudwatch", endpoint_url=moto_server)
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]}
    names = sorted(alarms)
    drifted = {k: v for k, v in alarms[names[0]].items() if k in ("AlarmName", "Namespace", "MetricName", "Dimensions", "Period", "Statistic", "EvaluationPeriods", "ComparisonOperator", "Metrics")}
    cw.put_metric_alarm(**{**drifted, "Threshold": 12345.0})
    cw.tag_resource(ResourceARN=alarms[names[1]]["AlarmArn"], Tags=[{"Key": "owner", "Value": "bob"}])
    owner_tags = [{"Key": naming.TAG_SPEC, "Value": "hokusai-queues/development"}, {"Key": naming.TAG_MANAGED_BY, "Value": naming.TOOL}]
    cw.put_metric_alarm(AlarmName=f"{PREFIX}old-queue", Namespace="X", MetricName="Y", Period=60, Statistic="Maximum", EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold", Tags=owner_tags)
    cw.untag_resource(ResourceARN=alarms[names[2]]["AlarmArn"], TagKeys=[naming.TAG_SPEC])

    status, drift = run(capsys, moto_server, "plan", "--detailed-exitcode", "--prune")
    assert status == ExitStatus.CHANGES_PENDING
    check(drift)
    by_action = {c["action"]: c for c in drift["plan"]["changes"]}
    assert set(by_action) == {"update", "retag", "delete"}
    assert by_action["update"]["diff"]["Threshold"] == {"old": 12345, "new": alarms[names[0]]["Threshold"]}
    assert by_action["retag"]["tags_to_remove"] == ["owner"]
    assert [c["name"] for c in drift["plan"]["conflicts"]] == [names[2]]


def test_the_check_finds_an_undocumented_field():
    document = {"schema_version": 1, "plan": {"changes": [{"action": "create", "resource": "alarm", "name": "x", "surprise": 1}]}, "new_top": True}
    assert undocumented(document, SCHEMA) == ["$.plan.changes[0].surprise", "$.new_top"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**document, "schema_version": 2}, SCHEMA, cls=jsonschema.Draft202012Validator)
