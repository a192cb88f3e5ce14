"""deploy/terraform: the collector as a Terraform module, parsed with a real HCL parser (python-hcl2).

No terraform binary runs here: the checks are that every reference resolves to something declared,
that every input is used, and that the module declares what deploy/collector.yaml declares.
"""

from __future__ import annotations

import re
from pathlib import Path

import hcl2
import pytest
from hcl2.utils import SerializationOptions
from support.cfn import load_template

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "deploy" / "terraform"
TEMPLATE = ROOT / "deploy" / "collector.yaml"

PLAIN = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)

# Attributes the hashicorp/aws provider exports, as its documentation lists them (only the types used here).
EXPORTED = {
    "aws_cloudwatch_log_group": {"arn", "name", "id"},
    "aws_iam_role": {"arn", "id", "name", "unique_id"},
    "aws_iam_role_policy": {"id", "name"},
    "aws_security_group": {"arn", "id", "name"},
    "aws_security_group_rule": {"id"},
    "aws_lambda_function": {"arn", "function_name", "invoke_arn", "qualified_arn", "version"},
    "aws_lambda_function_event_invoke_config": {"id"},
    "aws_cloudwatch_event_rule": {"arn", "id", "name"},
    "aws_cloudwatch_event_target": {"id"},
    "aws_lambda_permission": {"id"},
    "aws_cloudwatch_metric_alarm": {"arn", "id", "alarm_name"},
    "data.aws_iam_policy_document": {"json", "minified_json", "id"},
    "data.aws_caller_identity": {"account_id", "arn", "id", "user_id"},
}

# CloudFormation parameter -> module input (named after the hokusai ECS variables where there is one).
INPUTS = {
    "CodeS3Bucket": "code_s3_bucket",
    "CodeS3Key": "code_s3_key",
    "Architecture": "architecture",
    "FunctionName": "function_name",
    "SpecEnvironment": "monitor_env",
    "MetricNamespace": "metric_namespace",
    "RedisAuthSecretArn": "redis_auth_token_secret_arn",
    "SecretKmsKeyArn": "secret_kms_key_arn",
    "RedisHost": "redis_host",
    "RedisPort": "redis_port",
    "VpcId": "vpc_id",
    "SubnetIds": "subnet_ids",
    "RedisSecurityGroupId": "redis_security_group_id",
    "AddRedisIngressRule": "add_redis_ingress_rule",
    "ScheduleExpression": "schedule_expression",
    "MemorySize": "memory_size",
    "Timeout": "timeout",
    "LogRetentionDays": "log_retention_days",
    "KmsKeyArn": "kms_key_arn",
    "AlarmTopicArn": "alarm_topic_arn",
}
TERRAFORM_ONLY_INPUTS = {"tags"}  # CloudFormation tags whole stacks at deploy time instead

# CloudFormation resource type -> the module's resource types that do its job.
RESOURCE_TYPES = {
    "AWS::Logs::LogGroup": ["aws_cloudwatch_log_group"],
    "AWS::IAM::Role": ["aws_iam_role"],
    "AWS::EC2::SecurityGroup": ["aws_security_group"],
    "AWS::EC2::SecurityGroupIngress": ["aws_security_group_rule"],
    "AWS::Lambda::Function": ["aws_lambda_function"],
    "AWS::Lambda::EventInvokeConfig": ["aws_lambda_function_event_invoke_config"],
    "AWS::Events::Rule": ["aws_cloudwatch_event_rule", "aws_cloudwatch_event_target"],
    "AWS::Lambda::Permission": ["aws_lambda_permission"],
    "AWS::CloudWatch::Alarm": ["aws_cloudwatch_metric_alarm"],
}


def load_module() -> dict[str, list]:
    """Every block of every .tf file, by block type."""
    blocks: dict[str, list] = {}
    for path in sorted(MODULE.glob("*.tf")):
        with path.open() as handle:
            for kind, entries in hcl2.load(handle, serialization_options=PLAIN).items():
                blocks.setdefault(kind, []).extend(entries if isinstance(entries, list) else [entries])
    return blocks


@pytest.fixture(scope="module")
def module() -> dict[str, list]:
    return load_module()


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(TEMPLATE)


def declared(module) -> dict[str, set]:
    resources = {(t, n) for block in module.get("resource", []) for t, named in block.items() for n in named}
    data = {(t, n) for block in module.get("data", []) for t, named in block.items() for n in named}
    return {
        "var": {name for block in module["variable"] for name in block},
        "local": {name for block in module.get("locals", []) for name in block},
        "resource": resources,
        "data": data,
    }


