"""How long and how large: render --format api | cloudformation | terraform, and scanning the result.

The baseline is today's `render` (api: the PutMetricAlarm parameters); the IaC formats are printed
side by side with it, for the shipped spec and for bench_provision's generated spec of 1,000
alarms (which CloudFormation cannot take in one template: the script prints why). checkov and cfn-lint: one run each on the rendered file. Run (after
`make venv checks-venv`):

    python benchmarks/bench_render.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_provision import generated_spec  # noqa: E402
from monitor.cloudwatch import iac  # noqa: E402
from monitor.commands.cli import render_document  # noqa: E402
from monitor.spec.load import load_spec  # noqa: E402

CHECKOV = [str(ROOT / ".venv-checks" / "bin" / "checkov"), "--skip-download", "--quiet", "--compact", "-f"]
CFN_LINT = [str(Path(sys.executable).parent / "cfn-lint")]
REPEATS = 5


def best_of(fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def scan(tool: list[str], path: Path) -> str:
    if not Path(tool[0]).exists():
        return "n/a"
    start = time.perf_counter()
    result = subprocess.run([*tool, str(path)], capture_output=True, text=True)
    return f"{time.perf_counter() - start:.1f} s" + ("" if result.returncode == 0 else f" (exit {result.returncode})")


def measure(label: str, spec_path: Path, env: str, out: Path) -> None:
    spec = load_spec(str(spec_path), env=env)
    document = render_document(spec, env)
    api, _ = best_of(lambda: json.dumps(render_document(spec, env)))
    rows = [("api (baseline)", api, len(json.dumps(document, indent=2)), "", "")]

    try:
        seconds, template = best_of(lambda: iac.render(iac.Format.CLOUDFORMATION, render_document(spec, env)))
    except iac.IacError as exc:
        print(f"\n{label}, cloudformation: {exc}")
    else:
        path = out / f"{env}.yaml"
        path.write_text(yaml.safe_dump(template, sort_keys=False))
        rows.append(("cloudformation", seconds, path.stat().st_size, scan(CHECKOV, path), scan(CFN_LINT, path)))

    seconds, config = best_of(lambda: iac.render(iac.Format.TERRAFORM, render_document(spec, env)))
    path = out / f"{env}.tf.json"
    path.write_text(json.dumps(config, indent=2))
    rows.append(("terraform", seconds, path.stat().st_size, scan(CHECKOV, path), ""))

    dashboard = len(json.dumps(document["dashboard"]["body"]))
    print(f"\n{label}: {len(document['alarms'])} alarms + dashboard of {dashboard:,} bytes (render: best of {REPEATS}, in-process, with render_document)")
    print(f"  {'format':<30}{'render':>10}{'x api':>8}{'bytes':>12}   {'checkov':<12}{'cfn-lint':<10}")
    for name, seconds, size, checkov, lint in rows:
        print(f"  {name:<30}{seconds * 1000:>8.1f}ms{seconds / api:>8.2f}{size:>12,}   {checkov:<12}{lint:<10}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        measure("shipped alarms.yaml", ROOT / "alarms.yaml", "development", out)
        generated_spec(out / "bench.yaml")
        measure("bench_provision's generated spec", out / "bench.yaml", "prod", out)


if __name__ == "__main__":
    main()
