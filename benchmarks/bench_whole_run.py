"""The whole collector run (read + every PutMetricData request built, gzipped and signed) next to Redis's limit.

Run: python -m benchmarks.bench_whole_run [--queues 10000] [--memory-queues 100000]

In one run, on one throwaway redis-server (monitor.local.redis_server), at --queues queues of three
lists each (queue, processing, dead letter; all non-empty, so every one is a real key):
- the collector's whole run, as the Lambda runs it: reads, points, and every PutMetricData request
  built, gzipped and signed by botocore as for real AWS, answered by a before-send hook (no network);
- `redis-benchmark -c 1 -P 1000 llen` on the same server: the server's limit, in commands/s (best of 3);
- the naive loop: one LLEN or LINDEX per round trip;
- one Prometheus redis_exporter scrape of the same keys (depth only, no ages; the Debian package
  prometheus-redis-exporter, installed here with apt-get when missing);
then the handler's import time against `import boto3` (whole processes, best of 5), the peak RSS of
`provision-alarms collect --once` and of the Lambda handler at --memory-queues queues (ten patterns
of 10,000 keys, each key with metrics of its own; PutMetricData answered by a local HTTP stub), and
the load time of a spec declaring --queues queues (libyaml and pure Python), also when every one of
them has a problem. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchmarks.bench_reader import best_of, redis_benchmark
from monitor.local.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
# Goals of issue 16.
MIN_SHARE_OF_REDIS_BENCHMARK = 1 / 8
MIN_SPEEDUP_OVER_NAIVE = 20
MIN_SPEEDUP_OVER_EXPORTER = 3
MAX_IMPORT_RATIO = 1.3
MAX_PEAK_RSS_MB = 128
MAX_SPEC_LOAD_SECONDS = 0.5
PROCESS_REPEATS = 5
REDIS_BENCHMARK_REPEATS = 3
KEYS_PER_PATTERN = 10_000  # the spec's max_keys ceiling: a pattern's keys that get metrics of their own
EXPORTER_PACKAGE = "prometheus-redis-exporter"
# Dummy credentials: requests are signed, never sent (before-send answers them), so nothing leaves the machine.
OFFLINE_AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def seed(client, count: int, prefix: str) -> list[str]:
    """`count` queues `{prefix}{i}` of 1-3 JSON messages, each with a processing and a dead-letter list;
    each queue's oldest message has a time of its own (2 minutes to an hour old, to the microsecond)."""
    base = time.time() - 120
    keys = []
    pipe = client.pipeline(transaction=False)
    for i in range(count):
        key = f"{prefix}{i}"
        stamp = datetime.fromtimestamp(base - i % 3600 - i / count, timezone.utc).replace(tzinfo=None).isoformat()
        message = json.dumps({"id": i, "timestamp": stamp, "payload": {"n": i}})
        pipe.rpush(key, *[message] * (1 + i % 3))
        pipe.rpush(f"{key}:wip", message)
        pipe.rpush(f"{key}:dlq", message)
        keys.append(key)
        if len(pipe) >= 6000:
            pipe.execute()
    pipe.execute()
    return keys


# ---------------------------------------------------------------- the whole run

def offline_cloudwatch():
    """The collector's own CloudWatch client, configured as for real AWS (gzip on), answering each request unsent."""
    from botocore.awsrequest import AWSResponse

    from monitor.collect.collector import botocore_client

    class _Raw:
        def stream(self, **_):
            yield b"{}"

    sent = {"requests": 0, "bytes": 0, "gzipped": 0}

    def answer(request, **_):
        sent["requests"] += 1
        sent["bytes"] += len(request.body)
        sent["gzipped"] += request.headers.get("Content-Encoding") in (b"gzip", "gzip")
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Raw())

    client = botocore_client("cloudwatch", region="us-east-1")
    client.meta.events.register("before-send.cloudwatch.PutMetricData", answer)
    return client, sent


