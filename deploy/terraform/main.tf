# The collector: a scheduled Lambda in the Redis VPC that reads the queues and publishes their
# CloudWatch metrics, with a least-privilege role and alarms on its own health. Resource for
# resource the same as deploy/collector.yaml; its comments give the reasons, kept short here.
#
# Network: the function has no internet access. It needs HTTPS to Secrets Manager and CloudWatch:
# a NAT gateway, or interface VPC endpoints (secretsmanager, monitoring) with private DNS whose
# security group accepts 443 from the collector_security_group_id output.

locals {
  log_group_name = "/aws/lambda/${var.function_name}"
  # The secret's region: Secrets Manager decrypts it with KMS there (kms:ViaService).
  secret_region = split(":", var.redis_auth_token_secret_arn)[3]
  environment = merge(
    {
      MONITOR_ENV                 = var.monitor_env
      REDIS_AUTH_TOKEN_SECRET_ARN = var.redis_auth_token_secret_arn
      REDIS_PORT                  = tostring(var.redis_port)
    },
    var.redis_host == null ? {} : { REDIS_HOST = var.redis_host },
  )
}

data "aws_caller_identity" "current" {}

# ---------------------------------------------------------------- logs

resource "aws_cloudwatch_log_group" "collector" {
  #checkov:skip=CKV_AWS_338:Retention is the log_retention_days input (default 30 days, as in collector.yaml): the logs are debugging aids, the metrics are the record
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# ---------------------------------------------------------------- role

data "aws_iam_policy_document" "assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "collector" {
  name_prefix        = "${substr(var.function_name, 0, 32)}-"
  description        = "redis-queue-monitor collector; publishes one namespace, reads one secret."
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

# Inline statements rather than AWSLambdaVPCAccessExecutionRole: that managed policy also grants
# writing to every log group.
data "aws_iam_policy_document" "publish_queue_metrics" {
  # PutMetricData has no resource-level permissions: AWS requires "*"; the namespace condition limits it.
  statement {
    sid       = "PublishOwnNamespaceOnly"
    effect    = "Allow"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metric_namespace]
    }
  }
}

data "aws_iam_policy_document" "read_redis_token" {
  statement {
    sid       = "ReadTheRedisTokenOnly"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.redis_auth_token_secret_arn]
  }
  dynamic "statement" {
    for_each = var.secret_kms_key_arn == null ? [] : [var.secret_kms_key_arn]
    content {
      sid       = "DecryptTheSecretViaSecretsManager"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.secret_region}.amazonaws.com"]
      }
    }
  }
}

data "aws_iam_policy_document" "write_own_logs" {
  statement {
    sid       = "OwnLogGroupOnly"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.collector.arn}:*"]
  }
}

