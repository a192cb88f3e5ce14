"""A CloudWatch client that builds every PutMetricData request fully (gzipped, signed) and answers it unsent."""

from __future__ import annotations

import gzip
import json

from monitor.collect.collector import botocore_client


def offline_client():
    """(client, sent): the requests botocore would have sent, as it made them."""
    from botocore.awsrequest import AWSResponse

    class _Raw:
        def stream(self, **_):
            yield b"{}"

    client = botocore_client("cloudwatch", region="us-east-1")
    sent = []

    def answer(request, **_):
        sent.append(request)
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Raw())

    client.meta.events.register("before-send.cloudwatch.PutMetricData", answer)
    return client, sent


def sent_datums(sent) -> list[dict]:
    """Every MetricData entry of the requests, as CloudWatch would decode them."""
    data = []
    for request in sent:
        encoding = request.headers.get("Content-Encoding")
        body = gzip.decompress(request.body) if encoding in (b"gzip", "gzip") else request.body
        data += json.loads(body)["MetricData"]
    return data
