"""Local stand-ins for the demo and the tests: a throwaway redis-server, the AWS emulator, sample messages.

moto_cloudwatch adds to moto what its CloudWatch lacks (composite alarms, anomaly detectors) with
AWS's ordering rules; it parses AlarmRules on its own, not with the product's code it checks.
May import: monitor.errors, redis, and (in emulator and moto_cloudwatch, at call time) moto;
nothing in the product imports it except monitor.commands.demo.
"""
