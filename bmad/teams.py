"""Agent teams (`agent-teams/*.yaml`): which agents a team has, and whether it can run a workflow.

A team can run a workflow when it has every agent the workflow's steps name: each part of a composite agent
(`analyst/pm` needs analyst and pm); `various` needs no particular agent. `*` in a team means every agent
of the catalog. Whether the team's own `workflows:` list names the workflow does not matter here.
"""

from __future__ import annotations

from bmad.diagnostics import DefinitionError, Diagnostic
from bmad.models import Catalog, TeamDef

ANY_AGENT = "various"


def _team(catalog: Catalog, team_id: str) -> TeamDef:
    team = catalog.teams.get(team_id)
    if team is None:
        known = ", ".join(sorted(catalog.teams)) or "none"
        raise DefinitionError([Diagnostic(team_id, 0, 0, f"unknown team '{team_id}'; available teams: {known}")])
    return team


def team_agents(catalog: Catalog, team_id: str) -> list[str]:
    """The team's agent ids in file order, `*` expanded to every catalog agent (sorted), without repeats."""
    agents: list[str] = []
    for name in _team(catalog, team_id).agents:
        agents.extend(sorted(catalog.agents) if name == "*" else [name])
    return list(dict.fromkeys(agents))


def workflow_agents(catalog: Catalog, workflow_id: str) -> list[str]:
    """Every agent the workflow's steps need, in order of first use; composites split, `various` left out."""
    wf = catalog.workflows.get(workflow_id)
    if wf is None:
        known = ", ".join(sorted(catalog.workflows)) or "none"
        raise DefinitionError([Diagnostic(workflow_id, 0, 0, f"unknown workflow '{workflow_id}'; available "
                                          f"workflows: {known}")])
    needed: list[str] = []
    for step in wf.sequence:
        agent = step.fields.get("agent") if step.bare_key is None else None
        if isinstance(agent, str):
            needed.extend(p.strip() for p in agent.split("/") if p.strip() and p.strip() != ANY_AGENT)
    return list(dict.fromkeys(needed))


def check_team(catalog: Catalog, team_id: str, workflow_id: str) -> tuple[bool, list[str]]:
    """(whether the team can run the workflow, the agents it lacks in order of first use)."""
    have = set(team_agents(catalog, team_id))
    missing = [a for a in workflow_agents(catalog, workflow_id) if a not in have]
    return not missing, missing


def pick_team(catalog: Catalog, workflow_id: str) -> str | None:
    """The first team (by id) that can run the workflow, or None."""
    for team_id in sorted(catalog.teams):
        if check_team(catalog, team_id, workflow_id)[0]:
            return team_id
    return None


def team_refusal(catalog: Catalog, team_id: str, workflow_id: str) -> str | None:
    """Why `team_id` cannot run the workflow, in one line (unknown team, or the agents it lacks); None when it can.
    The one team check of `botarmy run --team` and `POST /runs`."""
    try:
        ok, missing = check_team(catalog, team_id, workflow_id)
    except DefinitionError as exc:
        return exc.diagnostics[0].message
    return None if ok else f"team {team_id!r} cannot run {workflow_id}: it lacks {', '.join(missing)}"
