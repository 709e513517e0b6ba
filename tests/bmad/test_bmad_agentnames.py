"""An unknown agent id of a workflow resolves to the one defined agent that fits it (bmad/agentnames.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bmad import DefinitionError, compile_workflow, load_bmad
from tests.bmad.test_bmad_layers import agent_md, write


def workflow(agent: str) -> str:
    return f"""\
        workflow:
          id: w
          sequence:
            - agent: {agent}
              creates: out.md
        """


def test_the_one_agent_that_fits_is_used_with_a_warning_at_the_reference(tmp_path: Path) -> None:
    write(tmp_path, "agents/game-developer.md", agent_md("game-developer", "Gus"))
    write(tmp_path, "agents/game-designer.md", agent_md("game-designer", "Dana"))
    file = write(tmp_path, "workflows/w.yaml", workflow("game-dev"))
    catalog = load_bmad(tmp_path)
    assert catalog.errors == []
    assert [str(d) for d in catalog.warnings if "agent '" in d.message] == [
        f"{file.as_posix()}:4:14: warning: unknown agent 'game-dev': using 'game-developer' "
        "(the only agent of that name here)"]
    step = compile_workflow(catalog, "w").steps[0]
    assert step.agent == "game-dev" and step.agents == ["game-developer"]  # the id as written, the agent run
    assert list(compile_workflow(catalog, "w").agents) == ["game-developer"]


def test_an_agent_of_the_workflows_own_layer_sharing_the_last_word_wins_over_another_layer(tmp_path: Path) -> None:
    core, pack = tmp_path / "core", tmp_path / "pack"
    write(core, "agents/architect.md", agent_md("architect", "Ada"))
    write(pack, "agents/game-architect.md", agent_md("game-architect", "Gia"))
    write(pack, "workflows/w.yaml", workflow("solution-architect"))
    catalog = load_bmad([core, pack])
    assert [d.message for d in catalog.diagnostics if "agent '" in d.message] == [
        "unknown agent 'solution-architect': using 'game-architect' (the only 'architect' agent of this pack)"]
    assert compile_workflow(catalog, "w").steps[0].agents == ["game-architect"]
    write(tmp_path / "bare", "workflows/w.yaml", workflow("solution-architect"))
    alone = load_bmad([core, tmp_path / "bare"])
    assert [d.message for d in alone.diagnostics if "agent '" in d.message] == [
        "unknown agent 'solution-architect': using 'architect' (the only agent of that name loaded)"]


def test_two_agents_that_fit_equally_stay_an_error_naming_both(tmp_path: Path) -> None:
    write(tmp_path, "agents/game-developer.md", agent_md("game-developer", "Gus"))
    write(tmp_path, "agents/game-devops.md", agent_md("game-devops", "Ops"))
    file = write(tmp_path, "workflows/w.yaml", workflow("game-dev"))
    catalog = load_bmad(tmp_path)
    assert [str(d) for d in catalog.errors] == [
        f"{file.as_posix()}:4:14: unknown agent 'game-dev': 'game-developer' and 'game-devops' fit equally; "
        "name one of them; known agents: game-developer, game-devops"]
    with pytest.raises(DefinitionError, match="'game-developer' and 'game-devops' fit equally"):
        compile_workflow(catalog, "w")


def test_a_real_agent_is_untouched_and_an_unlike_id_stays_an_error(tmp_path: Path) -> None:
    write(tmp_path, "agents/dev.md", agent_md("dev", "Dev"))
    write(tmp_path, "agents/game-dev.md", agent_md("game-dev", "Gus"))
    write(tmp_path, "workflows/w.yaml", workflow("dev"))  # `dev` is defined: `game-dev` is not looked at
    write(tmp_path, "workflows/x.yaml", workflow("ghost").replace("id: w", "id: x"))
    catalog = load_bmad(tmp_path)
    assert not [d for d in catalog.warnings if "agent '" in d.message]
    assert compile_workflow(catalog, "w").steps[0].agents == ["dev"]
    assert [d.message for d in catalog.errors] == ["unknown agent 'ghost'; known agents: dev, game-dev"]


def test_a_typo_stays_an_error_with_a_hint(tmp_path: Path) -> None:
    write(tmp_path, "agents/analyst.md", agent_md("analyst", "Mary"))
    write(tmp_path, "agents/pm.md", agent_md("pm", "John"))
    write(tmp_path, "workflows/w.yaml", workflow("analsyt/pm"))
    catalog = load_bmad(tmp_path)
    assert [d.message for d in catalog.errors if "agent '" in d.message] == [
        "unknown agent 'analsyt' in 'analsyt/pm' (did you mean 'analyst'?); known agents: analyst, pm"]
