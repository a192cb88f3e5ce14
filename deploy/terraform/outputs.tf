output "function_name" {
  value = aws_lambda_function.collector.function_name
}

output "function_arn" {
  value = aws_lambda_function.collector.arn
}

output "role_arn" {
  value = aws_iam_role.collector.arn
}

output "collector_security_group_id" {
  description = "Admit this group on 443 in the VPC endpoints' security group."
  value       = aws_security_group.collector.id
}

output "schedule_rule_name" {
  description = "aws events disable-rule --name <this> pauses collection."
  value       = aws_cloudwatch_event_rule.schedule.name
}

output "log_group_name" {
  value = aws_cloudwatch_log_group.collector.name
}

output "self_alarms" {
  value = [
    aws_cloudwatch_metric_alarm.errors.alarm_name,
    aws_cloudwatch_metric_alarm.throttles.alarm_name,
    aws_cloudwatch_metric_alarm.duration.alarm_name,
  ]
}
