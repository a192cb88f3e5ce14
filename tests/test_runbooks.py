"""Runbook references never write a dead link: #sections of the shipped runbooks are linked only once RUNBOOK_BASE_URL says where."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.doclinks import anchors

from monitor.cloudwatch.alarms import render_alarms
from monitor.cloudwatch.dashboard import render_dashboard
from monitor.errors import ExitStatus, SpecError
from monitor.spec import runbooks
from monitor.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "alarms.yaml"
BASE = "https://git.example.org/ops/queues/blob/main/docs/runbooks.md"
LINK = re.compile(r"https?://\S+")


def shipped(environ: dict[str, str]):
    spec = load_spec(str(SPEC), environ=environ)
    return spec, [alarm for env in spec.environments.values() for alarm in render_alarms(spec, env)]


def every_rule(spec):
    owners = [*spec.queues, *spec.streams, *spec.delayed]
    return [r for o in owners for r in o.alarms] + list(spec.target_alarms)


def test_unset_base_url_names_the_section_without_any_link():
    _, alarms = shipped({})
    assert alarms
    for alarm in alarms:
        description = alarm["AlarmDescription"]
        assert LINK.search(description) is None, description
        assert re.search(r"Runbook: docs/runbooks\.md#[a-z0-9_-]+ in the redis-queue-monitor package\.", description), description


def test_set_base_url_links_base_and_anchor():
    _, alarms = shipped({"RUNBOOK_BASE_URL": BASE})
    for alarm in alarms:
        found = re.search(r"Runbook: (\S+)", alarm["AlarmDescription"])
        assert found and found.group(1).startswith(BASE + "#"), alarm["AlarmDescription"]
        assert found.group(1).split("#", 1)[1] in anchors((ROOT / "docs" / "runbooks.md").read_text())


def test_every_section_the_shipped_spec_names_is_a_heading_of_the_shipped_runbooks():
    spec, _ = shipped({})
    sections = {rule.runbook for rule in every_rule(spec)}
    assert sections and all(s.startswith("#") for s in sections)
    assert {s[1:] for s in sections} <= anchors((ROOT / "docs" / "runbooks.md").read_text())


def test_alarm_and_metric_names_do_not_depend_on_the_base_url():
    _, unset = shipped({})
    _, linked = shipped({"RUNBOOK_BASE_URL": BASE})
    strip = lambda alarms: [{k: v for k, v in a.items() if k != "AlarmDescription"} for a in alarms]  # noqa: E731
    assert strip(unset) == strip(linked)
    assert [a["AlarmDescription"] for a in unset] != [a["AlarmDescription"] for a in linked]


def test_one_warning_while_unlinked_and_none_once_linked():
    spec, _ = shipped({})
    unlinked = [str(w) for w in spec.warnings if "RUNBOOK_BASE_URL" in w.message]
    assert len(unlinked) == 1
    assert f"{len(every_rule(spec))} alarm tiers" in unlinked[0] and "publish docs/runbooks.md" in unlinked[0]
    linked, _ = shipped({"RUNBOOK_BASE_URL": BASE})
    assert [w for w in linked.warnings if "RUNBOOK_BASE_URL" in w.message] == []


def test_validate_prints_the_warning_and_still_succeeds():
    env = {k: v for k, v in os.environ.items() if k != "RUNBOOK_BASE_URL"}
    result = subprocess.run([sys.executable, "-m", "monitor", "validate"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == ExitStatus.SUCCESS, result.stderr
    assert "warning: alarms.yaml:" in result.stderr and "set RUNBOOK_BASE_URL to its URL" in result.stderr
    linked = subprocess.run(
        [sys.executable, "-m", "monitor", "validate"], cwd=ROOT, capture_output=True, text=True, env={**env, "RUNBOOK_BASE_URL": BASE}, timeout=60
    )
    assert linked.returncode == ExitStatus.SUCCESS and "RUNBOOK_BASE_URL" not in linked.stderr


def test_dashboard_legend_links_only_urls():
    spec, _ = shipped({})
    _, body = render_dashboard(spec, spec.environment("development"))
    legend = body["widgets"][-1]["properties"]["markdown"]
    assert "](" not in legend and "`docs/runbooks.md#queue-depth`" in legend
    spec, _ = shipped({"RUNBOOK_BASE_URL": BASE})
    _, body = render_dashboard(spec, spec.environment("development"))
    assert f"[runbook]({BASE}#queue-depth)" in body["widgets"][-1]["properties"]["markdown"]


@pytest.mark.parametrize("value", ["queue-depth", "docs/runbooks.md#queue-depth", "ftp://x/runbooks.md", "#Queue Depth"])
def test_a_runbook_is_a_url_or_a_section(tmp_path, value):
    text = SPEC.read_text().replace("${RUNBOOK_BASE_URL:-}#queue-depth", value, 1)
    path = tmp_path / "alarms.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_spec(str(path), environ={})
    assert [p.path for p in info.value.problems] == ["runbooks.queue_depth"]
    assert runbooks.REFERENCE_HINT in str(info.value.problems[0])


def test_describe():
    assert runbooks.describe("https://x.example/rb.md#a") == "https://x.example/rb.md#a"
    assert runbooks.describe("#a") == "docs/runbooks.md#a in the redis-queue-monitor package."
