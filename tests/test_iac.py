"""render --format cloudformation | terraform: one source, three outputs, and plan/status on what they create."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable

import boto3
import pytest
import yaml

from monitor.cloudwatch import iac
from monitor.commands.cli import main
from monitor.errors import ExitStatus, UsageError

ROOT = Path(__file__).resolve().parent.parent
SPEC = str(ROOT / "alarms.yaml")
MOTO_ACCOUNT = "123456789012"  # moto's account, also render_dashboard's placeholder

# The hashicorp/aws provider's arguments, written down from its documentation (not taken from
# monitor.cloudwatch.iac), so a wrong name on either side shows up as a difference.
TF_ALARM_TO_API = {
    "alarm_name": "AlarmName",
    "alarm_description": "AlarmDescription",
    "actions_enabled": "ActionsEnabled",
    "alarm_actions": "AlarmActions",
    "ok_actions": "OKActions",
    "insufficient_data_actions": "InsufficientDataActions",
    "namespace": "Namespace",
    "metric_name": "MetricName",
    "period": "Period",
    "statistic": "Statistic",
    "extended_statistic": "ExtendedStatistic",
    "unit": "Unit",
    "evaluation_periods": "EvaluationPeriods",
    "datapoints_to_alarm": "DatapointsToAlarm",
    "threshold": "Threshold",
    "threshold_metric_id": "ThresholdMetricId",
    "comparison_operator": "ComparisonOperator",
    "treat_missing_data": "TreatMissingData",
    "evaluate_low_sample_count_percentiles": "EvaluateLowSampleCountPercentile",
    "alarm_rule": "AlarmRule",
}
TF_QUERY_TO_API = {"id": "Id", "expression": "Expression", "label": "Label", "return_data": "ReturnData", "period": "Period", "account_id": "AccountId"}
TF_SUPPRESSOR_TO_API = {"alarm": "ActionsSuppressor", "wait_period": "ActionsSuppressorWaitPeriod", "extension_period": "ActionsSuppressorExtensionPeriod"}


def tf_literal(value):
    """What Terraform makes of a JSON string template without interpolations."""
    if isinstance(value, str):
        assert not re.search(r"(?<!\$)\$\{|(?<!%)%\{", value.replace("$${", "").replace("%%{", "")), value
        return value.replace("$${", "${").replace("%%{", "%{")
    if isinstance(value, list):
        return [tf_literal(v) for v in value]
    if isinstance(value, dict):
        return {k: tf_literal(v) for k, v in value.items()}
    return value


def api_from_terraform(arguments: dict) -> dict:
    """PutMetricAlarm / PutCompositeAlarm parameters from an aws_cloudwatch_*_alarm resource."""
    api: dict = {}
    for key, value in tf_literal({k: v for k, v in arguments.items() if k != "depends_on"}).items():
        if key == "dimensions":
            api["Dimensions"] = [{"Name": k, "Value": v} for k, v in value.items()]
        elif key == "tags":
            api["Tags"] = [{"Key": k, "Value": v} for k, v in value.items()]
        elif key == "actions_suppressor":
            api.update({TF_SUPPRESSOR_TO_API[k]: v for k, v in value.items()})
        elif key == "metric_query":
            api["Metrics"] = []
            for block in value:
                query = {TF_QUERY_TO_API[k]: v for k, v in block.items() if k != "metric"}
                if "metric" in block:
                    m = block["metric"]
                    metric = {"Namespace": m["namespace"], "MetricName": m["metric_name"]}
                    if "dimensions" in m:
                        metric["Dimensions"] = [{"Name": k, "Value": v} for k, v in m["dimensions"].items()]
                    query["MetricStat"] = {"Metric": metric, **{api_key: m[k] for k, api_key in (("period", "Period"), ("stat", "Stat"), ("unit", "Unit")) if k in m}}
                api["Metrics"].append(query)
        else:
            api[TF_ALARM_TO_API[key]] = value
    return api


def api_key_order(alarm: dict, reference: dict) -> dict:
    """The same dict with keys in the reference's order (dict equality ignores order; this is for messages)."""
    return {k: alarm[k] for k in reference if k in alarm} | {k: v for k, v in alarm.items() if k not in reference}


