"""Discovery and collection of 100,000 queues in a keyspace of 1,000,000 keys, on one node and on a cluster.

Run: python -m benchmarks.bench_scale [--queues 100000] [--other-keys 900000] [--max-keys 100]
It starts its own throwaway redis-server and three-master Redis Cluster (monitor.local.redis_server) on
free loopback ports, loads them with `redis-cli --pipe` (RESP written here, grouped by the node that
owns each key's slot), and runs the real Collector (dry run: points are built, nothing is sent) in a
fresh subprocess per measurement, so its peak memory is the collection's own. Not part of `make test`.

Measured on the 2-core project VM (redis-server 7.0, defaults: 100,000 queues among 1,000,000 keys,
max_keys 100, SCAN COUNT 10000), whole run 1 min 41 s including loading:
                       one node        3-master cluster
  collection           5.3 s           9.8 s   (of which discovery 1.5 s / 1.7 s)
  round trips          201             204     (68 per node: 34 SCAN + 34 pipelines of 1000 keys)
  peak memory          +48 MB RSS      +62 MB RSS  (tracemalloc peak 40 MB / 57 MB)
  metrics published    408             409     (100 queues x 4 + 4 aggregates + target metrics;
                                                 one PutMetricData request)
One node reads through the Lua script (100 SCAN + 100 script calls + 1 to cache the script); the
cluster through pipelines, decoding each oldest message here, hence its longer reads.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from redis.crc import key_slot

from monitor.collect.publish import MAX_DATUMS_PER_REQUEST
from monitor.local.redis_server import LocalCluster, RedisServer

PATTERN = "tenant:*:jobs"
SPEC = """\
version: 1
namespace: Bench/Queues
name_prefix: bench
collector:
  discovery:
    scan_count: {scan_count}
    time_budget_seconds: 60
environments:
  bench:
    redis:
      host: 127.0.0.1
      port: {port}
      tls: false
      cluster: {cluster}
patterns:
  - pattern: "{pattern}"
    max_keys: {max_keys}
"""


def resp(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def commands(queues: int, other_keys: int, now: float):
    """(key, RESP) for every key: queues of 1-3 JSON messages, then strings and hashes that are not queues."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 120))
    for i in range(queues):
        key = f"tenant:{i}:jobs"
        messages = [json.dumps({"id": f"{i}-{n}", "timestamp": stamp, "payload": {"n": n}}) for n in range(1 + i % 3)]
        yield key, resp("RPUSH", key, *messages)
    for i in range(other_keys):
        if i % 3 == 0:
            key = f"tenant:{i}:state"
            yield key, resp("HSET", key, "status", "active", "seen", str(i))
        else:
            key = f"cache:{i}:jobs-page"  # looks close to the pattern, is a string
            yield key, resp("SET", key, "x" * 32)


def load(ports_by_slot, queues: int, other_keys: int, now: float, directory: Path) -> float:
    """Write RESP per node and pipe it in with redis-cli --pipe; returns seconds."""
    started = time.perf_counter()
    files = {port: open(directory / f"load-{port}.resp", "wb") for port in ports_by_slot(None)}
    for key, command in commands(queues, other_keys, now):
        files[ports_by_slot(key)].write(command)
    for port, handle in files.items():
        handle.close()
        with open(handle.name, "rb") as data:
            subprocess.run(["redis-cli", "-p", str(port), "--pipe"], stdin=data, check=True, capture_output=True)
    return time.perf_counter() - started


def child(spec_path: str, trace: bool) -> None:
    """One collection in this fresh process; prints its figures as JSON."""
    from monitor.collect.collector import Collector
    from monitor.spec.load import load_spec

    spec = load_spec(spec_path, env="bench", environ={})
    collector = Collector(spec, spec.environment("bench"), environ={}, dry_run=True, emit=lambda line: None)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    summary = collector.run()
    seconds = time.perf_counter() - started
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    data = collector.last_datums
    discovery_seconds = None if trace else _discovery_alone(spec)
    print(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "failure": summary.failure,
                "keys_discovered": summary.keys_discovered,
                "queues_read": summary.queues_read,
                "per_key_queues": len({d["Dimensions"][1]["Value"] for d in data if d["Dimensions"][1]["Name"] == "Queue"}),
                "metrics": len(data),
                "aggregates": sum(1 for d in data if d["Dimensions"][1]["Name"] == "Pattern"),
                "put_requests": math.ceil(len(data) / MAX_DATUMS_PER_REQUEST),
                "discovery_seconds": discovery_seconds,
                "round_trips": summary.round_trips,
                "round_trips_by_node": summary.round_trips_by_node,
                "discovery_truncated": summary.discovery_truncated,
                "rss_growth_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before, 1),
                "traced_peak_mb": round(traced, 1) if traced is not None else None,
            }
        )
    )


