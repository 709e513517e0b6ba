"""Agent teams: `*` expansion, whether a team can run a workflow, picking a team, and the `teams` commands."""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from bmad import Catalog, DefinitionError, load_bmad
from bmad.models import TeamDef
from bmad.plan import SourceRef
from bmad.teams import check_team, pick_team, team_agents, workflow_agents
from tests.conftest import OWN_BMAD, UPSTREAM_WORKFLOWS, subprocess_env, upstream_core


@cache
def upstream() -> Catalog:
    return load_bmad(upstream_core())


def with_teams(catalog: Catalog, drop: tuple[str, ...] = (), **teams: list[str]) -> Catalog:
    changed = catalog.model_copy(deep=True)
    for team_id in drop:
        del changed.teams[team_id]
    for team_id, agents in teams.items():
        team_id = team_id.replace("_", "-")
        changed.teams[team_id] = TeamDef(id=team_id, agents=agents, source=SourceRef(path=f"{team_id}.yaml"))
    return changed


def test_star_expands_to_every_agent_once_after_the_named_ones() -> None:
    agents = team_agents(upstream(), "team-all")
    assert agents[0] == "bmad-orchestrator"
    assert sorted(agents) == sorted(upstream().agents)
    assert len(agents) == len(set(agents))


def test_team_without_star_keeps_file_order() -> None:
    assert team_agents(upstream(), "team-ide-minimal") == ["po", "sm", "dev", "qa"]


def test_workflow_agents_split_composites_and_leave_out_various() -> None:
    needed = workflow_agents(upstream(), "greenfield-service")
    assert needed == ["analyst", "pm", "architect", "po", "sm", "dev", "qa"]
    assert "various" not in needed and "analyst/pm" not in needed


def test_composite_agent_needs_each_of_its_parts() -> None:
    catalog = with_teams(upstream(), only_pm=["pm", "architect", "po", "sm", "dev", "qa"])
    assert check_team(catalog, "only-pm", "greenfield-service") == (False, ["analyst"])


def test_various_needs_no_particular_agent() -> None:
    catalog = with_teams(upstream(), exact=["analyst", "pm", "architect", "po", "sm", "dev", "qa"])
    assert check_team(catalog, "exact", "greenfield-service") == (True, [])


@pytest.mark.parametrize("workflow_id", UPSTREAM_WORKFLOWS)
def test_upstream_team_all_runs_every_upstream_workflow_and_fullstack_lacks_the_dev_cycle(workflow_id: str) -> None:
    assert check_team(upstream(), "team-all", workflow_id) == (True, [])
    ok, missing = check_team(upstream(), "team-fullstack", workflow_id)
    assert not ok and missing == ["sm", "dev", "qa"]


@pytest.mark.parametrize("workflow_id", UPSTREAM_WORKFLOWS)
def test_pick_team_takes_the_first_compatible_team_by_id(workflow_id: str) -> None:
    assert pick_team(upstream(), workflow_id) == "team-all"
    catalog = with_teams(upstream(), a_team=workflow_agents(upstream(), workflow_id))
    assert pick_team(catalog, workflow_id) == "a-team"


def test_pick_team_is_none_when_no_team_is_compatible() -> None:
    assert pick_team(with_teams(upstream(), drop=("team-all",)), "greenfield-service") is None


def test_own_core_team_runs_our_workflows() -> None:
    own = load_bmad(OWN_BMAD)
    for workflow_id in own.workflows:
        assert pick_team(own, workflow_id) == "team-core"
    assert check_team(own, "team-planning", "quick-fix") == (False, ["dev", "qa"])


def test_unknown_team_or_workflow_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match="unknown team 'nope'; available teams: team-all"):
        check_team(upstream(), "nope", "greenfield-service")
    with pytest.raises(DefinitionError, match="unknown workflow 'nope'; available workflows: brownfield-fullstack"):
        check_team(upstream(), "team-all", "nope")


def botarmy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "botarmy.cli", *args], cwd=cwd, env=subprocess_env(),
                          capture_output=True, text=True, timeout=60)


def test_cli_teams_check_exits_0_when_compatible(tmp_path: Path) -> None:
    done = botarmy("teams", "check", "team-all", "greenfield-ui", "--bmad-dir", str(upstream_core()),
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["covered: analyst, pm, ux-expert, architect, po, sm, dev, qa",
                                        "missing: -", "team-all can run greenfield-ui"]


def test_cli_teams_check_exits_1_and_names_the_missing_agents(tmp_path: Path) -> None:
    done = botarmy("teams", "check", "team-no-ui", "greenfield-service", "--bmad-dir", str(upstream_core()),
                   cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == ["covered: analyst, pm, architect, po", "missing: sm, dev, qa",
                                        "team-no-ui cannot run greenfield-service"]


def test_cli_teams_check_unknown_team_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = botarmy("teams", "check", "team-x", "greenfield-service", "--bmad-dir", str(upstream_core()),
                   cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: team-x: unknown team 'team-x'; available teams: team-all, team-fullstack, team-ide-minimal, team-no-ui"
    ]


def test_cli_teams_list_shows_every_team_with_its_agents(tmp_path: Path) -> None:
    done = botarmy("teams", "list", "--bmad-dir", str(upstream_core()), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["team-all", "team-fullstack", "team-ide-minimal", "team-no-ui"]
    assert lines[2] == "team-ide-minimal  Team IDE Minimal  agents: po, sm, dev, qa"