def resolve_cfn_sub(value, variables: dict[str, str]) -> str:
    """Fn::Sub as CloudFormation evaluates it, for the pseudo parameters given."""
    if isinstance(value, str):
        return value
    text = value["Fn::Sub"]

    def substitute(match):
        if match.group(1).startswith("!"):
            return "${" + match.group(1)[1:] + "}"
        return variables[match.group(1)]

    return re.sub(r"\$\{([^}]*)\}", substitute, text)


def resolve_tf_template(text: str, variables: dict[str, str]) -> str:
    """A Terraform string template whose interpolations are the given references."""
    out = re.sub(r"(?<!\$)\$\{([^}]*)\}", lambda m: variables[m.group(1)], text)
    return out.replace("$${", "${").replace("%%{", "%{")


# ---------------------------------------------------------------- literal alarms of every shape

TAGS = [{"Key": "managed-by", "Value": "provision-alarms"}, {"Key": "provision-alarms:spec", "Value": "demo/test"}]
DEPTH = {
    "AlarmName": "demo-test-jobs-queue-depth-critical",
    "AlarmDescription": "Depth ${not a substitution} and %{ not a directive }",
    "ActionsEnabled": True,
    "AlarmActions": ["arn:aws:sns:us-east-1:111122223333:pager"],
    "OKActions": [],
    "InsufficientDataActions": [],
    "Namespace": "Demo/Queues",
    "MetricName": "QueueDepth",
    "Dimensions": [{"Name": "Environment", "Value": "test"}, {"Name": "Queue", "Value": "jobs"}],
    "Period": 60,
    "Statistic": "Maximum",
    "EvaluationPeriods": 5,
    "DatapointsToAlarm": 3,
    "Threshold": 1000.0,
    "ComparisonOperator": "GreaterThanThreshold",
    "TreatMissingData": "missing",
    "Tags": TAGS,
}
LAG_P99 = {**{k: v for k, v in DEPTH.items() if k != "Statistic"}, "AlarmName": "demo-test-jobs:lag p99", "MetricName": "OldestMessageAgeSeconds", "ExtendedStatistic": "p99"}
ANOMALY = {
    "AlarmName": "demo-test-jobs-depth-anomaly",
    "ActionsEnabled": True,
    "AlarmActions": [],
    "Metrics": [
        {
            "Id": "m1",
            "MetricStat": {"Metric": {"Namespace": "Demo/Queues", "MetricName": "QueueDepth", "Dimensions": DEPTH["Dimensions"]}, "Period": 300, "Stat": "Average"},
            "ReturnData": True,
        },
        {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "Label": "expected depth", "ReturnData": True},
    ],
    "ThresholdMetricId": "ad1",
    "EvaluationPeriods": 3,
    "DatapointsToAlarm": 2,
    "ComparisonOperator": "GreaterThanUpperThreshold",
    "TreatMissingData": "ignore",
    "Tags": TAGS,
}
COMPOSITE = {
    "AlarmName": "demo-test-jobs-stuck",
    "AlarmRule": f'ALARM("{DEPTH["AlarmName"]}") AND ALARM({ANOMALY["AlarmName"]}) AND NOT OK(some-alarm-elsewhere)',
    "AlarmDescription": "Depth high and unusual",
    "ActionsEnabled": True,
    "AlarmActions": ["arn:aws:sns:us-east-1:111122223333:pager"],
    "OKActions": [],
    "InsufficientDataActions": [],
    "ActionsSuppressor": "demo-test-maintenance",
    "ActionsSuppressorWaitPeriod": 120,
    "ActionsSuppressorExtensionPeriod": 300,
    "Tags": TAGS,
}
LITERALS = [DEPTH, LAG_P99, ANOMALY, COMPOSITE]
DASHBOARD = (
    "demo-test",
    {
        "widgets": [
            {"type": "text", "x": 0, "y": 0, "width": 24, "height": 2, "properties": {"markdown": "Cost ${1} a day"}},
            {
                "type": "alarm",
                "x": 0,
                "y": 2,
                "width": 24,
                "height": 3,
                "properties": {"title": "Alarms", "alarms": [f"arn:aws:cloudwatch:eu-west-1:{MOTO_ACCOUNT}:alarm:{DEPTH['AlarmName']}"]},
            },
        ]
    },
)


