"""checkov over both collector templates and both render outputs; every skipped check documented.

checkov runs from its own virtualenv (.venv-checks, built by `make checks-venv`, which `make test`
depends on): it pins boto3/botocore and more, which would clash with this project's. Always with
--skip-download: no traffic to the vendor (these machines cannot reach it anyway).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from support.cfn import load_template
from test_iac import DASHBOARD, LITERALS

from monitor.cloudwatch import iac
from monitor.commands.cli import render_document
from monitor.spec.load import load_spec

ROOT = Path(__file__).resolve().parent.parent
CHECKOV = Path(os.environ.get("MONITOR_CHECKOV", ROOT / ".venv-checks" / "bin" / "checkov"))
DOCS = ROOT / "docs" / "infrastructure-as-code.md"
COLLECTOR = ROOT / "deploy" / "collector.yaml"
MODULE = ROOT / "deploy" / "terraform"


def checkov(*targets: str) -> dict:
    """One checkov run; its JSON report for the one framework the targets are written in."""
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV}: run `make checks-venv` (make test does)")
    result = subprocess.run([str(CHECKOV), "--skip-download", "--output", "json", *targets], capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stderr  # 1: some check failed (reported below)
    report = json.loads(result.stdout)
    assert isinstance(report, dict), [r.get("check_type") for r in report]
    return report


def failures(report: dict) -> list[str]:
    return [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in report.get("results", {}).get("failed_checks", [])]


def skipped(report: dict) -> set[tuple[str, str]]:
    return {(c["check_id"], Path(c["file_path"]).name) for c in report.get("results", {}).get("skipped_checks", [])}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    """The shipped spec rendered both ways, and a template of every alarm shape (composite, anomaly band)."""
    out = tmp_path_factory.mktemp("iac")
    document = render_document(load_spec(str(ROOT / "alarms.yaml"), environ={}), "development")
    paths = {"cloudformation": out / "alarms.yaml", "terraform": out / "alarms.tf.json"}
    paths["cloudformation"].write_text(yaml.safe_dump(iac.render(iac.Format.CLOUDFORMATION, document), sort_keys=False))
    paths["terraform"].write_text(json.dumps(iac.render(iac.Format.TERRAFORM, document), indent=2))
    paths["shapes-cloudformation"] = out / "shapes.json"
    paths["shapes-cloudformation"].write_text(json.dumps(iac.cloudformation_template(LITERALS, DASHBOARD, description="every shape")))
    paths["shapes-terraform"] = out / "shapes.tf.json"
    paths["shapes-terraform"].write_text(json.dumps(iac.terraform_config(LITERALS, DASHBOARD)))
    return paths


@pytest.fixture(scope="module")
def reports(rendered) -> dict[str, dict]:
    return {
        "cloudformation": checkov("-f", str(COLLECTOR), "-f", str(rendered["cloudformation"]), "-f", str(rendered["shapes-cloudformation"])),
        "terraform": checkov("-d", str(MODULE)),
        "terraform_json": checkov("-f", str(rendered["terraform"]), "-f", str(rendered["shapes-terraform"])),
    }


def test_cloudformation_templates_pass(reports, rendered):
    report = reports["cloudformation"]
    assert report["check_type"] == "cloudformation"
    assert failures(report) == [] and report["summary"]["parsing_errors"] == 0
    # Every resource of the three templates was read (checkov has no checks for alarms and dashboards).
    count = sum(len(t["Resources"]) for t in (load_template(COLLECTOR), load_template(rendered["cloudformation"]), json.loads(rendered["shapes-cloudformation"].read_text())))
    assert report["summary"]["resource_count"] == count
    assert report["summary"]["passed"] >= 20


def test_terraform_module_passes(reports):
    report = reports["terraform"]
    assert report["check_type"] == "terraform"
    assert failures(report) == [] and report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] >= 16 and report["summary"]["passed"] >= 80


def test_rendered_terraform_passes(reports):
    report = reports["terraform_json"]
    assert report["check_type"] == "terraform_json"
    assert failures(report) == [] and report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 0


def documented_skips() -> set[tuple[str, str]]:
    """(check, file) from the skipped-checks table of docs/infrastructure-as-code.md."""
    rows = re.findall(r"^\| (CKV2?_AWS_\d+) \| `([^`]+)` \| .+\|$", DOCS.read_text(), flags=re.M)
    return {(check, Path(file).name) for check, file in rows}


def test_every_skipped_check_is_documented_with_its_reason(reports):
    actual = set().union(*(skipped(r) for r in reports.values()))
    assert actual == documented_skips()
    assert {"CKV_AWS_116"} <= {c for c, _ in actual}
