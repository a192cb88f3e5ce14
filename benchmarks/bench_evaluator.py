"""How long the offline evaluator takes: every minute over sliding windows, against the old once-per-period model.

The baseline is monitor/truth/evaluator.py as it was before issue 15 (clock-aligned periods,
one evaluation per period boundary), read from git at BASELINE_COMMIT. Both evaluate the shipped
scenarios' data against the shipped spec's rendered alarms (the work `provision-alarms test`
does), and a 14-day run (the longest a scenario may be) of one sample a minute. Run:

    python benchmarks/bench_evaluator.py
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.cloudwatch.alarms import render_alarms  # noqa: E402
from monitor.spec.load import load_spec  # noqa: E402
from monitor.truth import evaluator  # noqa: E402
from monitor.truth.scenarios import load_scenarios  # noqa: E402

BASELINE_COMMIT = "eb65e0a"  # main before issue 15
REPEATS = 3


def baseline_module():
    source = subprocess.run(
        ["git", "show", f"{BASELINE_COMMIT}:monitor/truth/evaluator.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_evaluator.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_evaluator", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def best_of(fn) -> tuple[float, int]:
    """(best wall seconds of REPEATS runs, evaluations made)."""
    best, count = float("inf"), 0
    for _ in range(REPEATS):
        begun = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - begun)
    return best, count


def rekeyed(module, runs):
    """The runs with their metric keys made by `module` (each evaluator has its own MetricKey class)."""
    return [({module.MetricKey(k.namespace, k.name, k.dimensions): v for k, v in data.items()}, start, end) for data, start, end in runs]


def run(module, alarms, runs) -> int:
    return sum(len(module.evaluate(a, data, start, end)) for data, start, end in runs for a in alarms)


def main() -> None:
    spec = load_spec(str(ROOT / "alarms.yaml"), environ={})
    alarms = render_alarms(spec, spec.environment("development"))
    scenarios = load_scenarios(sorted((ROOT / "scenarios").glob("*.yaml")), spec)
    shipped = [(s.data, s.start, s.end) for s in scenarios]
    # 14 days of one sample a minute for every metric the alarms watch
    start, days = 1_767_225_600, 14
    keys = {evaluator.parse_alarm(a).metrics[0].key for a in alarms}
    long_data = {k: [(start + m * 60, float(m % 7)) for m in range(days * 1440)] for k in keys}
    cases = [
        (f"shipped scenarios ({len(scenarios)} files x {len(alarms)} alarms)", shipped),
        (f"{days}-day run, 1 sample/min, {len(alarms)} alarms", [(long_data, start, start + days * 86400)]),
    ]
    old = baseline_module()
    print(f"{'case':<48} {'baseline':>10} {'evals':>9} {'new':>10} {'evals':>9}  ratio")
    for name, runs in cases:
        old_runs = rekeyed(old, runs)
        old_s, old_n = best_of(lambda: run(old, alarms, old_runs))
        new_s, new_n = best_of(lambda: run(evaluator, alarms, runs))
        print(f"{name:<48} {old_s:>9.3f}s {old_n:>9} {new_s:>9.3f}s {new_n:>9}  {new_s / old_s:5.1f}x")
    print(f"(best of {REPEATS}; baseline = evaluator at {BASELINE_COMMIT}: once per period boundary)")


if __name__ == "__main__":
    main()