def by_type(template: dict, kind: str) -> dict[str, dict]:
    return {rid: r for rid, r in template["Resources"].items() if r["Type"] == kind}


def test_cloudformation_properties_are_the_api_parameters_of_every_shape():
    template = iac.cloudformation_template(LITERALS, DASHBOARD, description="test")
    alarms = {r["Properties"]["AlarmName"]: r for r in template["Resources"].values() if r["Type"] in (iac.CFN_METRIC_ALARM, iac.CFN_COMPOSITE_ALARM)}
    assert {n: r["Properties"] for n, r in alarms.items()} == {a["AlarmName"]: a for a in LITERALS}
    assert alarms[COMPOSITE["AlarmName"]]["Type"] == iac.CFN_COMPOSITE_ALARM
    assert {r["Type"] for n, r in alarms.items() if n != COMPOSITE["AlarmName"]} == {iac.CFN_METRIC_ALARM}
    assert all(re.fullmatch(r"[A-Za-z0-9]{1,255}", rid) for rid in template["Resources"])


def test_composite_depends_on_its_children_in_the_template_only():
    template = iac.cloudformation_template(LITERALS, None, description="test")
    ids = {r["Properties"].get("AlarmName"): rid for rid, r in template["Resources"].items()}
    composite = template["Resources"][ids[COMPOSITE["AlarmName"]]]
    # Two children here; some-alarm-elsewhere and the suppressor live outside this template.
    assert composite["DependsOn"] == [ids[DEPTH["AlarmName"]], ids[ANOMALY["AlarmName"]]]
    assert iac.rule_children(COMPOSITE["AlarmRule"]) == [DEPTH["AlarmName"], ANOMALY["AlarmName"], "some-alarm-elsewhere"]


def test_children_named_by_arn_are_depended_on_too():
    arn = f"arn:aws:cloudwatch:us-east-1:111122223333:alarm:{DEPTH['AlarmName']}"
    by_arn = {
        **COMPOSITE,
        "AlarmRule": f"ALARM({arn}) OR ALARM(\"{ANOMALY['AlarmName']}\")",
        "ActionsSuppressor": f"arn:aws:cloudwatch:us-east-1:111122223333:alarm:{ANOMALY['AlarmName']}",
    }
    assert iac.rule_children(by_arn["AlarmRule"]) == [DEPTH["AlarmName"], ANOMALY["AlarmName"]]
    template = iac.cloudformation_template([DEPTH, ANOMALY, by_arn], None, description="test")
    ids = {r["Properties"].get("AlarmName"): rid for rid, r in template["Resources"].items()}
    assert template["Resources"][ids[by_arn["AlarmName"]]]["DependsOn"] == [ids[DEPTH["AlarmName"]], ids[ANOMALY["AlarmName"]]]
    config = iac.terraform_config([DEPTH, ANOMALY, by_arn], None)
    composite = config["resource"][iac.TF_COMPOSITE_ALARM][by_arn["AlarmName"]]
    assert composite["depends_on"] == [f"aws_cloudwatch_metric_alarm.{DEPTH['AlarmName']}", f"aws_cloudwatch_metric_alarm.{ANOMALY['AlarmName']}"]


def test_a_malformed_alarm_rule_is_refused_with_its_position():
    broken = {**COMPOSITE, "AlarmRule": "ALARM(a) AND"}
    with pytest.raises(UsageError, match="AlarmRule at character 13"):
        iac.cloudformation_template([broken], None, description="test")


