"""Metric payloads (pure) and their sending: PutMetricData in as few requests as allowed, or EMF lines.

PutMetricData bodies are written here, in the JSON 1.0 protocol botocore uses for CloudWatch,
gzipped by botocore's rule (unless compression is disabled, as for the emulator) and handed to
botocore to sign, send and retry. Letting botocore validate and serialise
60,000 datums itself cost 83 % of a whole run at 10,000 queues (its validation ~47 %, serialisation
~29 %); the bodies written here equal botocore's own, byte for byte (tests/test_publish.py).
A client that resolves to another protocol (an older botocore: query) is served by botocore itself.
"""

from __future__ import annotations

import calendar
import collections
import gzip
import itertools
import json
import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from math import isfinite
from datetime import datetime, timezone
from json.encoder import encode_basestring_ascii as _json_string  # what json.dumps uses for str
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

from monitor.spec.metrics import Metric, Scope

MAX_DATUMS_PER_REQUEST = 1000  # PutMetricData: 1000 MetricData entries per request
MAX_REQUEST_BYTES = 1024 * 1024  # PutMetricData: 1 MB per request
# Our estimate of a datum's encoded size is its strings plus a fixed overhead for the field names,
# timestamp, value and unit as JSON would spell them; encodings differ, so leave a wide margin.
REQUEST_BYTES_BUDGET = MAX_REQUEST_BYTES // 2
DATUM_OVERHEAD_BYTES = 200
# Bodies written here know their exact size: "1 MB" read the strict way, as 10^6 bytes before gzip.
BODY_BYTES_LIMIT = 1_000_000
EMF_MAX_METRICS_PER_DIRECTIVE = 100  # Embedded Metric Format limit

Datum = dict[str, Any]


class Point(NamedTuple):
    """One value of one metric for one queue or target (a tuple: 60,000 of them are made per run at 10,000 queues)."""

    metric: Metric
    subject: str  # queue key or Redis target name
    value: float
    group: str | None = None  # the consumer group, for metrics of Scope.GROUP


def publishable(points: Iterable[Point]) -> Iterator[Point]:
    """The points worth a datum: finite (CloudWatch rejects NaN and infinity), and not a 0 of an omit_zero metric."""
    for point in points:
        value = point.value
        if math.isfinite(value) and (value or not point.metric.omit_zero):
            yield point


def iter_datums(points: Iterable[Point], *, environment: str, timestamp: datetime, storage_resolution: int = 60) -> Iterator[Datum]:
    """PutMetricData MetricData entries, all stamped with the one collection time, made one at a time."""
    for point in publishable(points):
        yield {
            "MetricName": point.metric.name,
            "Dimensions": point.metric.dimensions(environment, point.subject, point.group),
            "Timestamp": timestamp,
            "Value": float(point.value),
            "Unit": point.metric.unit.value,
            "StorageResolution": storage_resolution,
        }


def datums(points: Iterable[Point], *, environment: str, timestamp: datetime, storage_resolution: int = 60) -> list[Datum]:
    return list(iter_datums(points, environment=environment, timestamp=timestamp, storage_resolution=storage_resolution))


def _size(datum: Datum) -> int:
    """A generous estimate of a datum's encoded size (cheap: no serialising)."""
    return DATUM_OVERHEAD_BYTES + len(datum["MetricName"]) + sum(len(d["Name"]) + len(d["Value"]) for d in datum["Dimensions"])


def batches(data: Iterable[Datum]) -> Iterator[list[Datum]]:
    """Requests of at most 1000 entries and well under 1 MB each, made as they are consumed."""
    current: list[Datum] = []
    size = 0
    for datum in data:
        datum_size = _size(datum)
        if current and (len(current) >= MAX_DATUMS_PER_REQUEST or size + datum_size > REQUEST_BYTES_BUDGET):
            yield current
            current, size = [], 0
        current.append(datum)
        size += datum_size
    if current:
        yield current


@dataclass
class PublishReport:
    requests: int = 0
    published: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def send(self, count: int, call) -> None:
        """Make one request of `count` datums; a failure is recorded, not raised."""
        from botocore.exceptions import BotoCoreError, ClientError

        self.requests += 1
        try:
            call()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            self.failed += count
            self.errors.append(f"PutMetricData: {error.get('Code', 'error')}: {error.get('Message', '')}".strip())
        except BotoCoreError as exc:
            self.failed += count
            self.errors.append(f"PutMetricData: {type(exc).__name__}: {exc}")
        else:
            self.published += count


def put_metric_data(client, namespace: str, data: Iterable[Datum]) -> PublishReport:
    """Send every batch through botocore's own serialiser; a failed batch does not stop the others."""
    report = PublishReport()
    for batch in batches(data):
        report.send(len(batch), lambda: client.put_metric_data(Namespace=namespace, MetricData=batch))
    return report


