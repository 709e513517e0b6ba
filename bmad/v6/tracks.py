"""A module's planning track from `module-help.csv` / `_config/bmad-help.csv` (see track_workflows)."""

from __future__ import annotations

from bmad.diagnostics import Diagnostic
from bmad.plan import AgentSpec, Plan
from bmad.v6.install import Install
from bmad.v6.workflows import V6Workflow


def track_workflows(install: Install, workflows: list[V6Workflow], agents: dict[str, AgentSpec],
                    problems: list[Diagnostic]) -> list[Plan]:
    return []