def test_anomaly_band_alarms_get_one_detector_each_metric():
    twin = {**copy.deepcopy(ANOMALY), "AlarmName": "demo-test-jobs-depth-anomaly-low", "ComparisonOperator": "LessThanLowerThreshold"}
    template = iac.cloudformation_template([*LITERALS, twin], None, description="test")
    detectors = by_type(template, iac.CFN_ANOMALY_DETECTOR)
    assert list(detectors.values()) == [
        {
            "Type": "AWS::CloudWatch::AnomalyDetector",
            "Properties": {
                "SingleMetricAnomalyDetector": {"Namespace": "Demo/Queues", "MetricName": "QueueDepth", "Dimensions": DEPTH["Dimensions"], "Stat": "Average"}
            },
        }
    ]
    (detector_id,) = detectors
    users = [r for r in template["Resources"].values() if detector_id in r.get("DependsOn", ())]
    assert sorted(r["Properties"]["AlarmName"] for r in users) == [ANOMALY["AlarmName"], twin["AlarmName"]]


def test_anomaly_band_without_its_metric_is_an_error():
    broken = {**ANOMALY, "Metrics": [ANOMALY["Metrics"][1]]}
    with pytest.raises(iac.IacError, match=r"ANOMALY_DETECTION_BAND\(m1\) needs a metric query 'm1'"):
        iac.cloudformation_template([broken], None, description="test")


def test_cloudformation_dashboard_gets_the_deploying_account_and_keeps_literal_dollars():
    template = iac.cloudformation_template([DEPTH], DASHBOARD, description="test")
    (dashboard,) = by_type(template, iac.CFN_DASHBOARD).values()
    assert dashboard["Properties"]["DashboardName"] == "demo-test"
    body = dashboard["Properties"]["DashboardBody"]
    assert "${AWS::AccountId}" in body["Fn::Sub"] and MOTO_ACCOUNT not in body["Fn::Sub"]
    resolved = json.loads(resolve_cfn_sub(body, {"AWS::AccountId": "444455556666", "AWS::Partition": "aws-cn"}))
    assert resolved["widgets"][1]["properties"]["alarms"] == [f"arn:aws-cn:cloudwatch:eu-west-1:444455556666:alarm:{DEPTH['AlarmName']}"]
    assert resolved["widgets"][0]["properties"]["markdown"] == "Cost ${1} a day"
    assert json.loads(resolve_cfn_sub(body, {"AWS::AccountId": MOTO_ACCOUNT, "AWS::Partition": "aws"})) == DASHBOARD[1]


def test_terraform_maps_back_to_the_api_parameters_of_every_shape():
    config = iac.terraform_config(LITERALS, DASHBOARD)
    resources = config["resource"]
    back = [api_from_terraform(r) for kind in (iac.TF_METRIC_ALARM, iac.TF_COMPOSITE_ALARM) for r in resources[kind].values()]
    assert sorted(back, key=lambda a: a["AlarmName"]) == sorted(LITERALS, key=lambda a: a["AlarmName"])
    assert list(resources[iac.TF_COMPOSITE_ALARM]) == [COMPOSITE["AlarmName"]]
    composite = resources[iac.TF_COMPOSITE_ALARM][COMPOSITE["AlarmName"]]
    assert composite["depends_on"] == [f"aws_cloudwatch_metric_alarm.{DEPTH['AlarmName']}", f"aws_cloudwatch_metric_alarm.{ANOMALY['AlarmName']}"]


def test_terraform_resource_as_the_provider_documents_it():
    resource = iac.terraform_config([DEPTH], None)["resource"]["aws_cloudwatch_metric_alarm"]["demo-test-jobs-queue-depth-critical"]
    assert resource == {
        "alarm_name": "demo-test-jobs-queue-depth-critical",
        "alarm_description": "Depth $${not a substitution} and %%{ not a directive }",
        "actions_enabled": True,
        "alarm_actions": ["arn:aws:sns:us-east-1:111122223333:pager"],
        "ok_actions": [],
        "insufficient_data_actions": [],
        "namespace": "Demo/Queues",
        "metric_name": "QueueDepth",
        "dimensions": {"Environment": "test", "Queue": "jobs"},
        "period": 60,
        "statistic": "Maximum",
        "evaluation_periods": 5,
        "datapoints_to_alarm": 3,
        "threshold": 1000.0,
        "comparison_operator": "GreaterThanThreshold",
        "treat_missing_data": "missing",
        "tags": {"managed-by": "provision-alarms", "provision-alarms:spec": "demo/test"},
    }


