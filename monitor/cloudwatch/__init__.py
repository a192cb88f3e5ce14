"""The CloudWatch side: alarms and the dashboard rendered from the spec, the plan, and the AWS calls.

Pure: alarms (PutMetricAlarm parameters), dashboard (the PutDashboard body), plan (desired against
actual), cost (list prices), iac (the same alarms and dashboard as CloudFormation or Terraform), rules
(the composite AlarmRule language, parsed once for iac and monitor.truth).
Thin AWS layer: clients (the boto3 factory, errors in one line) and api (describe, read metrics,
carry out a plan).
May import: monitor.spec, monitor.errors; boto3 only in clients and api.
"""