def declared_collector(port: int, keys: list[str], cloudwatch):
    import dataclasses

    from monitor.collect.collector import Collector
    from monitor.spec.load import load_spec
    from monitor.spec.model import Queue
    from monitor.spec.sources import QueueSource

    spec = load_spec(str(ROOT / "alarms.yaml"), env="demo", environ={"DEMO_REDIS_PORT": str(port)})
    queues = tuple(Queue(key=k, name=k.replace(":", "-"), source=QueueSource(k, f"{k}:wip", f"{k}:dlq")) for k in keys)
    spec = dataclasses.replace(spec, queues=queues, patterns=(), streams=(), delayed=())
    environ = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port), "REDIS_AUTH_TOKEN": "", "REDIS_TLS_ENABLED": "false"}
    return Collector(spec, spec.environment("demo"), environ=environ, cloudwatch=cloudwatch, emit=lambda line: None)


def naive(client, keys: list[str]) -> int:
    """One command per round trip: LLEN of the three lists, LINDEX of the oldest message."""
    for key in keys:
        client.llen(key)
        client.llen(f"{key}:wip")
        client.llen(f"{key}:dlq")
        client.lindex(key, -1)
    return 4 * len(keys)


# ---------------------------------------------------------------- redis_exporter

def exporter_binary() -> str:
    found = shutil.which(EXPORTER_PACKAGE) or shutil.which("redis_exporter")
    if found:
        return found
    print(f"installing {EXPORTER_PACKAGE} (Debian) ...", file=sys.stderr)
    subprocess.run(["apt-get", "install", "-y", "-q", EXPORTER_PACKAGE], check=True, capture_output=True)
    return shutil.which(EXPORTER_PACKAGE)