def test_terraform_names_are_identifiers_stable_and_distinct():
    names = ["a.b", "a:b", "a b", "9lives", "plain-name_1"]
    tf = [iac.terraform_name(n) for n in names]
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", n) for n in tf)
    assert len(set(tf)) == len(names) and tf[-1] == "plain-name_1"
    assert [iac.terraform_name(n) for n in names] == tf
    long_name = "x" * 255
    assert len(iac.logical_id("CompositeAlarm", long_name)) <= iac.CFN_MAX_LOGICAL_ID
    assert iac.logical_id("Alarm", "a-b") != iac.logical_id("Alarm", "a_b")


def test_terraform_dashboard_reads_the_account_from_data_sources():
    config = iac.terraform_config([DEPTH], DASHBOARD)
    assert config["data"] == {"aws_caller_identity": {"demo-test": {}}, "aws_partition": {"demo-test": {}}}
    body = config["resource"]["aws_cloudwatch_dashboard"]["demo-test"]["dashboard_body"]
    resolved = resolve_tf_template(
        body, {"data.aws_caller_identity.demo-test.account_id": MOTO_ACCOUNT, "data.aws_partition.demo-test.partition": "aws"}
    )
    assert json.loads(resolved) == DASHBOARD[1]


def test_unknown_parameter_is_refused_not_dropped():
    future = {**DEPTH, "FutureParameter": {"On": True}}
    with pytest.raises(iac.IacError, match="FutureParameter has no Terraform argument"):
        iac.terraform_config([future], None)


def test_a_wall_clock_window_renders_for_cloudformation_and_is_refused_plainly_for_terraform(tmp_path, capsys):
    text = Path(SPEC).read_text()
    spec = tmp_path / "wall.yaml"
    marker = "      warning:\n        threshold: 0\n        period: 300\n        evaluation_periods: 6\n        only_when_idle: true\n"
    assert marker in text
    spec.write_text(text.replace(marker, marker + "        evaluation_window: wall_clock\n        timezone: Europe/Berlin\n"))
    args = ["render", "--spec", str(spec), "--env", "development"]
    assert main([*args, "--format", "cloudformation"]) == ExitStatus.SUCCESS
    template = json.loads(capsys.readouterr().out)
    windows = [r["Properties"]["EvaluationWindow"] for r in template["Resources"].values() if "EvaluationWindow" in r.get("Properties", {})]
    assert windows and all(w == {"WallClockWindow": {"Timezone": "Europe/Berlin"}} for w in windows)
    assert main([*args, "--format", "terraform"]) == ExitStatus.INVALID
    out = capsys.readouterr()
    assert out.out == ""
    assert "aws_cloudwatch_metric_alarm has no evaluation-window argument" in out.err
    assert "--format cloudformation" in out.err and "provision-alarms apply" in out.err


def test_too_many_resources_for_one_template():
    alarms = [{**DEPTH, "AlarmName": f"demo-{i}"} for i in range(iac.CFN_MAX_RESOURCES + 1)]
    with pytest.raises(iac.IacError, match="501 resources exceed CloudFormation's 500"):
        iac.cloudformation_template(alarms, None, description="test")
    assert len(iac.terraform_config(alarms, None)["resource"][iac.TF_METRIC_ALARM]) == 501


def test_too_large_for_one_template():
    huge = ("demo-test", {"widgets": [{"type": "text", "x": 0, "y": 0, "width": 24, "height": 2, "properties": {"markdown": "x" * iac.CFN_MAX_TEMPLATE_BYTES}}]})
    with pytest.raises(iac.IacError, match=r"the template is 1,00\d,\d{3} bytes, over CloudFormation's 1,000,000"):
        iac.cloudformation_template([DEPTH], huge, description="test")


def test_cfn_lint_accepts_every_shape(tmp_path):
    path = tmp_path / "shapes.json"
    path.write_text(json.dumps(iac.cloudformation_template(LITERALS, DASHBOARD, description="test")))
    result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- the shipped spec, through the command line