def resources(module, kind: str) -> dict[str, dict]:
    return {name: body for block in module["resource"] for t, named in block.items() if t == kind for name, body in named.items()}


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def expressions(text: str) -> list[str]:
    """The contents of each ${...} in a string, braces matched."""
    found, i = [], 0
    while (start := text.find("${", i)) != -1:
        depth, j = 1, start + 2
        while depth and j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        assert depth == 0, f"unbalanced interpolation in {text!r}"
        found.append(text[start + 2 : j - 1])
        i = j
    return found


REFERENCE = re.compile(r"(?<![\w.\"])(var|local|data\.[a-z0-9_]+|aws_[a-z0-9_]+)\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_]\w*))?")


def references(module) -> list[tuple[str, str, str | None]]:
    return [m.groups() for kind in ("resource", "data", "locals", "output") for s in strings(module.get(kind, [])) for e in expressions(s) for m in REFERENCE.finditer(e)]


def test_the_parser_reads_every_file(module):
    assert {"variable", "locals", "data", "resource", "output", "terraform"} <= set(module)
    assert len(references(module)) > 50


def unresolved(module) -> list[str]:
    """References to no declared variable, local, resource or data source, or to an attribute it does not export."""
    names = declared(module)
    missing = []
    for head, name, attribute in references(module):
        if head in ("var", "local"):
            ok = name in names[head]
        elif head.startswith("data."):
            ok = (head.split(".", 1)[1], name) in names["data"] and (attribute is None or attribute in EXPORTED[head])
        else:
            ok = (head, name) in names["resource"] and (attribute is None or attribute in EXPORTED[head])
        if not ok:
            missing.append(".".join(p for p in (head, name, attribute) if p))
    return missing


def test_every_reference_resolves(module):
    assert unresolved(module) == []


def test_the_reference_check_catches_typos(module):
    typos = {
        "a": {"value": "${aws_lambda_function.colector.arn}"},
        "b": {"value": "${aws_iam_role.collector.arnn}"},
        "c": {"value": "x-${var.function_nam}"},
        "d": {"value": "${merge(local.environmnt, {})}"},
        "e": {"value": "${data.aws_caller_identity.current.account}"},
    }
    broken = {**module, "output": [*module["output"], typos]}
    assert unresolved(broken) == [
        "aws_lambda_function.colector.arn",
        "aws_iam_role.collector.arnn",
        "var.function_nam",
        "local.environmnt",
        "data.aws_caller_identity.current.account",
    ]


def test_every_input_and_local_is_used(module):
    used = {(h, n) for h, n, _ in references(module)} | {(h, n) for b in module["variable"] for s in strings(b) for e in expressions(s) for h, n, _ in REFERENCE.findall(e)}
    names = declared(module)
    assert {("var", v) for v in names["var"]} <= used
    assert {("local", v) for v in names["local"]} <= used


def test_inputs_match_the_cloudformation_parameters(module, template):
    variables = {name: body for block in module["variable"] for name, body in block.items()}
    assert set(INPUTS) == set(template["Parameters"])
    assert set(variables) == set(INPUTS.values()) | TERRAFORM_ONLY_INPUTS
    for parameter, variable in INPUTS.items():
        cfn_default = template["Parameters"][parameter].get("Default")
        tf_default = variables[variable].get("default", "(required)")
        expected = {None: "(required)", "": None, "true": True}.get(cfn_default, cfn_default)
        assert tf_default == expected, (parameter, cfn_default, tf_default)
    assert {"redis_host", "redis_port", "redis_auth_token_secret_arn"} <= set(variables)


