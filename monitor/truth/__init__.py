"""Alarm truth offline: how CloudWatch would evaluate each alarm, on data written down or measured (pure).

Here live the evaluator (metric alarms over time), composite alarms and their actions (composite),
metric math, the time to drain of a depth series (drain: the time_to_drain alarm's own math), the
compact series notation and the scenario files that run the spec's alarms against expected states.
May import: monitor.spec, monitor.cloudwatch's pure modules, monitor.errors; never boto3 or redis.
"""