def render(capsys, *args: str):
    status = main(["render", "--spec", SPEC, "--env", "development", *args])
    out = capsys.readouterr()
    assert status == ExitStatus.SUCCESS, out.err
    return out.out


@pytest.fixture
def three_outputs(capsys):
    api = json.loads(render(capsys))
    cfn = yaml.safe_load(render(capsys, "--format", "cloudformation", "--output", "yaml"))
    tf = json.loads(render(capsys, "--format", "terraform"))
    return api, cfn, tf


def test_default_render_is_unchanged(capsys):
    assert json.loads(render(capsys)) == json.loads(render(capsys, "--format", "api"))
    assert set(json.loads(render(capsys))) == {"spec", "environment", "namespace", "alarms", "dashboard"}


def test_one_source_three_outputs(three_outputs):
    api, cfn, tf = three_outputs
    alarms = {a["AlarmName"]: a for a in api["alarms"]}
    assert len(alarms) == len(api["alarms"]) > 10  # names are unique
    cfn_alarms = [*by_type(cfn, iac.CFN_METRIC_ALARM).values(), *by_type(cfn, iac.CFN_COMPOSITE_ALARM).values()]
    from_cfn = {r["Properties"]["AlarmName"]: r["Properties"] for r in cfn_alarms}
    tf_alarms = [*tf["resource"][iac.TF_METRIC_ALARM].values(), *tf["resource"][iac.TF_COMPOSITE_ALARM].values()]
    from_tf = {a["AlarmName"]: a for a in map(api_from_terraform, tf_alarms)}
    # The shipped spec's incidents: composites flow through both formats, each after what it names.
    composites = [n for n, a in alarms.items() if iac.is_composite(a)]
    assert len(composites) == 3 and len(by_type(cfn, iac.CFN_COMPOSITE_ALARM)) == 3
    for resource in by_type(cfn, iac.CFN_COMPOSITE_ALARM).values():
        named = iac.rule_children(resource["Properties"]["AlarmRule"]) + [resource["Properties"].get("ActionsSuppressor")]
        depends = set(resource.get("DependsOn", []))
        assert {cfn_id(cfn, n) for n in named if n} <= depends
    for name, alarm in alarms.items():
        assert from_cfn[name] == alarm, name
        assert api_key_order(from_tf[name], alarm) == alarm, name
    assert set(from_cfn) == set(from_tf) == set(alarms)
    (cfn_dashboard,) = by_type(cfn, iac.CFN_DASHBOARD).values()
    assert cfn_dashboard["Properties"]["DashboardName"] == api["dashboard"]["name"]
    assert json.loads(resolve_cfn_sub(cfn_dashboard["Properties"]["DashboardBody"], {"AWS::AccountId": MOTO_ACCOUNT, "AWS::Partition": "aws"})) == api["dashboard"]["body"]
    (tf_dashboard,) = tf["resource"][iac.TF_DASHBOARD].values()
    data = {f"data.aws_caller_identity.{api['dashboard']['name']}.account_id": MOTO_ACCOUNT, f"data.aws_partition.{api['dashboard']['name']}.partition": "aws"}
    assert json.loads(resolve_tf_template(tf_dashboard["dashboard_body"], data)) == api["dashboard"]["body"]


def test_terraform_output_refuses_yaml(capsys):
    status = main(["render", "--spec", SPEC, "--format", "terraform", "--output", "yaml"])
    assert status == ExitStatus.INVALID
    assert capsys.readouterr().err.strip() == "error: --format terraform is Terraform JSON (*.tf.json): use --output json"


def test_cfn_lint_accepts_the_rendered_template(tmp_path, capsys):
    path = tmp_path / "alarms.yaml"
    path.write_text(render(capsys, "--format", "cloudformation", "--output", "yaml"))
    result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- plan and status on what the templates create


def alarm_rows(report) -> list[dict]:
    """Every alarm row of a status report, whatever section (queues, targets, streams, delayed sets) it is in."""
    if isinstance(report, dict):
        return [*report.get("alarms", []), *(a for k, v in report.items() if k != "alarms" for a in alarm_rows(v))]
    if isinstance(report, list):
        return [a for item in report for a in alarm_rows(item)]
    return []


