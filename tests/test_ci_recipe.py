"""docs/github-actions-alarms.yml: a valid workflow whose commands parse and whose plan step works."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from monitor.cloudwatch.alarms import render_alarms
from monitor.commands.cli import build_parser
from monitor.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "docs" / "github-actions-alarms.yml"
CHECK_JSONSCHEMA = ROOT / ".venv-checks" / "bin" / "check-jsonschema"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(workflow, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def commands(workflow, job: str) -> list[list[str]]:
    """Each provision-alarms command line of a job, as argv, with the matrix filled in."""
    environments = workflow["jobs"][job].get("strategy", {}).get("matrix", {}).get("environment", [""])
    found = []
    for step in steps(workflow, job):
        for line in step.get("run", "").splitlines():
            if "provision-alarms " not in line:
                continue
            command = re.split(r" >| \|\|", line[line.index("provision-alarms ") :])[0]
            for environment in environments:
                found.append(shlex.split(command.replace("${{ matrix.environment }}", environment)))
    return found


def test_workflow_matches_the_github_workflow_schema():
    if not CHECK_JSONSCHEMA.exists():
        pytest.fail(f"check-jsonschema is not installed at {CHECK_JSONSCHEMA}: run `make checks-venv` (make test does)")
    result = subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_command_parses(workflow):
    parser = build_parser()
    all_commands = [c for job in workflow["jobs"] for c in commands(workflow, job)]
    assert {c[1] for c in all_commands} == {"validate", "test", "plan", "apply"}
    for argv in all_commands:
        assert argv[0] == "provision-alarms"
        try:
            parser.parse_args(argv[1:])
        except SystemExit:
            pytest.fail(f"does not parse: {shlex.join(argv)}")


def test_pull_requests_plan_and_main_applies(workflow):
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) >= {"pull_request", "push"} and triggers["push"]["branches"] == ["main"]
    plan, apply = workflow["jobs"]["plan"], workflow["jobs"]["apply"]
    assert plan["if"] == "github.event_name == 'pull_request'"
    assert apply["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert plan["needs"] == apply["needs"] == "check"
    (plan_command,) = [c for c in commands(workflow, "plan") if c[1] == "plan"]
    assert "--detailed-exitcode" in plan_command and plan_command[plan_command.index("--output") + 1] == "json"
    assert any(c[1] == "apply" and "--yes" in c for c in commands(workflow, "apply"))
    checks = {c[1] for c in commands(workflow, "check")}
    assert checks == {"validate", "test"}


def test_matrix_environments_exist_in_the_spec(workflow):
    spec = load_spec(str(ROOT / "alarms.yaml"), environ={})
    for job in ("plan", "apply"):
        assert set(workflow["jobs"][job]["strategy"]["matrix"]["environment"]) <= set(spec.environments)


def test_the_plan_step_runs_and_summarises(workflow, moto_server, tmp_path):
    """The Plan step's script as the runner would run it (bash -e), against the emulator."""
    (step,) = [s for s in steps(workflow, "plan") if s.get("name") == "Plan"]
    script = step["run"].replace("${{ matrix.environment }}", "development")
    shutil.copy(ROOT / "alarms.yaml", tmp_path / "alarms.yaml")
    summary = tmp_path / "summary.md"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "GITHUB_STEP_SUMMARY": str(summary)}
    env.pop("AWS_PROFILE", None)
    result = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr  # exit 5 (changes pending) is not a failure
    text = summary.read_text()
    assert "### hokusai-queues/development in us-east-1" in text
    spec = load_spec(str(ROOT / "alarms.yaml"), environ={})
    alarms = len(render_alarms(spec, spec.environment("development")))
    assert f"{alarms + 1} to create, 0 to update, 0 to delete, 0 unchanged, 0 conflicts" in text
    assert "- create alarm `hokusai-queues-development-hokusai-model_ready_queue-queue-depth-critical`" in text
    assert (tmp_path / "plan.json").exists()