# ---------------------------------------------------------------- PutMetricData bodies, JSON 1.0

def json_timestamp(timestamp: datetime) -> str:
    """A timestamp as botocore's JSON serialiser writes it: epoch seconds, an int when whole."""
    seconds = calendar.timegm(timestamp.astimezone(timezone.utc).timetuple())
    if timestamp.microsecond:
        return repr((seconds * 10**6 + timestamp.microsecond) / 10**6)
    return str(seconds)


class DatumTexts:
    """The JSON text of one run's datums (one environment, collection time and resolution), as
    botocore's JSONSerializer writes a MetricData entry that iter_datums gives: keys in that order,
    json.dumps' default separators, ASCII escapes. Each metric's text around the parts that vary
    (subject, consumer group, value) is made once; a datum is then one f-string."""

    def __init__(self, environment: str, timestamp: datetime, storage_resolution: int = 60):
        self.environment = environment
        self.stamp = json_timestamp(timestamp)
        self.storage_resolution = storage_resolution
        self._parts: dict[str, tuple[str, str | None, str, str]] = {}  # by metric name: a str's hash is cached, a Metric's is not

    def parts(self, metric: Metric) -> tuple[str, str | None, str, str]:
        """(before the subject, between subject and group or None, before the value, after the value)."""
        found = self._parts.get(metric.name)
        if found is None:
            environment = self.environment
            names = [d["Name"] for d in metric.dimensions(environment, "", "" if metric.scope is Scope.GROUP else None)]
            head = (
                f'{{"MetricName": {_json_string(metric.name)}, "Dimensions": [{{"Name": {_json_string(names[0])}, '
                f'"Value": {_json_string(environment)}}}, {{"Name": {_json_string(names[1])}, "Value": '
            )
            group = f'}}, {{"Name": {_json_string(names[2])}, "Value": ' if len(names) > 2 else None
            middle = f'}}], "Timestamp": {self.stamp}, "Value": '
            tail = f', "Unit": {_json_string(metric.unit.value)}, "StorageResolution": {self.storage_resolution}}}'
            found = self._parts[metric.name] = (head, group, middle, tail)
        return found

    def points(self, points: Iterable[Point]) -> Iterator[str]:
        """The datum of each publishable point (see publishable)."""
        last_subject = subject_text = None  # a queue's points come together: its name is escaped once
        for metric, subject, value, group in points:
            if not (isfinite(value) and (value or not metric.omit_zero)):  # publishable(), inlined
                continue
            head, between, middle, tail = self.parts(metric)
            if subject is not last_subject:
                last_subject, subject_text = subject, _json_string(subject)
            if between is None:
                yield f"{head}{subject_text}{middle}{float(value)!r}{tail}"
            else:
                yield f"{head}{subject_text}{between}{_json_string(group)}{middle}{float(value)!r}{tail}"

    def column(self, metric: Metric, subjects: Sequence[str], values: Iterable[float | None]) -> list[str]:
        """The datums of one metric of a queue or target scope for many subjects at once (each already a
        JSON string, see json_strings); a value of None makes no datum, nor does what publishable drops."""
        head, between, middle, tail = self.parts(metric)
        if between is not None:
            raise ValueError(f"{metric.name}: a consumer group is required")
        if metric.omit_zero:
            return [f"{head}{s}{middle}{float(v)!r}{tail}" for s, v in zip(subjects, values) if v and isfinite(v)]
        return [f"{head}{s}{middle}{float(v)!r}{tail}" for s, v in zip(subjects, values) if v is not None and isfinite(v)]


def json_strings(texts: Iterable[str]) -> list[str]:
    """Each text as a JSON string, quotes included."""
    return list(map(_json_string, texts))


def request_bodies(
    points: Iterable[Point], *, namespace: str, environment: str, timestamp: datetime, storage_resolution: int = 60
) -> Iterator[tuple[int, bytes]]:
    """(datum count, JSON body) per PutMetricData request for the points: see bodies."""
    return bodies(DatumTexts(environment, timestamp, storage_resolution).points(points), namespace=namespace)


def bodies(datums: Iterable[str], *, namespace: str) -> Iterator[tuple[int, bytes]]:
    """(datum count, JSON body) per PutMetricData request (see Bodies), made as they are consumed."""
    builder = Bodies(namespace)
    for chunk in _chunks(datums):
        yield from builder.add(chunk)
    yield from builder.close()


def _chunks(datums: Iterable[str]) -> Iterator[list[str]]:
    """The datums a request's worth at a time: a run of 500,000 is never one list."""
    rest = iter(datums)
    while chunk := list(itertools.islice(rest, MAX_DATUMS_PER_REQUEST)):
        yield chunk


