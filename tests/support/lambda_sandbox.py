"""Run the packaged collector the way the Lambda python3.12 runtime would: the zip and boto3, nothing else.

The interpreter runs with -I -S -B: no site-packages, no PYTHON* variables, no bytecode written
(Lambda's /var/task is read-only, so the zip's code is compiled at every cold start). sys.path is
the unpacked zip, then a directory holding only boto3 and its dependencies (the runtime's copy),
then the standard library.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

LAMBDA_PYTHON_VERSION = "3.12"  # deploy/collector.yaml Runtime
# What the Lambda runtime ships besides the standard library (boto3 and its dependencies).
RUNTIME_MODULES = ("boto3", "botocore", "jmespath", "dateutil", "urllib3", "s3transfer", "six.py")
RESULT_MARK = "SANDBOX-RESULT "

# Runs inside the sandbox: argv = [unpacked dir, runtime dir, mode].
_BOOTSTRAP = f"""
import json, resource, sys, time
unpacked, runtime, mode = sys.argv[1:4]
sys.path[:0] = [unpacked, runtime]
out = {{"python": sys.version.split()[0]}}
if mode == "probe":
    for name in ("boto3", "botocore", "redis", "yaml"):
        try:
            __import__(name)
            out[name] = True
        except ImportError:
            out[name] = False
else:
    def cpu():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    started, started_cpu = time.perf_counter(), cpu()
    from lambda_handlers.queue_metrics import handler
    out["import_seconds"], out["import_cpu_seconds"] = time.perf_counter() - started, cpu() - started_cpu
    out["runs"] = []
    for _ in range(int(mode.partition(":")[2] or 1)):  # "run:2": a cold run, then a warm one
        began, began_cpu = time.perf_counter(), cpu()
        out["result"] = handler({{}}, None)
        out["runs"].append({{"seconds": time.perf_counter() - began, "cpu_seconds": cpu() - began_cpu}})
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["yaml_file"] = __import__("yaml").__file__
print({RESULT_MARK!r} + json.dumps(out), flush=True)
"""


def lambda_python() -> str:
    """A python3.12 interpreter if there is one (pyenv's included), else this one."""
    found = shutil.which(f"python{LAMBDA_PYTHON_VERSION}")
    candidates = [found] if found else []
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(str(p) for p in pyenv_root.glob(f"versions/{LAMBDA_PYTHON_VERSION}*/bin/python{LAMBDA_PYTHON_VERSION}"))
    for candidate in candidates:
        # pyenv's shim exists even when the version is not selected: make sure it runs.
        if subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    return sys.executable


def make_runtime_dir(destination: Path, python: str) -> Path:
    """A directory with copies of boto3 and its dependencies only (copied, so bytecode stays here)."""
    site = Path(sysconfig.get_paths()["purelib"])
    destination.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_MODULES:
        source = site / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination / name)
    # Precompiled like the runtime's own copy, so a cold start measures only our code compiling.
    subprocess.run([python, "-I", "-m", "compileall", "-q", str(destination)], check=True, capture_output=True)
    return destination


def unpack(zip_path: Path, destination: Path) -> Path:
    destination.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(destination)
    return destination


def run(python: str, unpacked: Path, runtime: Path, mode: str, env: dict[str, str], timeout: float = 120) -> dict:
    """Run the bootstrap in the sandbox and return what it reported."""
    result = subprocess.run(
        [python, "-I", "-S", "-B", "-c", _BOOTSTRAP, str(unpacked), str(runtime), mode],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if result.returncode != 0 or not lines:
        raise AssertionError(f"sandbox failed (exit {result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    report = json.loads(lines[-1][len(RESULT_MARK) :])
    report["stdout"] = result.stdout
    return report
