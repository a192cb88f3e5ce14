"""Names and ownership tags of everything the tool creates, derived the same way everywhere."""

from __future__ import annotations

import re

from monitor.spec.kinds import AlarmKind, CompositeKind

MAX_ALARM_NAME = 255  # PutMetricAlarm AlarmName limit
MAX_DASHBOARD_NAME = 255  # PutDashboard: A-Za-z0-9-_ only

TOOL = "provision-alarms"
# Ownership tags: --prune deletes an alarm only when TAG_SPEC carries this spec's identity.
TAG_MANAGED_BY = "managed-by"
TAG_SPEC = "provision-alarms:spec"
TAG_KIND = "provision-alarms:kind"
TAG_SEVERITY = "provision-alarms:severity"
TAG_TIER = "provision-alarms:tier"  # the tier (metric alarms) or the severity covered (unhealthy composites)
RESERVED_TAG_KEYS = (TAG_MANAGED_BY, TAG_SPEC, TAG_KIND, TAG_SEVERITY, TAG_TIER)


def slug(text: str) -> str:
    """A readable name part: runs of anything but letters, digits, '_' and '.' become one '-'."""
    return re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-")


def spec_identity(name_prefix: str, environment: str) -> str:
    """The value of the ownership tag: which spec and environment an alarm belongs to."""
    return f"{name_prefix}/{environment}"


def target_subject(target: str) -> str:
    return f"redis-{target}"


def alarm_name(name_prefix: str, environment: str, subject: str, kind: AlarmKind, tier: str) -> str:
    """e.g. hokusai-queues-development-hokusai-model_ready_queue-queue-depth-critical."""
    return f"{name_prefix}-{environment}-{subject}-{kind.slug}-{tier}"


def composite_name(name_prefix: str, environment: str, subject: str, kind: CompositeKind, qualifier: str | None = None) -> str:
    """e.g. hokusai-queues-development-hokusai-model_ready_queue-unhealthy-critical, ...-redis-primary-target-down."""
    return f"{name_prefix}-{environment}-{subject}-{kind.slug}" + (f"-{qualifier}" if qualifier else "")


def dashboard_name(name_prefix: str, environment: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", f"{name_prefix}-{environment}").strip("-")[:MAX_DASHBOARD_NAME]
