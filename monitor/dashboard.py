"""The on-call dashboard body (placeholder until the dashboard work lands)."""

from __future__ import annotations

from monitor import naming
from monitor.spec import Environment, Spec


def render_dashboard(spec: Spec, env: Environment) -> tuple[str, dict]:
    """(dashboard name, body) for one environment: pure."""
    text = f"# {spec.name_prefix} / {env.name}\nQueues: " + ", ".join(q.key for q in spec.queues)
    body = {"widgets": [{"type": "text", "x": 0, "y": 0, "width": 24, "height": 3, "properties": {"markdown": text}}]}
    return naming.dashboard_name(spec.name_prefix, env.name), body
