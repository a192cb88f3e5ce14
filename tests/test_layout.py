"""The package's layout: subpackages by concept, no import cycles, a pure core without boto3 or redis."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "monitor"
SUBPACKAGES = ("spec", "collect", "cloudwatch", "truth", "commands", "local")
# Modules that must import neither boto3 nor redis (at import time or inside functions).
PURE = (
    "monitor.spec.yamlload", "monitor.spec.schema", "monitor.spec.model", "monitor.spec.sources",
    "monitor.spec.kinds", "monitor.spec.metrics", "monitor.spec.naming", "monitor.spec.runbooks",
    "monitor.spec.declaration", "monitor.spec.load", "monitor.spec.windows",
    "monitor.cloudwatch.alarms", "monitor.cloudwatch.dashboard", "monitor.cloudwatch.search", "monitor.cloudwatch.plan",
    "monitor.cloudwatch.cost", "monitor.cloudwatch.iac",
    "monitor.truth.evaluator", "monitor.truth.metric_math", "monitor.truth.series", "monitor.truth.scenarios",
    "monitor.truth.composite",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every monitor module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_imports_itself_back_through_others():
    assert find_cycle(graph()) is None


def test_subpackages_open_with_a_docstring_saying_what_they_may_import():
    for name in SUBPACKAGES:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text()))
        assert doc and "May import" in doc, name


def test_the_top_level_holds_only_the_shared_modules():
    flat = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert flat == ["__init__.py", "__main__.py", "errors.py"]


def test_the_spec_imports_no_other_subpackage():
    for name, targets in graph().items():
        if name.startswith("monitor.spec"):
            assert all(t.startswith(("monitor.spec", "monitor.errors")) or t == "monitor" for t in targets), (name, targets)


@pytest.mark.parametrize("module", PURE)
def test_the_pure_core_imports_neither_boto3_nor_redis(module):
    path = ROOT / (module.replace(".", "/") + ".py")
    heavy = {m for m in imports_of(path) if m.split(".")[0] in {"boto3", "botocore", "redis"}}
    assert not heavy, heavy
    code = f"import sys, {module}; print(sorted(m for m in ('boto3', 'botocore', 'redis') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]", out


@pytest.mark.parametrize("bench", sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py")))
def test_every_benchmark_still_imports(bench):
    """Benchmarks run by hand, not in make test: at least their imports must follow the code."""
    subprocess.run([sys.executable, "-c", f"import benchmarks.{bench}"], cwd=ROOT, check=True, capture_output=True)
