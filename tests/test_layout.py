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
# The pure core: every module of spec and truth, and cloudwatch's modules except its AWS layer. None
# may import boto3, botocore or redis, at the top or inside a function (imports_of walks the whole AST).
AWS_LAYER = {"monitor.cloudwatch.clients", "monitor.cloudwatch.api"}
HEAVY = {"boto3", "botocore", "redis"}


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


def pure_modules() -> dict[str, Path]:
    """The pure core's modules by name, found on disk so a new module cannot be left out."""
    found = {}
    for sub in ("spec", "truth", "cloudwatch"):
        for path in sorted((PACKAGE / sub).glob("*.py")):
            if (name := module_name(path)) not in AWS_LAYER:
                found[name] = path
    return found


PURE = pure_modules()


def heavy_imports(path: Path) -> set[str]:
    return {m for m in imports_of(path) if m.split(".")[0] in HEAVY}


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


def test_the_pure_core_list_covers_spec_truth_and_cloudwatch():
    assert {"monitor.spec.build_rules", "monitor.spec.checks", "monitor.truth.composite", "monitor.cloudwatch.iac"} <= set(PURE)
    assert not AWS_LAYER & set(PURE)


def test_the_import_scan_flags_an_import_inside_a_function(tmp_path):
    module = tmp_path / "sneaky.py"
    module.write_text(
        "def publish():\n"
        "    import redis\n"
        "    from boto3.session import Session\n"
        "    return redis, Session\n"
    )
    assert heavy_imports(module) == {"redis", "boto3.session", "boto3.session.Session"}


@pytest.mark.parametrize("module", sorted(PURE))
def test_the_pure_core_imports_neither_boto3_nor_redis(module):
    heavy = heavy_imports(PURE[module])
    assert not heavy, heavy
    code = f"import sys, {module}; print(sorted(m for m in ('boto3', 'botocore', 'redis') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]", out


@pytest.mark.parametrize("bench", sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py")))
def test_every_benchmark_still_imports(bench):
    """Benchmarks run by hand, not in make test: at least their imports must follow the code."""
    subprocess.run([sys.executable, "-c", f"import benchmarks.{bench}"], cwd=ROOT, check=True, capture_output=True)
