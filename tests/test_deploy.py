"""Deployment: the reproducible Lambda zip, the CloudFormation template (lint, moto, least privilege,
self-alarms), the provisioner's IAM policy, and the packaged handler running with only boto3 beside it."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.parse
import zipfile
from pathlib import Path

import boto3
import pytest
from support import lambda_sandbox
from support.cfn import load_template
from support.servers import AWS_TEST_ENV

from monitor.spec import metrics
from monitor.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
TEMPLATE = DEPLOY / "collector.yaml"
PROVISIONER_POLICY = DEPLOY / "provisioner-policy.json"
# Downloaded wheels are kept here between runs (pip can reach PyPI; this only saves the download).
WHEEL_CACHE = Path(os.environ.get("MONITOR_WHEEL_CACHE", Path.home() / ".cache" / "redis-queue-monitor" / "lambda-wheels"))

# moto's CloudFormation skips these two types (checked in the template itself instead).
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..(CloudWatch..Alarm|Lambda..EventInvokeConfig) but:UserWarning")

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:hokusai/redis/development/auth-token-AbCdEf"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:collector-alerts"
NAMESPACE = "Hokusai/RedisQueues"
# Actions AWS authorizes only on Resource "*": PutMetricData, and the ENI actions Lambda uses in a VPC.
STAR_RESOURCE_ACTIONS = {
    "cloudwatch:PutMetricData",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


def _load_package_module():
    spec = importlib.util.spec_from_file_location("deploy_package", DEPLOY / "package.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


package = _load_package_module()




@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(TEMPLATE)


@pytest.fixture(scope="session")
def built_zip(tmp_path_factory) -> Path:
    return package.build("x86_64", tmp_path_factory.mktemp("dist-a"), WHEEL_CACHE)


# ---------------------------------------------------------------- the zip


def test_same_inputs_build_a_byte_identical_zip(built_zip, tmp_path):
    again = package.build("x86_64", tmp_path / "dist-b", WHEEL_CACHE)
    assert again.name == built_zip.name == "queue-metrics-lambda-x86_64.zip"
    assert hashlib.sha256(again.read_bytes()).hexdigest() == hashlib.sha256(built_zip.read_bytes()).hexdigest()


def test_zip_holds_code_spec_and_runtime_deps_only(built_zip):
    with zipfile.ZipFile(built_zip) as archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names)
        for required in ("alarms.yaml", "lambda_handlers/queue_metrics.py", "monitor/collect/collector.py", "monitor/collect/reader.py", "redis/__init__.py", "yaml/__init__.py"):
            assert required in names
        assert any(n.startswith("yaml/_yaml.cpython-312-x86_64-linux-gnu") for n in names)  # wheels for the target
        assert not [n for n in names if n.endswith((".pyc", ".pyo")) or "__pycache__" in n]
        assert not [n for n in names if n.split("/")[0] in ("boto3", "botocore", "tests", "deploy", "benchmarks")]
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.external_attr >> 16 for i in infos} == {0o100644}
        assert archive.read("alarms.yaml") == (ROOT / "alarms.yaml").read_bytes()
    pins = [line for line in (DEPLOY / "requirements-lambda.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert sorted(p.split("==")[0].lower() for p in pins) == ["pyyaml", "redis"] and all("==" in p for p in pins)


def test_arm64_zip_carries_aarch64_wheels(tmp_path):
    path = package.build("arm64", tmp_path, WHEEL_CACHE)
    assert path.name == "queue-metrics-lambda-arm64.zip"
    with zipfile.ZipFile(path) as archive:
        native = [n for n in archive.namelist() if n.endswith(".so")]
    assert native and all("aarch64" in n for n in native)


def test_make_package_passes_the_architecture():
    dry = subprocess.run(["make", "-n", "-o", ".venv/.installed", "package", "ARCH=arm64"], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "deploy/package.py --arch arm64" in dry.stdout


# ---------------------------------------------------------------- the template, offline


def test_cfn_lint_passes_on_every_template():
    templates = sorted(str(p) for p in DEPLOY.glob("*.yaml"))
    assert str(TEMPLATE) in templates
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), *templates], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_function_matches_the_package_and_the_spec(template):
    function = template["Resources"]["CollectorFunction"]["Properties"]
    params = template["Parameters"]
    assert function["Runtime"] == f"python{package.PYTHON_VERSION}"
    module_path, handler_name = function["Handler"].rsplit(".", 1)
    assert handler_name in (ROOT / f"{module_path}.py").read_text() and module_path == "lambda_handlers/queue_metrics"
    assert function["ReservedConcurrentExecutions"] == 1
    assert sorted(params["Architecture"]["AllowedValues"]) == sorted(package.PLATFORMS)
    assert function["Environment"]["Variables"]["MONITOR_ENV"] == {"Ref": "SpecEnvironment"}
    spec = load_spec(str(ROOT / "alarms.yaml"), environ={})
    assert params["Timeout"]["Default"] > spec.collector.connect_timeout_seconds + spec.collector.read_timeout_seconds + spec.collector.discovery.time_budget_seconds
    assert params["Timeout"]["MaxValue"] < 60  # under the one-minute schedule
    assert params["FunctionName"]["Default"] == spec.collector.function_name
    assert params["MetricNamespace"]["Default"] == spec.namespace
    assert params["ScheduleExpression"]["Default"] == spec.collector.schedule


def test_security_group_allows_only_redis_and_https_out(template):
    egress = template["Resources"]["CollectorSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    ports = sorted((str(rule["FromPort"]) if isinstance(rule["FromPort"], int) else "redis", rule["IpProtocol"]) for rule in egress)
    assert ports == [("443", "tcp"), ("redis", "tcp")]
    redis_rule = next(r for r in egress if r["FromPort"] == {"Ref": "RedisPort"})
    assert redis_rule["DestinationSecurityGroupId"] == {"Ref": "RedisSecurityGroupId"}


def _alarms_by_metric(template) -> dict[str, dict]:
    alarms = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        stats = [m["MetricStat"] for m in props.get("Metrics", []) if "MetricStat" in m]
        metric = props.get("MetricName") or stats[0]["Metric"]["MetricName"]
        alarms[metric] = props
    return alarms


def test_three_self_alarms_watch_the_function(template):
    alarms = _alarms_by_metric(template)
    assert sorted(alarms) == ["Duration", "Errors", "Throttles"]
    function = [{"Name": "FunctionName", "Value": {"Ref": "CollectorFunction"}}]
    for name in ("Errors", "Throttles"):
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
            "AWS/Lambda",
            "Sum",
            1,
            "GreaterThanOrEqualToThreshold",
        )
        assert alarm["Dimensions"] == function
    duration = alarms["Duration"]
    stat = next(m for m in duration["Metrics"] if "MetricStat" in m)
    assert stat["MetricStat"]["Stat"] == "Maximum" and stat["MetricStat"]["Metric"]["Dimensions"] == function
    expression = next(m for m in duration["Metrics"] if m.get("ReturnData"))["Expression"]
    assert expression == {"Fn::Sub": f"{stat['Id']} / (${{Timeout}} * 1000)"}  # milliseconds over the timeout
    assert (duration["Threshold"], duration["ComparisonOperator"]) == (0.8, "GreaterThanOrEqualToThreshold")
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopicArn"}] and alarm["TreatMissingData"] == "notBreaching"
        assert alarm["EvaluationPeriods"] >= alarm.get("DatapointsToAlarm", 1)


# ---------------------------------------------------------------- the template, deployed into moto


def _deploy_stack(zip_path: Path, **overrides) -> dict:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="collector-code")
    s3.put_object(Bucket="collector-code", Key="queue-metrics-lambda-x86_64.zip", Body=zip_path.read_bytes())
    ec2 = boto3.client("ec2")
    # Address space inside the emulator only (no traffic goes there); 100.64.0.0/10 is a valid VPC range.
    vpc = ec2.create_vpc(CidrBlock="100.64.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"100.64.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
    redis_sg = ec2.create_security_group(GroupName="redis", Description="redis", VpcId=vpc)["GroupId"]
    params = {
        "CodeS3Bucket": "collector-code",
        "CodeS3Key": "queue-metrics-lambda-x86_64.zip",
        "SpecEnvironment": "development",
        "RedisAuthSecretArn": SECRET_ARN,
        "VpcId": vpc,
        "SubnetIds": ",".join(subnets),
        "RedisSecurityGroupId": redis_sg,
        "AlarmTopicArn": TOPIC_ARN,
        **overrides,
    }
    cfn = boto3.client("cloudformation")
    cfn.create_stack(
        StackName="queue-metrics",
        TemplateBody=TEMPLATE.read_text(),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
    )
    stack = cfn.describe_stacks(StackName="queue-metrics")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {"outputs": {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}, "redis_sg": redis_sg, "subnets": subnets}


def _role_statements(role_arn: str) -> list[dict]:
    iam = boto3.client("iam")
    role = role_arn.rsplit("/", 1)[1]
    assert not iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]  # no managed policy: all inline
    statements = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):
            # moto sometimes stores a stack's inline policy as the Python repr of the dict.
            text = urllib.parse.unquote(document)
            document = json.loads(text) if text.lstrip().startswith('{"') else ast.literal_eval(text)
        # moto keeps an AWS::NoValue statement as None; CloudFormation drops it.
        statements += [s for s in document["Statement"] if s is not None]
    return statements


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.mark.usefixtures("mock_aws")
def test_stack_creates_role_function_schedule_and_target(built_zip):
    deployed = _deploy_stack(built_zip)
    outputs = deployed["outputs"]
    config = boto3.client("lambda").get_function(FunctionName="hokusai-queue-metrics")["Configuration"]
    assert (config["Runtime"], config["Handler"], config["MemorySize"], config["Timeout"]) == ("python3.12", "lambda_handlers/queue_metrics.handler", 256, 30)
    assert config["Role"] == outputs["RoleArn"]
    assert config["Environment"]["Variables"]["MONITOR_ENV"] == "development"
    assert config["Environment"]["Variables"]["REDIS_AUTH_TOKEN_SECRET_ARN"] == SECRET_ARN
    assert config["VpcConfig"]["SecurityGroupIds"] == [outputs["CollectorSecurityGroup"]]
    assert sorted(config["VpcConfig"]["SubnetIds"]) == sorted(deployed["subnets"])
    assert boto3.client("lambda").get_function_concurrency(FunctionName="hokusai-queue-metrics")["ReservedConcurrentExecutions"] == 1
    events = boto3.client("events")
    rule = events.describe_rule(Name=outputs["ScheduleRuleName"])
    assert (rule["ScheduleExpression"], rule["State"]) == ("rate(1 minute)", "ENABLED")
    targets = events.list_targets_by_rule(Rule=outputs["ScheduleRuleName"])["Targets"]
    assert [t["Arn"] for t in targets] == [outputs["FunctionArn"]]
    trust = boto3.client("iam").get_role(RoleName=outputs["RoleArn"].rsplit("/", 1)[1])["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]
    groups = boto3.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/hokusai-queue-metrics")["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"]) for g in groups] == [("/aws/lambda/hokusai-queue-metrics", 30)]
    ingress = boto3.client("ec2").describe_security_groups(GroupIds=[deployed["redis_sg"]])["SecurityGroups"][0]["IpPermissions"]
    assert [(p["FromPort"], [g["GroupId"] for g in p["UserIdGroupPairs"]]) for p in ingress] == [(6379, [outputs["CollectorSecurityGroup"]])]


@pytest.mark.usefixtures("mock_aws")
def test_role_is_least_privilege(built_zip):
    kms_key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    outputs = _deploy_stack(built_zip, SecretKmsKeyArn=kms_key)["outputs"]
    statements = _role_statements(outputs["RoleArn"])
    granted = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions, resources = _as_list(statement["Action"]), _as_list(statement["Resource"])
        assert not [a for a in actions if "*" in a], f"wildcard action in {statement}"
        if "*" in resources:
            assert set(actions) <= STAR_RESOURCE_ACTIONS, f"Resource * for {actions}: AWS does not require it"
        for action in actions:
            granted[action] = statement
    put = granted["cloudwatch:PutMetricData"]
    assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": NAMESPACE}}
    assert _as_list(put["Action"]) == ["cloudwatch:PutMetricData"]  # the condition covers nothing else
    assert granted["secretsmanager:GetSecretValue"]["Resource"] == SECRET_ARN
    assert granted["kms:Decrypt"]["Resource"] == kms_key
    assert granted["kms:Decrypt"]["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}
    assert granted["logs:PutLogEvents"]["Resource"] == "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/hokusai-queue-metrics:*"
    assert "logs:CreateLogGroup" not in granted  # the stack makes the group, with its retention


@pytest.mark.usefixtures("mock_aws")
def test_no_kms_statement_without_a_customer_key(built_zip):
    outputs = _deploy_stack(built_zip)["outputs"]
    assert not [s for s in _role_statements(outputs["RoleArn"]) if "kms:Decrypt" in _as_list(s["Action"])]


# ---------------------------------------------------------------- the provisioner's policy


def test_provisioner_policy_scopes_writes_to_the_spec_prefix():
    policy = json.loads(PROVISIONER_POLICY.read_text())
    prefix = load_spec(str(ROOT / "alarms.yaml"), environ={}).name_prefix
    by_action = {a: s for s in policy["Statement"] for a in _as_list(s["Action"])}
    for action in ("PutMetricAlarm", "DeleteAlarms", "TagResource", "UntagResource", "ListTagsForResource"):
        assert by_action[f"cloudwatch:{action}"]["Resource"] == f"arn:aws:cloudwatch:*:*:alarm:{prefix}-*"
    for action in ("GetDashboard", "PutDashboard", "DeleteDashboards"):
        assert by_action[f"cloudwatch:{action}"]["Resource"] == f"arn:aws:cloudwatch::*:dashboard/{prefix}-*"
    for action in ("DescribeAlarms", "ListMetrics", "GetMetricData", "ListDashboards"):
        assert f"cloudwatch:{action}" in by_action
    assert by_action["secretsmanager:GetSecretValue"]["Resource"] != "*"
    assert "elasticache:DescribeReplicationGroups" in by_action
    assert not [a for a in by_action if "*" in a]


# ---------------------------------------------------------------- the packaged handler, as Lambda runs it


@pytest.fixture(scope="session")
def sandbox(built_zip, tmp_path_factory):
    python = lambda_sandbox.lambda_python()
    runtime = lambda_sandbox.make_runtime_dir(tmp_path_factory.mktemp("lambda-runtime"), python)
    task = lambda_sandbox.unpack(built_zip, tmp_path_factory.mktemp("lambda") / "task")
    return python, runtime, task


def test_only_boto3_is_importable_without_the_zip(sandbox, tmp_path):
    python, runtime, task = sandbox
    empty = tmp_path / "empty"
    empty.mkdir()
    bare = lambda_sandbox.run(python, empty, runtime, "probe", {"PATH": os.environ["PATH"]})
    assert (bare["boto3"], bare["botocore"], bare["redis"], bare["yaml"]) == (True, True, False, False)
    packaged = lambda_sandbox.run(python, task, runtime, "probe", {"PATH": os.environ["PATH"]})
    assert (packaged["redis"], packaged["yaml"]) == (True, True)


def test_packaged_handler_collects_and_publishes(sandbox, redis_password, moto_server):
    python, runtime, task = sandbox
    admin = redis_password.client()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 120))
    admin.lpush("hokusai:model_ready_queue", *(json.dumps({"message_id": str(i), "timestamp": stamp}) for i in range(3)))
    admin.lpush("hokusai:mint_requests:dlq", json.dumps({"error": "boom"}))
    env = {
        "PATH": os.environ["PATH"],
        **AWS_TEST_ENV,
        "AWS_ENDPOINT_URL": moto_server,
        "MONITOR_ENV": "demo",
        "DEMO_REDIS_PORT": str(redis_password.port),
        "REDIS_AUTH_TOKEN": redis_password.password,
    }
    report = lambda_sandbox.run(python, task, runtime, "run", env)
    assert report["result"]["connection_failure"] == 0 and report["result"]["queues_read"] == 2
    assert report["yaml_file"].startswith(str(task))  # the zip's PyYAML, not one from elsewhere
    assert redis_password.password not in report["stdout"]

    cloudwatch = boto3.client("cloudwatch")

    def latest(metric: metrics.Metric, subject: str) -> float:
        points = cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName=metric.name,
            Dimensions=metric.dimensions("demo", subject),
            StartTime=time.time() - 600,
            EndTime=time.time() + 60,
            Period=60,
            Statistics=["Maximum"],
        )["Datapoints"]
        assert points, f"no {metric.name} for {subject}"
        return max(points, key=lambda p: p["Timestamp"])["Maximum"]

    assert latest(metrics.QUEUE_DEPTH, "hokusai:model_ready_queue") == 3
    assert latest(metrics.DEAD_LETTER_DEPTH, "hokusai:mint_requests") == 1
    assert latest(metrics.OLDEST_MESSAGE_AGE, "hokusai:model_ready_queue") >= 120
    assert latest(metrics.CONNECTION_FAILURE, "primary") == 0
    assert latest(metrics.COLLECTOR_HEARTBEAT, "primary") == 1