def cfn_id(template: dict, alarm_name: str) -> str:
    return next(i for i, r in template["Resources"].items() if r["Properties"].get("AlarmName") == alarm_name)


def dependency_order(resources: dict, depends: Callable[[dict], list[str]]) -> list[dict]:
    """Resources in an order that honours their dependencies, as CloudFormation and Terraform create them."""
    done: list[str] = []
    while len(done) < len(resources):
        ready = [k for k, r in resources.items() if k not in done and set(depends(r)) <= set(done)]
        assert ready, "a dependency cycle"
        done += ready
    return [resources[k] for k in done]


def create_from_cloudformation(cw, template: dict) -> None:
    """What CloudFormation does with these resources (moto skips AWS::CloudWatch::Alarm in stacks)."""
    pseudo = {"AWS::AccountId": MOTO_ACCOUNT, "AWS::Partition": "aws"}
    for resource in dependency_order(template["Resources"], lambda r: r.get("DependsOn", [])):
        if resource["Type"] == iac.CFN_METRIC_ALARM:
            cw.put_metric_alarm(**resource["Properties"])
        elif resource["Type"] == iac.CFN_COMPOSITE_ALARM:
            cw.put_composite_alarm(**resource["Properties"])
        elif resource["Type"] == iac.CFN_DASHBOARD:
            props = resource["Properties"]
            cw.put_dashboard(DashboardName=props["DashboardName"], DashboardBody=resolve_cfn_sub(props["DashboardBody"], pseudo))
        else:
            raise AssertionError(f"unexpected resource {resource['Type']}")


def create_from_terraform(cw, config: dict) -> None:
    """What the hashicorp/aws provider sends for these resources."""
    for arguments in config["resource"][iac.TF_METRIC_ALARM].values():
        cw.put_metric_alarm(**api_from_terraform(arguments))
    composites = {f"{iac.TF_COMPOSITE_ALARM}.{k}": v for k, v in config["resource"].get(iac.TF_COMPOSITE_ALARM, {}).items()}
    for arguments in dependency_order(composites, lambda a: [d for d in a.get("depends_on", []) if d in composites]):
        cw.put_composite_alarm(**api_from_terraform(arguments))
    for name, dashboard in config["resource"][iac.TF_DASHBOARD].items():
        data = {f"data.aws_caller_identity.{name}.account_id": MOTO_ACCOUNT, f"data.aws_partition.{name}.partition": "aws"}
        cw.put_dashboard(DashboardName=dashboard["dashboard_name"], DashboardBody=resolve_tf_template(dashboard["dashboard_body"], data))


@pytest.mark.parametrize("fmt", ["cloudformation", "terraform"])
def test_plan_and_status_see_nothing_to_do_after_the_template_is_deployed(fmt, moto_server, capsys):
    document = json.loads(render(capsys, "--format", fmt))
    rendered = json.loads(render(capsys))["alarms"]
    alarms = len(rendered)
    metric_alarms = sum(1 for a in rendered if not iac.is_composite(a))  # status shows composites through their tiers
    cw = boto3.client("cloudwatch", endpoint_url=moto_server)
    (create_from_cloudformation if fmt == "cloudformation" else create_from_terraform)(cw, document)

    status = main(["plan", "--spec", SPEC, "--env", "development", "--endpoint-url", moto_server, "--detailed-exitcode", "--output", "json", "--no-metric-check"])
    out = capsys.readouterr()
    assert status == ExitStatus.SUCCESS, out.out + out.err
    plan = json.loads(out.out)["plan"]
    assert plan["changes"] == [] and plan["conflicts"] == []
    assert plan["summary"]["unchanged"] == alarms + 1  # and the dashboard

    status = main(["status", "--spec", SPEC, "--env", "development", "--endpoint-url", moto_server, "--output", "json"])
    report = json.loads(capsys.readouterr().out)
    states = [a["state"] for a in alarm_rows(report)]
    assert len(states) == metric_alarms and set(states) == {"OK"}, states
    assert status == ExitStatus.SUCCESS