class Bodies:
    """PutMetricData bodies filled as datums (DatumTexts) are added: at most 1000 datums and
    BODY_BYTES_LIMIT bytes each, the same bytes botocore's JSONSerializer makes of Namespace + MetricData."""

    def __init__(self, namespace: str):
        self._head, self._tail = f'{{"Namespace": {_json_string(namespace)}, "MetricData": [', "]}"
        self._current: list[str] = []

    def add(self, datums: Iterable[str]) -> list[tuple[int, bytes]]:
        """The bodies these datums filled, as (datum count, body)."""
        self._current.extend(datums)
        return [self._take() for _ in range(len(self._current) // MAX_DATUMS_PER_REQUEST)]

    def close(self) -> list[tuple[int, bytes]]:
        """The bodies of the datums left."""
        made = []
        while self._current:
            made.append(self._take())
        return made

    def _take(self) -> tuple[int, bytes]:
        chunk = self._current[:MAX_DATUMS_PER_REQUEST]
        empty = len(self._head) + len(self._tail)
        if empty + sum(map(len, chunk)) + 2 * (len(chunk) - 1) > BODY_BYTES_LIMIT:
            # Long datums (long queue names): as many as fit, the others wait for the next body.
            size, fits = empty - 2, 0
            for datum in chunk:
                size += len(datum) + 2
                if size > BODY_BYTES_LIMIT and fits:
                    break
                fits += 1
            chunk = chunk[:fits]
        del self._current[: len(chunk)]
        return len(chunk), f"{self._head}{', '.join(chunk)}{self._tail}".encode("ascii")


# Our own client parameter: taken out of the call before botocore validates it (leaving a body of
# only the Namespace, too small to compress), put in as the body once botocore has made the request.
_BODY_PARAMETER = "MonitorPreparedBody"
# botocore gzips at level 9; level 1 took 8 ms instead of 47 ms for a run's 41 bodies (10,000
# queues), for 4 % more bytes on the wire.
GZIP_LEVEL = 1


def _take_body(params: dict, context: dict, **_) -> None:
    body = params.pop(_BODY_PARAMETER, None)
    if body is not None:
        context[_BODY_PARAMETER] = body


def _use_body(request, **_) -> None:
    """request-created, before botocore's signer: the prepared body (and its encoding) becomes the request's."""
    prepared = request.context.get(_BODY_PARAMETER)
    if prepared is not None:
        body, encoding = prepared
        request.data = body
        if encoding:
            request.headers["Content-Encoding"] = encoding


def _encoder(client):
    """The body as botocore would send it: gzipped unless compression is disabled (then None) or the body is small."""
    config = client.meta.config
    if config.disable_request_compression is True:  # as botocore.compress decides
        return None
    smallest = config.request_min_compression_size_bytes
    return lambda body: (gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0), "gzip") if len(body) >= smallest else (body, None)


def speaks_json(client) -> bool:
    """True when the client talks JSON 1.0 to CloudWatch (botocore 1.42+), the protocol request_bodies writes."""
    model = client.meta.service_model
    return getattr(model, "resolved_protocol", model.protocol) == "json"


def send_points(
    client, namespace: str, points: Iterable[Point], *, environment: str, timestamp: datetime, storage_resolution: int = 60
) -> PublishReport:
    """Publish the points in ceil(datums/1000) requests, bodies written here; a failed request does not stop the others."""
    if not speaks_json(client):
        data = iter_datums(points, environment=environment, timestamp=timestamp, storage_resolution=storage_resolution)
        return put_metric_data(client, namespace, data)
    return send_datums(client, namespace, DatumTexts(environment, timestamp, storage_resolution).points(points))


def send_datums(client, namespace: str, datums: Iterable[str]) -> PublishReport:
    """Publish datums written by DatumTexts (a client that speaks_json) in ceil(datums/1000) requests."""
    return Requests(client, namespace).send(datums)


# Bodies written and not yet gzipped (each up to 1 MB): a bound, so that at 100,000 queues the
# writing cannot run ahead of the worker thread by more than a few MB.
MAX_BODIES_AWAITING_GZIP = 4
# Requests written ahead and held until the run sends them: at most this many bytes. Gzipped they are
# small (10,000 queues make about 0.2 MB); without gzip (the emulator) 10,000 queues make 9 MB.
MAX_HELD_BYTES = 2 * 1024 * 1024


class Requests:
    """PutMetricData requests made as datums come, and sent when asked (a client that speaks_json).

    Each body is written as soon as it is full and gzipped on a worker thread (zlib lets go of the
    GIL) while the next ones are written, so the collector can make its requests while Redis is still
    being read, and send them once, at the end of the run. A failed request does not stop the others.
    """

    def __init__(self, client, namespace: str):
        events = client.meta.events
        events.register_first("provide-client-params.cloudwatch.PutMetricData", _take_body, unique_id="monitor-take-body")
        events.register_first("request-created.cloudwatch.PutMetricData", _use_body, unique_id="monitor-use-body")
        self._client, self._namespace, self._encode = client, namespace, _encoder(client)  # None: sent as written
        self._worker: ThreadPoolExecutor | None = None  # made when there is something to gzip
        self._counting = threading.Lock()  # _held is changed by this thread and by the worker's callbacks
        self.discard()

    @property
    def full(self) -> bool:
        """True once the requests held reach MAX_HELD_BYTES, and always when nothing is gzipped (the
        emulator): the caller should make no more before sending."""
        return self._encode is None or self._held >= MAX_HELD_BYTES

    def add(self, datums: Iterable[str]) -> None:
        for chunk in _chunks(datums):
            for count, body in self._bodies.add(chunk):
                self._prepare(count, body)

    def _prepare(self, count: int, body: bytes) -> None:
        with self._counting:
            self._held += len(body)  # until gzip says better
        if self._encode is None:  # nothing to gzip: no worker thread
            prepared: Future = Future()
            prepared.set_result((body, None))
        else:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gzip")
            while len(self._gzipping) >= MAX_BODIES_AWAITING_GZIP:
                self._gzipping.popleft().result()
            prepared = self._worker.submit(self._encode, body)
            prepared.add_done_callback(lambda done, written=len(body): self._gzipped(done, written))
            self._gzipping.append(prepared)
        self._ready.append((count, prepared))

    def _gzipped(self, done, written: int) -> None:
        if not done.cancelled() and done.exception() is None:
            with self._counting:
                self._held += len(done.result()[0]) - written

    def discard(self) -> None:
        """Forget every request made so far (the run failed, or starts its reads again)."""
        self.close()
        self._bodies = Bodies(self._namespace)
        self._ready: collections.deque[tuple[int, Any]] = collections.deque()  # (datum count, future of the body as sent)
        self._gzipping: collections.deque = collections.deque()
        self._held = 0

    def send(self, rest: Iterable[str] = ()) -> PublishReport:
        """Send every request made so far, then the datums of `rest`, each request as soon as it is
        made; then this is empty again."""
        report = PublishReport()

        def flush(keep: int) -> None:  # the last `keep` may still be gzipping while the next body is written
            while len(self._ready) > keep:
                count, prepared = self._ready.popleft()
                report.send(count, lambda: self._client.put_metric_data(Namespace=self._namespace, **{_BODY_PARAMETER: prepared.result()}))

        try:
            flush(0)
            for chunk in _chunks(rest):
                self.add(chunk)
                flush(1)
            for count, body in self._bodies.close():
                self._prepare(count, body)
            flush(0)
        finally:
            self.discard()
        return report

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None


def iter_emf_lines(points: Iterable[Point], *, namespace: str, environment: str, timestamp: datetime, storage_resolution: int = 60) -> Iterator[str]:
    """Embedded Metric Format: one JSON log line per queue or target, no API call needed, made one at a time.

    Points of one subject arrive together (a queue's, then a target's), so consecutive points are
    grouped: memory stays one subject's worth whatever the number of queues.
    """
    epoch_ms = int(timestamp.timestamp() * 1000)
    for (_, subject, consumer_group), run in itertools.groupby(publishable(points), key=lambda p: (p.metric.scope, p.subject, p.group)):
        group = list(run)
        for start in range(0, len(group), EMF_MAX_METRICS_PER_DIRECTIVE):
            chunk = group[start : start + EMF_MAX_METRICS_PER_DIRECTIVE]
            dims = chunk[0].metric.dimensions(environment, subject, consumer_group)
            record: dict[str, Any] = {
                "_aws": {
                    "Timestamp": epoch_ms,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": namespace,
                            "Dimensions": [[d["Name"] for d in dims]],
                            "Metrics": [
                                {"Name": p.metric.name, "Unit": p.metric.unit.value, **({"StorageResolution": 1} if storage_resolution == 1 else {})}
                                for p in chunk
                            ],
                        }
                    ],
                }
            }
            record.update({d["Name"]: d["Value"] for d in dims})
            record.update({p.metric.name: p.value for p in chunk})
            yield json.dumps(record, separators=(",", ":"))


def emf_lines(points: Iterable[Point], *, namespace: str, environment: str, timestamp: datetime, storage_resolution: int = 60) -> list[str]:
    return list(iter_emf_lines(points, namespace=namespace, environment=environment, timestamp=timestamp, storage_resolution=storage_resolution))
