"""What the packaged collector costs per run: the numbers behind MemorySize and Timeout in deploy/collector.yaml.

Run: python -m benchmarks.bench_lambda [--queues 10000] [--arch x86_64]
It builds the zip (deploy/package.py), runs the handler under python3.12 with only the zip and boto3
importable (tests/support/lambda_sandbox.py), against a throwaway redis-server and the AWS emulator,
and reports CPU seconds, wall seconds and peak RSS: cold (import + first run) and warm.
Lambda gives a function CPU in proportion to its memory (1769 MB = 1 vCPU), so CPU seconds divided
by MemorySize/1769 estimate the wall time there.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

from monitor.local.emulator import local_aws
from monitor.local.redis_server import RedisServer, new_password

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support import lambda_sandbox  # noqa: E402
from support.servers import AWS_TEST_ENV  # noqa: E402

MB_PER_VCPU = 1769  # Lambda: a function with 1769 MB has the equivalent of one vCPU
RUNS = 3  # one cold run, then warm ones in the same process


def _package():
    spec = importlib.util.spec_from_file_location("package", ROOT / "deploy" / "package.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _message(index: int, now: float) -> str:
    return json.dumps({"message_id": index, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 30))})


def _spec_with_pattern(path: Path, queues: int, publish: str) -> None:
    text = (ROOT / "alarms.yaml").read_text()
    text = text.replace("\nqueues:\n", f"\npatterns:\n  - pattern: 'bench:*:jobs'\n    max_keys: {queues}\n\nqueues:\n", 1)
    text = text.replace("time_budget_seconds: 5", "time_budget_seconds: 30").replace("publish: put_metric_data", f"publish: {publish}")
    path.write_text(text)


def _line(label: str, report: dict, memory_mb: int) -> str:
    share = memory_mb / MB_PER_VCPU
    cold_cpu = report["import_cpu_seconds"] + report["runs"][0]["cpu_seconds"]
    warm = report["runs"][1:]
    warm_cpu = min(r["cpu_seconds"] for r in warm)
    warm_wall = min(r["seconds"] for r in warm)
    return (
        f"{label:<34} cold {cold_cpu:5.2f} s CPU | warm {warm_cpu:6.3f} s CPU, {warm_wall:6.3f} s wall | "
        f"peak RSS {report['max_rss_mb']:5.0f} MB | at {memory_mb} MB: cold ~{cold_cpu / share:4.1f} s, warm ~{warm_cpu / share:5.2f} s + waits"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", type=int, default=10_000)
    parser.add_argument("--arch", default="x86_64")
    parser.add_argument("--memory", type=int, default=256, help="MemorySize (MB) to estimate Lambda times for")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="bench-lambda-"))
    zip_path = _package().build(args.arch, scratch / "dist", scratch / "wheels")
    python = lambda_sandbox.lambda_python()
    runtime = lambda_sandbox.make_runtime_dir(scratch / "runtime", python)
    task = lambda_sandbox.unpack(zip_path, scratch / "task")
    print(f"{zip_path.name}: {zip_path.stat().st_size} bytes; interpreter {python}")
    password = new_password()
    (scratch / "redis").mkdir()
    with local_aws() as endpoint_url, RedisServer(directory=scratch / "redis", password=password) as server:
        admin = server.client()
        now = time.time()
        admin.lpush("hokusai:model_ready_queue", _message(1, now), _message(2, now))
        admin.lpush("hokusai:mint_requests", _message(3, now))
        env = {
            "PATH": "/usr/bin:/bin",
            **AWS_TEST_ENV,
            "AWS_ENDPOINT_URL": endpoint_url,
            "MONITOR_ENV": "demo",
            "DEMO_REDIS_PORT": str(server.port),
            "REDIS_AUTH_TOKEN": password,
        }
        report = lambda_sandbox.run(python, task, runtime, f"run:{RUNS}", env)
        print(_line("hokusai (2 queues, put_metric_data)", report, args.memory))
        pipe = admin.pipeline(transaction=False)
        for index in range(args.queues):
            pipe.lpush(f"bench:{index}:jobs", _message(index, now))
        pipe.execute()
        for publish in ("put_metric_data", "emf"):
            spec_path = scratch / f"spec-{publish}.yaml"
            _spec_with_pattern(spec_path, args.queues, publish)
            report = lambda_sandbox.run(python, task, runtime, f"run:{RUNS}", {**env, "MONITOR_SPEC": str(spec_path)}, timeout=900)
            print(_line(f"{args.queues:,} queues ({publish})", report, args.memory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
