"""BMAD v6 installs as `npx bmad-method install` lays them out (6.0.4: workflow.yaml style, 6.12.0: skills):
found from the project root or `_bmad/`, validated with warnings only, every workflow compiled into a Plan."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bmad import compile_workflow, load_bmad
from bmad.v6 import find_install
from tests.conftest import V6_VERSIONS, subprocess_env, v6_install
from tests.v6.listing import v6_workflow_ids

CASES = [(v, w) for v in V6_VERSIONS for w in v6_workflow_ids(v)]


@pytest.mark.parametrize("version", V6_VERSIONS)
def test_the_install_is_found_from_the_project_root_and_from_its_bmad_folder(version: str) -> None:
    root = v6_install(version)
    from_root, from_folder = find_install(root), find_install(root / "_bmad")
    assert from_root is not None and from_folder is not None
    assert from_root.version == from_folder.version == version
    assert from_root.style == ("workflows" if version.startswith("6.0") else "skills")
    assert from_root.project == from_folder.project == root
    assert set(from_root.modules) == {"core", "bmm"}


@pytest.mark.parametrize("version", V6_VERSIONS)
def test_validate_on_a_pristine_install_exits_0_and_its_warnings_name_file_line_and_construct(version: str) -> None:
    root = v6_install(version)
    done = subprocess.run([sys.executable, "-m", "botarmy.cli", "validate", "--bmad-dir", str(root)],
                          capture_output=True, text=True, timeout=300, env=subprocess_env())
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(f"ok: {len(v6_workflow_ids(version)) + 1} workflows"), last  # + bmm-planning-track
    warnings = [ln for ln in done.stdout.splitlines() if ": warning: " in ln]
    assert warnings and all(ln.startswith(str(root)) for ln in warnings)
    assert all(" is not " in ln for ln in warnings), [ln for ln in warnings if " is not " not in ln]


def test_an_old_cfg_layout_is_found_and_read_as_the_workflow_yaml_style(tmp_path: Path) -> None:
    root = v6_install("6.0.4")
    old = tmp_path / "project" / ".bmad"
    shutil.copytree(root / "_bmad", old)
    (old / "_config").rename(old / "_cfg")
    found = find_install(tmp_path / "project")
    assert found is not None and found.root == old and found.style == "workflows" and found.version == "6.0.4"


@pytest.mark.parametrize(("version", "workflow"), CASES)
def test_every_v6_workflow_compiles_into_agent_steps_with_the_agents_persona(version: str, workflow: str) -> None:
    catalog = load_bmad(v6_install(version))
    plan = compile_workflow(catalog, workflow)
    assert plan.steps and all(s.kind == "agent" and s.agents for s in plan.steps)
    assert set(plan.agents) == {a for s in plan.steps for a in s.agents}
    assert all(spec.system_message.startswith("You are ") for spec in plan.agents.values())
    assert len({s.id for s in plan.steps}) == len(plan.steps)
    assert all(s.notes.strip() and s.source and s.source.line >= 1 for s in plan.steps)
    for step in plan.steps:  # outputs are paths resolved from the install's config; `{{story_key}}` is the run's
        assert step.output is None or not (re.search(r"(?<!\{)\{[\w-]+\}(?!\})", step.output)
                                           or step.output.startswith("/")), step.output
    assert compile_workflow(load_bmad(v6_install(version) / "_bmad"), workflow).definition_hash == plan.definition_hash


def test_workflow_yaml_steps_follow_workflow_xml_numerical_order_and_attributes() -> None:
    plan = compile_workflow(load_bmad(v6_install("6.0.4")), "sprint-planning")
    assert [s.action.split(" — ")[1].split(":")[0] for s in plan.steps] == [
        "Step 0.5", "Step 1", "Step 2", "Step 3", "Step 4", "Step 5"]  # 0.5 is written after 1 in the file
    assert plan.steps[0].source is not None and plan.steps[0].source.path.endswith("sprint-planning/instructions.md")
    doc = compile_workflow(load_bmad(v6_install("6.0.4")), "document-project")
    conditional = [s for s in doc.steps if s.condition]
    assert [s.condition for s in conditional] == ["resume_mode == false"]
    assert doc.input_defaults["resume_mode == false"] is False


def test_step_file_workflows_follow_next_step_file_and_template_output_versions_one_document() -> None:
    plan = compile_workflow(load_bmad(v6_install("6.0.4")), "create-prd")
    outputs = {s.output for s in plan.steps}
    assert outputs == {"_bmad-output/planning-artifacts/prd.md"}
    assert plan.steps[0].creates and all(s.updates == s.output for s in plan.steps[1:])
    names = [Path(s.source.path).name for s in plan.steps if s.source]
    assert names[0] == "step-01-init.md" and names[-1] == "step-12-complete.md"
    assert "step-01b-continue.md" not in names


@pytest.mark.parametrize("version", V6_VERSIONS)
def test_a_custom_override_changes_the_persona_the_plan_carries(version: str, tmp_path: Path) -> None:
    project = tmp_path / "p"
    shutil.copytree(v6_install(version), project, symlinks=True)
    workflow = "create-prd" if version == "6.0.4" else "bmad-prd"
    before = compile_workflow(load_bmad(project), workflow)
    agent = next(iter(before.agents))
    if version == "6.0.4":
        custom = project / "_bmad" / "_config" / "agents" / f"bmm-{agent}.customize.yaml"
        custom.write_text("agent:\n  metadata:\n    name: Zed\npersona:\n  role: Pragmatic PRD writer for "
                          "regulated fintech\n", encoding="utf-8")
    else:
        (project / "_bmad" / "custom" / f"{agent}.toml").write_text(
            '[agent]\nname = "Zed"\nrole = "Pragmatic PRD writer for regulated fintech"\n'
            'principles = ["Every requirement cites a regulation."]\n', encoding="utf-8")
    after = compile_workflow(load_bmad(project), workflow)
    message = after.agents[agent].system_message
    assert message.startswith("You are Zed") and "Role: Pragmatic PRD writer for regulated fintech" in message
    if version != "6.0.4":  # arrays append: the base principles stay, the override's follows them
        assert "- Every requirement cites a regulation." in message
        assert "- PRDs emerge from user interviews, not template filling." in message
    assert after.definition_hash != before.definition_hash
