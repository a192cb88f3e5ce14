"""The Python side of a read and of a whole run, this tree next to a baseline revision, in one run.

Run: .venv/bin/python -m benchmarks.bench_read_python [--queues 10000] [--baseline main]

One throwaway redis-server (monitor.local.redis_server) holds --queues plain-list queues of three
non-empty lists each (queue, processing, dead letter), seeded as benchmarks/bench_whole_run.py does.
The same measurements then run in a fresh interpreter on this tree and on a git worktree of
--baseline (made in a temporary directory and removed after), against the same server:
read_queues through the script and through pipelines, and the collector's whole run (PutMetricData
requests built, gzipped and signed, answered unsent), each as CPU time (process_time: the Python
side, which other load on the machine stretches less than wall time) and wall time, best of
REPEATS, with the round trips. Issue 16 names the baseline: the reader before its rework for queue
parts of every Redis type read 10,000 such queues in about 103 ms. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEATS = 7
PREFIX = "bench:q:"
OFFLINE_AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def best(run) -> tuple[float, float, object]:
    """Best CPU and best wall seconds of REPEATS calls of `run` (after one warm-up), and its last result."""
    result = run()
    cpu = wall = float("inf")
    for _ in range(REPEATS):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = run()
        cpu, wall = min(cpu, time.process_time() - started_cpu), min(wall, time.perf_counter() - started)
    return cpu, wall, result


def measure(port: int, count: int) -> dict:
    """The figures of the tree this interpreter imports `monitor` from (run in a child process)."""
    os.environ.update(OFFLINE_AWS)
    from benchmarks.bench_whole_run import declared_collector, offline_cloudwatch
    from monitor.collect.reader import read_queues
    from monitor.spec.sources import QueueSource

    import redis

    client = redis.Redis(port=port)
    keys = [f"{PREFIX}{i}" for i in range(count)]
    sources = [QueueSource(k, f"{k}:wip", f"{k}:dlq") for k in keys]
    figures = {}
    for name, script in (("script", True), ("pipelines", False)):
        cpu, wall, result = best(lambda: read_queues(client, sources, now=time.time(), use_script=script))
        assert all(r.oldest_age_seconds is not None for r in result.readings)
        figures[name] = {"cpu": cpu, "wall": wall, "round_trips": result.round_trips}
    cloudwatch, sent = offline_cloudwatch()
    collector = declared_collector(port, keys, cloudwatch)
    cpu, wall, summary = best(collector.run)
    figures["whole run"] = {"cpu": cpu, "wall": wall, "round_trips": summary.round_trips, "datums": summary.published}
    import monitor

    figures["tree"] = str(Path(monitor.__file__).parent.parent)
    return figures


def run_in(tree: Path, port: int, count: int) -> dict:
    """measure() in a fresh interpreter importing `monitor` and the benchmark helpers from `tree`."""
    # This file runs by path (a baseline may not have it); everything it imports comes from `tree`.
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(port), str(count)]
    done = subprocess.run(command, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"measuring {tree} failed: {done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(figures["tree"]).resolve() == tree.resolve(), figures["tree"]
    return figures


def revision(tree: Path, rev: str = "HEAD") -> str:
    return subprocess.run(["git", "rev-parse", "--short", rev], cwd=tree, capture_output=True, text=True, check=True).stdout.strip()


def main(argv=None) -> int:
    from benchmarks.bench_whole_run import seed
    from monitor.local.redis_server import RedisServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=10_000)
    parser.add_argument("--baseline", default="main", help="git revision to compare with (default: main)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work, RedisServer() as server:
        base = Path(work) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(base), args.baseline], cwd=ROOT, check=True)
        try:
            seed(server.client(), args.queues, PREFIX)
            columns = {f"baseline {revision(base)}": run_in(base, server.port, args.queues), f"this tree {revision(ROOT)}": run_in(ROOT, server.port, args.queues)}
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=True)
    (before, old), (after, new) = columns.items()
    print(f"{args.queues:,} plain-list queues = {3 * args.queues:,} lists on one local redis-server; best of {REPEATS}, ms")
    print(f"{'':30} {before + ' CPU':>22} {'wall':>7} {after + ' CPU':>22} {'wall':>7} {'CPU ratio':>10} {'round trips':>12}")
    for name, label in (("script", "read_queues, script"), ("pipelines", "read_queues, pipelines"), ("whole run", "Collector.run, whole run")):
        a, b = old[name], new[name]
        trips = f"{a['round_trips']} -> {b['round_trips']}"
        print(f"{label:30} {a['cpu'] * 1000:22.0f} {a['wall'] * 1000:7.0f} {b['cpu'] * 1000:22.0f} {b['wall'] * 1000:7.0f} {b['cpu'] / a['cpu']:10.2f} {trips:>12}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    same = all(old[name]["round_trips"] == new[name]["round_trips"] for name in ("script", "pipelines", "whole run"))
    print(f"  {'met   ' if same else 'MISSED'}  same round trips as the baseline")
    return 0 if same else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(measure(int(sys.argv[2]), int(sys.argv[3]))))
        sys.exit(0)
    sys.exit(main())