def _discovery_alone(spec) -> float:
    """Seconds of the SCANs alone (a second pass, after the measured run), to split the total."""
    from monitor.collect.cluster import discover_cluster
    from monitor.collect.collector import MAX_MATCHED_KEYS
    from monitor.collect.connection import open_client, resolve_settings
    from monitor.collect.reader import discover

    env = spec.environment("bench")
    settings = resolve_settings(env, spec.collector, {})
    client = open_client(settings, None)
    find = discover_cluster if settings.cluster else discover
    started = time.perf_counter()
    find(client, PATTERN, scan_count=spec.collector.discovery.scan_count, max_keys=MAX_MATCHED_KEYS, time_budget_seconds=60)
    return round(time.perf_counter() - started, 3)


def measure(spec_path: str) -> dict:
    def run(trace: bool) -> dict:
        command = [sys.executable, "-m", "benchmarks.bench_scale", "--child", spec_path] + (["--trace"] if trace else [])
        return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)

    figures = run(trace=False)  # tracemalloc's bookkeeping slows and inflates: time and RSS come from an untraced run
    figures["traced_peak_mb"] = run(trace=True)["traced_peak_mb"]
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=100_000)
    parser.add_argument("--other-keys", type=int, default=900_000)
    parser.add_argument("--max-keys", type=int, default=100, help="per-key metrics per pattern (the cost guard)")
    parser.add_argument("--scan-count", type=int, default=10_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.trace)
        return 0
    if shutil.which("redis-cli") is None:
        print("redis-cli is not on PATH", file=sys.stderr)
        return 2
    now = time.time()
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    results = {}
    try:
        print(f"{args.queues:,} queues ({PATTERN}) among {args.queues + args.other_keys:,} keys; max_keys {args.max_keys}; SCAN COUNT {args.scan_count}")
        (work / "one").mkdir()
        with RedisServer(directory=work / "one") as server:
            seconds = load(lambda key: [server.port] if key is None else server.port, args.queues, args.other_keys, now, work)
            keys = server.client().dbsize()
            spec = work / "one.yaml"
            spec.write_text(SPEC.format(port=server.port, cluster="false", pattern=PATTERN, max_keys=args.max_keys, scan_count=args.scan_count))
            results["one node"] = {"loaded_keys": keys, "load_seconds": round(seconds, 1), **measure(str(spec))}
        with LocalCluster(directory=work / "cluster") as cluster:
            cluster.server_for("x")  # reads the slot table once
            owners = {s: next(p for a, b, p in cluster._slot_owners if a <= s <= b) for s in range(16384)}

            def port_of(key):
                return [s.port for s in cluster.servers] if key is None else owners[key_slot(key.encode())]

            seconds = load(port_of, args.queues, args.other_keys, now, work)
            keys = sum(s.client().dbsize() for s in cluster.servers)
            spec = work / "cluster.yaml"
            spec.write_text(SPEC.format(port=cluster.port, cluster="true", pattern=PATTERN, max_keys=args.max_keys, scan_count=args.scan_count))
            results["3-master cluster"] = {"loaded_keys": keys, "load_seconds": round(seconds, 1), **measure(str(spec))}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, figures in results.items():
        print(f"\n{name}:")
        for key, value in figures.items():
            print(f"  {key}: {value}")
    bad = [name for name, f in results.items() if f["failure"] or f["keys_discovered"] != args.queues or f["queues_read"] != args.queues]
    if bad:
        print(f"\nFAILED: not every queue was discovered and read on: {', '.join(bad)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
