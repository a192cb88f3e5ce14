"""The documentation holds together: every relative link resolves, and the README front door stays short and complete."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from support.doclinks import anchors, broken_links, slug

from monitor.commands.cli import build_parser
from monitor.errors import ExitStatus
from monitor.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
README_MAX_LINES = 250


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    assert broken_links(path, ROOT) == []


def test_the_checker_reports_each_kind_of_broken_link(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## Setup: `make test`\n\n## Setup: `make test`\n")
    (tmp_path / "alarms.yaml").write_text("version: 1\n")
    page = tmp_path / "README.md"
    page.write_text(
        textwrap.dedent(
            """\
            # Front door

            ## Quick start

            Good: [other](docs/other.md), [setup](docs/other.md#setup-make-test), [again](docs/other.md#setup-make-test-1),
            [here](#quick-start), [spec](alarms.yaml), [web](https://example.com/nowhere#x), `[code](missing.md)`.
            Bad: [gone](docs/missing.md), [anchor](docs/other.md#setup), [local](#quick-stop),
            [third](docs/other.md#setup-make-test-2), [yaml](alarms.yaml#version), [rooted](/docs/other.md).

            ```sh
            echo [not a link](nowhere.md)
            ```

            [ref]: docs/nothing-here.md
            """
        )
    )
    assert broken_links(page, tmp_path) == [
        "README.md:7: docs/missing.md: no file docs/missing.md",
        "README.md:7: docs/other.md#setup: no heading with anchor #setup in docs/other.md",
        "README.md:7: #quick-stop: no heading with anchor #quick-stop in README.md",
        "README.md:8: docs/other.md#setup-make-test-2: no heading with anchor #setup-make-test-2 in docs/other.md",
        "README.md:8: alarms.yaml#version: an anchor into alarms.yaml, which is not markdown",
        "README.md:8: /docs/other.md: a path from the site root; write it relative to .",
        "README.md:14: docs/nothing-here.md: no file docs/nothing-here.md",
    ]


@pytest.mark.parametrize(
    "heading, expected",
    [
        ("Quick start", "quick-start"),
        ("The spec (`alarms.yaml`)", "the-spec-alarmsyaml"),
        ("Provisioning: `plan` and `apply`", "provisioning-plan-and-apply"),
        ("`queues[]`", "queues"),
        ("`provision-alarms status`", "provision-alarms-status"),
        ("The provisioner's IAM policy", "the-provisioners-iam-policy"),
        ("What the evaluator models, and what it does not", "what-the-evaluator-models-and-what-it-does-not"),
        ("snake_case and dash-case", "snake_case-and-dash-case"),
        ("A - B", "a---b"),
    ],
)
def test_heading_slugs_follow_github(heading, expected):
    assert slug(heading) == expected


def test_repeated_headings_are_numbered_and_code_blocks_are_not_headings():
    text = "# Setup\n\n## Setup\n\n```sh\n# Setup\n```\n\n### Setup\n"
    assert anchors(text) == {"setup", "setup-1", "setup-2"}


def test_readme_is_a_short_front_door():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_readme_lists_every_command_and_exit_status():
    readme = (ROOT / "README.md").read_text()
    commands = build_parser()._subparsers._group_actions[0].choices
    for name in commands:
        assert f"| `provision-alarms {name}" in readme, name
    for status in ExitStatus:
        assert f"| {int(status)} |" in readme, status


def test_the_readme_spec_example_is_a_valid_spec(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The spec in one example", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "alarms.yaml"
    path.write_text(example)
    spec = load_spec(str(path), environ={})
    assert [q.key for q in spec.queues] == ["hokusai:model_ready_queue", "rq:queue:default"]
    assert {r.kind.value for r in spec.queues[0].alarms} == {"queue_depth", "processing_lag"}