def test_same_resources_as_the_template(module, template):
    cfn_types = sorted(r["Type"] for r in template["Resources"].values())
    tf_types = sorted(t for block in module["resource"] for t, named in block.items() for _ in named)
    expected = sorted(t for c in cfn_types for t in RESOURCE_TYPES[c])
    # One AWS::IAM::Role with four inline Policies = aws_iam_role + four aws_iam_role_policy.
    role = next(r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role")
    expected = sorted(expected + ["aws_iam_role_policy"] * len(role["Properties"]["Policies"]))
    assert tf_types == expected


def _cfn_actions(statement) -> set[str]:
    actions = statement["Action"]
    return set(actions if isinstance(actions, list) else [actions])


def test_same_permissions_per_policy(module, template):
    role = next(r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role")
    cfn = {}
    for policy in role["Properties"]["Policies"]:
        statements = []
        for s in policy["PolicyDocument"]["Statement"]:
            statements.append(s["Fn::If"][1] if "Fn::If" in s else s)  # the conditional KMS statement, when a key is given
        cfn[policy["PolicyName"]] = {a for s in statements for a in _cfn_actions(s)}
    documents = {name: body for block in module["data"] for t, named in block.items() if t == "aws_iam_policy_document" for name, body in named.items()}
    policies = resources(module, "aws_iam_role_policy")
    tf = {}
    for body in policies.values():
        (document,) = re.findall(r"data\.aws_iam_policy_document\.(\w+)\.json", body["policy"])
        doc = documents[document]
        statements = list(doc.get("statement", [])) + [d["statement"]["content"][0] for d in doc.get("dynamic", [])]
        tf[body["name"]] = {a for s in statements for a in s["actions"]}
    assert tf == cfn
    assume = documents["assume"]["statement"][0]
    assert assume["actions"] == ["sts:AssumeRole"] and assume["principals"][0]["identifiers"] == ["lambda.amazonaws.com"]
    assert assume["condition"][0]["variable"] == "aws:SourceAccount"


def test_same_function_settings(module, template):
    cfn = next(r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    (tf,) = resources(module, "aws_lambda_function").values()
    assert (tf["runtime"], tf["handler"], tf["reserved_concurrent_executions"]) == (cfn["Runtime"], cfn["Handler"], cfn["ReservedConcurrentExecutions"])
    (locals_block,) = module["locals"]
    assert tf["environment"][0]["variables"] == "${local.environment}"
    environment = set(re.findall(r"\b([A-Z][A-Z_]+) =", locals_block["environment"]))
    assert environment == set(cfn["Environment"]["Variables"])
    (invoke,) = resources(module, "aws_lambda_function_event_invoke_config").values()
    cfn_invoke = next(r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::EventInvokeConfig")
    assert (invoke["maximum_retry_attempts"], invoke["maximum_event_age_in_seconds"]) == (cfn_invoke["MaximumRetryAttempts"], cfn_invoke["MaximumEventAgeInSeconds"])


def test_same_egress(module, template):
    cfn = next(r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::EC2::SecurityGroup")
    (tf,) = resources(module, "aws_security_group").values()
    same = {"${var.redis_port}": str({"Ref": "RedisPort"}), "${var.redis_security_group_id}": str({"Ref": "RedisSecurityGroupId"})}
    cfn_rules = {(str(r["FromPort"]), str(r["ToPort"]), r.get("CidrIp") or str(r["DestinationSecurityGroupId"])) for r in cfn["SecurityGroupEgress"]}
    tf_rules = {
        tuple(same.get(str(v), str(v)) for v in (r["from_port"], r["to_port"], (r.get("cidr_blocks") or r.get("security_groups"))[0]))
        for r in tf["egress"]
    }
    assert tf_rules == cfn_rules and len(tf_rules) == 2


def test_same_self_alarms(module, template):
    cfn = {r["Properties"]["AlarmName"]["Fn::Sub"].split("-", 1)[1]: r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"}
    tf = {body["alarm_name"].split("-", 1)[1]: body for body in resources(module, "aws_cloudwatch_metric_alarm").values()}
    assert set(tf) == set(cfn) == {"errors", "throttles", "duration-near-timeout"}
    fields = {
        "namespace": "Namespace",
        "metric_name": "MetricName",
        "statistic": "Statistic",
        "period": "Period",
        "evaluation_periods": "EvaluationPeriods",
        "datapoints_to_alarm": "DatapointsToAlarm",
        "threshold": "Threshold",
        "comparison_operator": "ComparisonOperator",
        "treat_missing_data": "TreatMissingData",
    }
    for name, body in tf.items():
        assert {k: body.get(k) for k in fields} == {k: cfn[name].get(v) for k, v in fields.items()}, name
    duration = tf["duration-near-timeout"]["metric_query"]
    cfn_duration = cfn["duration-near-timeout"]["Metrics"]
    assert [q["id"] for q in duration] == [q["Id"] for q in cfn_duration]
    assert duration[0]["metric"][0]["stat"] == cfn_duration[0]["MetricStat"]["Stat"] and duration[0]["metric"][0]["period"] == cfn_duration[0]["MetricStat"]["Period"]
    assert duration[1]["expression"] == cfn_duration[1]["Expression"]["Fn::Sub"].replace("${Timeout}", "${var.timeout}")
