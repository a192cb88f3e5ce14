"""Runbook references: an http(s) URL, or `#section` of the runbooks shipped with the package.

A `#section` reference names a heading of docs/runbooks.md. Until a team publishes that file and
gives its URL (the shipped alarms.yaml reads it from RUNBOOK_BASE_URL), an alarm description names
the section in words rather than linking a page that may not exist.
"""

from __future__ import annotations

PACKAGE = "redis-queue-monitor"
SHIPPED_RUNBOOKS = "docs/runbooks.md"
BASE_URL_VARIABLE = "RUNBOOK_BASE_URL"

URL_PATTERN = r"https?://\S+"
SECTION_PATTERN = r"#[a-z0-9_-]+"
REFERENCE_PATTERN = f"{URL_PATTERN}|{SECTION_PATTERN}"
REFERENCE_HINT = f"an http(s) URL, or #section for a section of the shipped {SHIPPED_RUNBOOKS}"


def is_link(runbook: str) -> bool:
    return runbook.startswith(("http://", "https://"))


def describe(runbook: str) -> str:
    """How an alarm description or the dashboard names the runbook: the URL, or the shipped section in words."""
    if is_link(runbook):
        return runbook
    return f"{SHIPPED_RUNBOOKS}{runbook} in the {PACKAGE} package."


def unlinked_warning(count: int) -> str:
    """The validate/plan/apply warning while `#section` runbooks have no published URL."""
    return (
        f"{count} alarm tier{'s' if count != 1 else ''} name{'' if count != 1 else 's'} a runbook section of {SHIPPED_RUNBOOKS} without a link,"
        f" because no URL is set for it (the shipped alarms.yaml takes it from {BASE_URL_VARIABLE}): publish {SHIPPED_RUNBOOKS}"
        f" where on-call can read it (your repository, wiki or docs site) and set {BASE_URL_VARIABLE} to its URL,"
        f" e.g. https://github.com/YOUR-ORG/YOUR-REPO/blob/main/{SHIPPED_RUNBOOKS}; see {SHIPPED_RUNBOOKS}#publishing-the-runbooks"
    )