data "aws_iam_policy_document" "vpc_network_interfaces" {
  #checkov:skip=CKV_AWS_111:Lambda's documented VPC permissions; the Lambda service uses them for the function's own ENIs (AWS's AWSLambdaVPCAccessExecutionRole grants the same on "*")
  #checkov:skip=CKV_AWS_356:Same statement: the Describe* actions have no resource-level permissions and Lambda documents "*" for all six
  # Lambda creates and removes the function's ENIs with these; the Describe* actions have no
  # resource-level permissions, and Lambda documents "*" for all of them.
  statement {
    sid    = "LambdaVpcNetworkInterfaces"
    effect = "Allow"
    actions = [
      "ec2:CreateNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSubnets",
      "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses",
      "ec2:UnassignPrivateIpAddresses",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "publish_queue_metrics" {
  name   = "publish-queue-metrics"
  role   = aws_iam_role.collector.id
  policy = data.aws_iam_policy_document.publish_queue_metrics.json
}

resource "aws_iam_role_policy" "read_redis_token" {
  name   = "read-redis-token"
  role   = aws_iam_role.collector.id
  policy = data.aws_iam_policy_document.read_redis_token.json
}

resource "aws_iam_role_policy" "write_own_logs" {
  name   = "write-own-logs"
  role   = aws_iam_role.collector.id
  policy = data.aws_iam_policy_document.write_own_logs.json
}

resource "aws_iam_role_policy" "vpc_network_interfaces" {
  name   = "vpc-network-interfaces"
  role   = aws_iam_role.collector.id
  policy = data.aws_iam_policy_document.vpc_network_interfaces.json
}

# ---------------------------------------------------------------- network

resource "aws_security_group" "collector" {
  name_prefix = "${var.function_name}-"
  description = "redis-queue-monitor collector - egress to Redis and HTTPS only"
  vpc_id      = var.vpc_id
  tags        = var.tags

  # Only these two egress rules: Terraform removes the default allow-all. DNS to the VPC
  # resolver is not filtered by security groups.
  egress {
    description     = "Redis"
    protocol        = "tcp"
    from_port       = var.redis_port
    to_port         = var.redis_port
    security_groups = [var.redis_security_group_id]
  }
  egress {
    description = "HTTPS to the Secrets Manager and CloudWatch endpoints (VPC endpoints or NAT)"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group_rule" "redis_ingress_from_collector" {
  count                    = var.add_redis_ingress_rule ? 1 : 0
  description              = "redis-queue-monitor collector"
  type                     = "ingress"
  security_group_id        = var.redis_security_group_id
  protocol                 = "tcp"
  from_port                = var.redis_port
  to_port                  = var.redis_port
  source_security_group_id = aws_security_group.collector.id
}

# ---------------------------------------------------------------- function and schedule

resource "aws_lambda_function" "collector" {
  #checkov:skip=CKV_AWS_116:A DLQ would hold schedule events of failed runs, which nothing can replay usefully: the next run a minute later is the retry; failures page through the errors and heartbeat alarms
  #checkov:skip=CKV_AWS_272:The code is the reproducible zip of make package (byte-identical per commit, key named by its sha256); code signing needs an AWS Signer profile this module does not own
  #checkov:skip=CKV_AWS_50:X-Ray tracing is not needed for one short run a minute: CollectionDuration and the duration alarm measure it, and tracing would add cost and xray permissions
  function_name = var.function_name
  description   = "Reads the Redis job queues and publishes their CloudWatch metrics (redis-queue-monitor)"
  runtime       = "python3.12"
  handler       = "lambda_handlers/queue_metrics.handler"
  architectures = [var.architecture]
  s3_bucket     = var.code_s3_bucket
  s3_key        = var.code_s3_key
  role          = aws_iam_role.collector.arn
  memory_size   = var.memory_size
  timeout       = var.timeout
  kms_key_arn   = var.kms_key_arn
  # One run at a time: a slow run makes the next one throttle (and its alarm fire).
  reserved_concurrent_executions = 1
  tags                           = var.tags

  environment {
    variables = local.environment
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.collector.id]
  }

  # The log group first, so its retention applies from the first run; the role's policies
  # first, so the first run may already publish.
  depends_on = [
    aws_cloudwatch_log_group.collector,
    aws_iam_role_policy.publish_queue_metrics,
    aws_iam_role_policy.read_redis_token,
    aws_iam_role_policy.write_own_logs,
    aws_iam_role_policy.vpc_network_interfaces,
  ]
}

# Scheduled runs are asynchronous: one try, the next schedule is the retry.
resource "aws_lambda_function_event_invoke_config" "collector" {
  function_name                = aws_lambda_function.collector.function_name
  qualifier                    = "$LATEST"
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60
}

resource "aws_cloudwatch_event_rule" "schedule" {
  name                = var.function_name
  description         = "Runs ${var.function_name} (redis-queue-monitor collector)"
  schedule_expression = var.schedule_expression
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "collector" {
  rule      = aws_cloudwatch_event_rule.schedule.name
  target_id = "collector"
  arn       = aws_lambda_function.collector.arn
}

resource "aws_lambda_permission" "schedule" {
  statement_id  = "AllowScheduleToInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.collector.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule.arn
}

# ---------------------------------------------------------------- the collector's own health
# Its Redis-side signals (ConnectionFailure, CollectorHeartbeat) are alarmed from the spec
# (provision-alarms apply, or render --format terraform); these catch the function itself failing.

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.function_name}-errors"
  alarm_description   = "The ${var.function_name} collector failed in 2 of the last 3 runs (a crash, a timeout, or PutMetricData failing). See its logs."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.collector.function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  alarm_name          = "${var.function_name}-throttles"
  alarm_description   = "A ${var.function_name} run was throttled - the previous run was still going (reserved concurrency is 1) or the account ran out of concurrency."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = aws_lambda_function.collector.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = var.tags
}

# Maximum Duration as a fraction of the timeout: >= 0.8 means a run came within 20% of being killed.
resource "aws_cloudwatch_metric_alarm" "duration" {
  alarm_name          = "${var.function_name}-duration-near-timeout"
  alarm_description   = "A ${var.function_name} run took 80% or more of its ${var.timeout} s timeout (slow Redis, slow endpoints, or too many queues for the memory size)."
  evaluation_periods  = 1
  threshold           = 0.8
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = var.tags

  metric_query {
    id          = "duration"
    return_data = false
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Duration"
      dimensions  = { FunctionName = aws_lambda_function.collector.function_name }
      period      = 300
      stat        = "Maximum"
    }
  }
  metric_query {
    id          = "fraction_of_timeout"
    expression  = "duration / (${var.timeout} * 1000)"
    label       = "Maximum duration / timeout"
    return_data = true
  }
}