@contextlib.contextmanager
def redis_exporter(redis_port: int, pattern: str):
    port = free_port()
    command = [
        exporter_binary(),
        "-redis.addr", f"redis://127.0.0.1:{redis_port}",
        "-web.listen-address", f"127.0.0.1:{port}",
        "-check-keys", pattern,
        "-check-keys-batch-size", "1000",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        for _ in range(100):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
                break
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def scrape(url: str) -> int:
    """One scrape; the number of keys whose size it reports."""
    text = urllib.request.urlopen(url, timeout=600).read().decode()
    return len(re.findall(r'^redis_key_size\{', text, flags=re.MULTILINE))


# ---------------------------------------------------------------- imports, memory, spec loading

def process_seconds(code: str, env: dict | None = None) -> float:
    """Best-of wall time of a fresh interpreter running `code`, after one discarded run (bytecode written)."""
    env = {**os.environ, **(env or {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    times = []
    for _ in range(PROCESS_REPEATS + 1):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)
        times.append(time.perf_counter() - started)
    return min(times[1:])


class _Accept(BaseHTTPRequestHandler):
    """A CloudWatch stand-in that answers every PutMetricData with 200 {}: memory of the client side only."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def accepting_endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accept)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


MEMORY_SPEC = """\
version: 1
namespace: Bench/Queues
name_prefix: bench
collector:
  discovery:
    scan_count: 10000
    time_budget_seconds: 60
environments:
  bench:
    region: us-east-1
    redis:
      host: 127.0.0.1
      port: {port}
      tls: false
patterns:
{patterns}"""

PEAK_RSS = "import json, resource, sys; print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), file=sys.stderr)"


def peak_rss_mb(code: str, env: dict) -> tuple[float, str]:
    """Peak RSS of a fresh interpreter running `code` (which prints its own ru_maxrss last on stderr)."""
    done = subprocess.run([sys.executable, "-c", code + "\n" + PEAK_RSS], capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env})
    if done.returncode:
        raise SystemExit(f"memory child failed ({done.returncode}): {done.stderr[-2000:]}")
    return float(done.stderr.strip().splitlines()[-1]), done.stdout


def spec_text(count: int, broken: bool) -> str:
    base = (ROOT / "alarms.yaml").read_text().split("\nqueues:\n")[0]
    extra = "    oldest_end: middle\n" if broken else ""
    return base + "\nqueues:\n" + "".join(f"  - key: t:{i}\n    processing: t:{i}:wip\n    dead_letter: t:{i}:dlq\n{extra}" for i in range(count))


def spec_load_seconds(path: str, loader) -> tuple[float, float, int]:
    """Best-of wall and CPU time of load_spec on the file with the given PyYAML loader class; the problems found (0 if it loads)."""
    from monitor.errors import SpecError
    from monitor.spec import yamlload
    from monitor.spec.load import load_spec

    saved, yamlload._Loader = yamlload._Loader, loader
    try:
        def load() -> int:
            try:
                load_spec(path, env="demo", environ={})
            except SpecError as error:
                return len(error.problems)
            return 0

        cpu = []

        def timed() -> int:
            started = time.process_time()
            found = load()
            cpu.append(time.process_time() - started)
            return found

        wall, found = best_of(timed)
        return wall, min(cpu), found
    finally:
        yamlload._Loader = saved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=10_000)
    parser.add_argument("--memory-queues", type=int, default=100_000)
    args = parser.parse_args(argv)
    os.environ.update(OFFLINE_AWS)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_DISABLE_REQUEST_COMPRESSION", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    n, lists = args.queues, 3 * args.queues
    rows, checks = [], []

    with RedisServer() as server:
        client = server.client()
        keys = seed(client, n, "bench:q:")
        cloudwatch, sent = offline_cloudwatch()
        collector = declared_collector(server.port, keys, cloudwatch)
        collector.run()  # caches the script, warms the connection
        sent.update(requests=0, bytes=0, gzipped=0)
        run_s, summary = best_of(collector.run)
        requests_per_run = sent["requests"] // 5
        redis_s = min(collector.run().duration_ms for _ in range(5)) / 1000
        naive_s, _ = best_of(lambda: naive(client, keys))
        limit = max(redis_benchmark(server.port) for _ in range(REDIS_BENCHMARK_REPEATS))  # the best, as ours is
        with redis_exporter(server.port, "bench:q:*") as url:
            scrape(url)  # its first scrape also sets itself up
            exporter_s, exporter_keys = best_of(lambda: scrape(url))

        # Peak memory at --memory-queues: ten patterns of 10,000 keys each, every key with metrics of its own.
        groups = math.ceil(args.memory_queues / KEYS_PER_PATTERN)
        client.flushall()
        for g in range(groups):
            seed(client, min(KEYS_PER_PATTERN, args.memory_queues - g * KEYS_PER_PATTERN), f"mem:{g}:")
        patterns = "".join(
            f'  - pattern: "mem:{g}:*[0-9]"\n    processing: "{{key}}:wip"\n    dead_letter: "{{key}}:dlq"\n    max_keys: {KEYS_PER_PATTERN}\n'
            for g in range(groups)
        )
        with tempfile.TemporaryDirectory() as work, accepting_endpoint() as endpoint:
            spec_path = Path(work) / "memory.yaml"
            spec_path.write_text(MEMORY_SPEC.format(port=server.port, patterns=patterns))
            env = {"AWS_ENDPOINT_URL": endpoint}
            cli_mb, _ = peak_rss_mb(
                "from monitor.commands.cli import main\n"
                f"assert main(['collect', '--once', '--spec', {str(spec_path)!r}, '--env', 'bench']) == 0",
                env,
            )
            handler_mb, out = peak_rss_mb(
                "import json; from lambda_handlers.queue_metrics import handler; print(json.dumps(handler({}, None)))",
                {**env, "MONITOR_SPEC": str(spec_path), "MONITOR_ENV": "bench"},
            )
            handled = json.loads(out.strip().splitlines()[-1])
            assert handled["queues_read"] == args.memory_queues and not handled["connection_failure"], handled

    boto3_s = process_seconds("import boto3")
    handler_s = process_seconds("import lambda_handlers.queue_metrics")
    bare_s = process_seconds("pass")

    import yaml

    with tempfile.TemporaryDirectory() as work:
        good, broken = Path(work) / "good.yaml", Path(work) / "broken.yaml"
        good.write_text(spec_text(n, broken=False))
        broken.write_text(spec_text(n, broken=True))
        c_loader = getattr(yaml, "CSafeLoader", None)
        spec_c_s, spec_c_cpu, _ = spec_load_seconds(str(good), c_loader) if c_loader else (math.nan, math.nan, 0)
        spec_py_s, spec_py_cpu, _ = spec_load_seconds(str(good), yaml.SafeLoader)
        broken_s, broken_cpu, broken_found = spec_load_seconds(str(broken), c_loader or yaml.SafeLoader)
        spec_kb = good.stat().st_size / 1024

    run_rate, read_rate, naive_rate = lists / run_s, lists / redis_s, lists / naive_s
    exporter_rate = exporter_keys / exporter_s
    print(f"{n:,} queues = {lists:,} lists (queue, processing, dead letter; all non-empty) on one local redis-server, best of 5")
    print(f"{'':62} {'lists/s':>10} {'x naive':>8} {'of limit':>9} {'x exporter':>11}")
    rows = (
        (f"collector, whole run ({summary.published:,} datums, {requests_per_run} PutMetricData, SigV4)", run_rate),
        ("collector, reading (CollectionDuration; requests written meanwhile)", read_rate),
        (f"redis_exporter, one scrape ({exporter_keys:,} key sizes, no ages)", exporter_rate),
        ("naive loop, one command per round trip (3 LLEN + LINDEX)", naive_rate),
    )
    for label, rate in rows:
        print(f"{label:62} {rate:10,.0f} {rate / naive_rate:8.1f} {rate / limit:9.3f} {rate / exporter_rate:11.1f}")
    print(f"{'redis-benchmark -c 1 -P 1000 llen (commands/s, best of 3)':62} {limit:10,.0f} {limit / naive_rate:8.1f} {1:9.3f}")
    print(f"whole run {run_s * 1000:.0f} ms: reading, with the requests written meanwhile, {redis_s * 1000:.0f} ms; the rest and sending {(run_s - redis_s) * 1000:.0f} ms; "
          f"{summary.points:,} points -> {summary.published:,} datums (error counts of 0 not sent); "
          f"{sent['gzipped']}/{sent['requests']} requests gzipped (botocore's rule: bodies >= 10 KiB)")
    print(f"import (whole process, best of {PROCESS_REPEATS}): lambda_handlers.queue_metrics {handler_s * 1000:.0f} ms, "
          f"boto3 {boto3_s * 1000:.0f} ms (ratio {handler_s / boto3_s:.2f}); bare interpreter {bare_s * 1000:.0f} ms")
    print(f"peak RSS at {args.memory_queues:,} queues (each with metrics, PutMetricData to a local stub): "
          f"provision-alarms collect --once {cli_mb:.0f} MB, Lambda handler {handler_mb:.0f} MB")
    print(f"spec of {n:,} declared queues ({spec_kb:,.0f} KiB), load_spec wall (CPU): {spec_c_s:.2f} s ({spec_c_cpu:.2f} s) with libyaml, "
          f"{spec_py_s:.2f} s ({spec_py_cpu:.2f} s) pure Python; every queue broken: {broken_s:.2f} s ({broken_cpu:.2f} s), {broken_found:,} problems reported")
    load = os.getloadavg()[0]
    print(f"load average during the run: {load:.1f} on {os.cpu_count()} CPUs (wall times stretch when it exceeds the CPUs)")

    checks = (
        ("whole run >= 1/8 of redis-benchmark", run_rate / limit >= MIN_SHARE_OF_REDIS_BENCHMARK),
        ("whole run >= 20x naive loop", run_rate / naive_rate >= MIN_SPEEDUP_OVER_NAIVE),
        ("whole run >= 3x redis_exporter", run_rate / exporter_rate >= MIN_SPEEDUP_OVER_EXPORTER),
        ("PutMetricData requests == ceil(datums/1000)", requests_per_run == math.ceil(summary.published / 1000)),
        ("handler import <= 1.3x boto3", handler_s <= MAX_IMPORT_RATIO * boto3_s),
        ("peak RSS < 128 MB at 100k (CLI and handler)", max(cli_mb, handler_mb) < MAX_PEAK_RSS_MB),
        ("10k-queue spec loads < 0.5 s (wall)", spec_c_s < MAX_SPEC_LOAD_SECONDS),
        ("10k-queue spec loads < 0.5 s (CPU)", spec_c_cpu < MAX_SPEC_LOAD_SECONDS),
        ("every broken queue reported", broken_found == n),
    )
    for name, ok in checks:
        print(f"  {'met   ' if ok else 'MISSED'}  {name}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
