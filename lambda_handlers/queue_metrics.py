"""Scheduled Lambda entry point: collect the queues' metrics once per invocation."""

from monitor.collect.collector import lambda_handler


def handler(event, context):
    return lambda_handler(event, context)
