"""apply of 200+ alarms behind a proxy answering 60 % of calls with faults: runs to converge, time, retries.

Side by side, in one run: botocore's "standard" retry mode as apply used it before issue 14 (8
attempts, one retry quota per client), and the retries apply uses now (botocore's judgement of
what is retryable, full-jitter backoff, no quota, a time budget per call). Real backoff sleeps,
the AWS emulator (moto server) behind tests/support/fault_proxy.py: throttling, 500/503, dropped
connections before and after the write, slow answers, seeded. Run:

    python benchmarks/bench_faults.py [--rate 0.6] [--write-rate 10] [--paced]

--paced adds one run of the new retries at the real PutMetricAlarm quota (3 writes/s).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.update(
    AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/nonexistent",
    AWS_DISABLE_REQUEST_COMPRESSION="true",
)  # fmt: skip
os.environ.pop("AWS_PROFILE", None)

import requests  # noqa: E402
from support.fault_proxy import FaultProxy  # noqa: E402

from monitor.cloudwatch import clients as aws_module  # noqa: E402
from monitor.commands.cli import main  # noqa: E402
from monitor.local.emulator import local_aws  # noqa: E402

MAX_RUNS = 5


def spec_text(extra_queues: int = 27) -> str:
    queues = "".join(
        f"  - key: tenant:{i:03d}:jobs\n    processing: tenant:{i:03d}:jobs:processing\n    dead_letter: tenant:{i:03d}:jobs:dlq\n"
        for i in range(extra_queues)
    )
    return (ROOT / "alarms.yaml").read_text().replace("\nqueues:\n", "\nqueues:\n" + queues, 1)


def apply_once(spec: Path, endpoint: str, write_rate: float) -> dict:
    args = ["apply", "--spec", str(spec), "--env", "development", "--endpoint-url", endpoint, "--yes", "--output", "json"]
    args += ["--no-metric-check", "--write-rate", str(write_rate)]
    out = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main(args)
    seconds = time.monotonic() - started
    document = json.loads(out.getvalue()) if out.getvalue().strip() else {}
    report = document.get("report", [])
    return {
        "status": int(status),
        "seconds": seconds,
        "changes": len(report),
        "failed": sum(not o["ok"] for o in report),
        "retries": document.get("retries", 0),
        "alarms": document.get("alarms", 0),
        "max_attempts": max((o.get("attempts", 1) for o in report), default=0),
    }


def converge(name: str, spec: Path, moto: str, rate: float, write_rate: float, retries) -> list[dict]:
    requests.post(f"{moto}/moto-api/reset", timeout=10).raise_for_status()
    original = aws_module.clients
    aws_module.clients = functools.partial(original, retries=retries, **({"max_attempts": 8} if retries is None else {}))
    runs = []
    try:
        with FaultProxy(moto, rate=rate, seed=14) as proxy:
            for _ in range(MAX_RUNS):
                runs.append(apply_once(spec, proxy.url, write_rate))
                if runs[-1]["status"] == 0:
                    break
    finally:
        aws_module.clients = original
    return runs


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=0.6, help="share of calls answered with a fault")
    parser.add_argument("--write-rate", type=float, default=10.0, help="apply --write-rate for the side-by-side runs")
    parser.add_argument("--paced", action="store_true", help="also one run of the new retries at 3 writes/s")
    args = parser.parse_args()
    spec = Path(os.environ.get("TMPDIR", "/tmp")) / "bench-faults-alarms.yaml"
    spec.write_text(spec_text())
    with local_aws() as moto:
        rows = [
            ("before: botocore standard, 8 attempts, shared quota", converge("before", spec, moto, args.rate, args.write_rate, None)),
            ("now: retries within a time budget, no quota", converge("now", spec, moto, args.rate, args.write_rate, aws_module.Retries)),
        ]
        if args.paced:
            rows.append(("now, paced at 3 writes/s (the AWS quota)", converge("paced", spec, moto, args.rate, 3.0, aws_module.Retries)))
    alarms = rows[0][1][0]["alarms"]
    print(f"apply of {alarms} alarms + 1 dashboard, {args.rate:.0%} of calls faulted (throttle, 5xx, resets, slow), real backoff")
    print(f"{'':56} {'runs':>4} {'run 1 failed':>12} {'run 1 retries':>13} {'max attempts':>12} {'run 1 s':>8} {'total s':>8}")
    for label, runs in rows:
        first = runs[0]
        converged = runs[-1]["status"] == 0
        total = sum(r["seconds"] for r in runs)
        print(
            f"{label:56} {len(runs) if converged else f'>{MAX_RUNS}':>4} {first['failed']:>12} {first['retries']:>13} "
            f"{first['max_attempts']:>12} {first['seconds']:>8.1f} {total:>8.1f}"
        )


if __name__ == "__main__":
    main_()
