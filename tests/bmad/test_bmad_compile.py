"""How upstream workflow forms compile into Plan steps, blocks, inputs, agents and templates."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from bmad import Catalog, DefinitionError, compile_workflow, load_bmad
from bmad.artifacts import name_list, normalize
from bmad.plan import Plan, PlanStep, RepeatBlock
from tests.conftest import upstream_core, upstream_corpus


@cache
def catalog() -> Catalog:
    return load_bmad(upstream_core())


@cache
def plan(workflow_id: str) -> Plan:
    return compile_workflow(catalog(), workflow_id)


def step(workflow_id: str, step_id: str) -> PlanStep:
    return next(s for s in plan(workflow_id).steps if s.id == step_id)


@pytest.mark.parametrize(("raw", "name"), [
    ("prd.md", "prd.md"),
    ("prd.md (if needed)", "prd.md"),
    ("v0_prompt (optional)", "v0_prompt"),
    ("brownfield-architecture.md (or multiple documents)", "brownfield-architecture.md"),
    ("brownfield-architecture.md(or multiple documents)", "brownfield-architecture.md"),
    ("  ", None),
])
def test_artifact_annotations_are_stripped(raw: str, name: str | None) -> None:
    assert normalize(raw) == name


def test_prose_artifact_becomes_step_name_or_slug() -> None:
    prose = "multiple documents per the document-project template"
    assert normalize(prose, "service_analysis") == "service_analysis"
    assert normalize(prose) == "multiple_documents_per_the_document_project_template"
    assert name_list(["prd.md", "front-end-spec.md (optional)", "prd.md"]) == ["prd.md", "front-end-spec.md"]
    assert name_list("prd.md") == ["prd.md"]


def test_greenfield_steps_get_derived_ids_templates_and_handoffs() -> None:
    ids = [s.id for s in plan("greenfield-fullstack").steps]
    assert ids[:3] == ["01-analyst-project-brief", "02-pm-prd", "03-ux-expert-front-end-spec"]
    assert "project_setup_guidance" in ids and ids[-1] == "workflow_end"  # `- step: name` keeps its name
    brief = step("greenfield-fullstack", "01-analyst-project-brief")
    assert (brief.creates, brief.template, brief.optional_steps) == (
        "project-brief.md", "project-brief-tmpl", ["brainstorming_session", "market_research_prompt"])
    prd = step("greenfield-fullstack", "02-pm-prd")
    assert prd.template == "prd-tmpl" and prd.requires == ["project-brief.md"]
    assert prd.handoff_prompt is not None and prd.handoff_prompt.startswith("Project brief is complete.")
    ux = step("greenfield-fullstack", "03-ux-expert-front-end-spec")
    assert ux.handoff_prompt is not None and ux.handoff_prompt.startswith("PRD is ready.")  # pm_to_ux
    v0 = step("greenfield-fullstack", "04-ux-expert-v0-prompt")
    assert (v0.creates, v0.creates_raw, v0.condition) == ("v0_prompt", "v0_prompt (optional)",
                                                          "user_wants_ai_generation")
    update = step("greenfield-fullstack", "06-pm-prd")
    assert (update.updates, update.output, update.creates) == ("prd.md", "prd.md", None)


def test_named_entries_without_an_agent_are_control_steps_with_their_siblings() -> None:
    setup = step("greenfield-fullstack", "project_setup_guidance")
    assert (setup.kind, setup.agent, setup.agents) == ("control", None, [])
    assert (setup.action, setup.condition) == ("guide_project_structure", "user_has_generated_ui")
    end = step("greenfield-fullstack", "workflow_end")
    assert end.kind == "control" and "{root}/data/bmad-kb.md" in end.notes


def older_form(core: Path) -> Path:
    """The core's workflows in the v4.41 form of control entries: `- workflow_end:` for `- step: workflow_end`."""
    for wf in (core / "workflows").glob("*.yaml"):
        controls = [s.id for s in plan(wf.stem).steps if s.kind == "control" and not s.routes and not s.route_of]
        text = wf.read_text(encoding="utf-8")
        for name in controls:
            text = re.sub(rf"^(\s*)- step: {name}\n", rf"\1- {name}:\n", text, flags=re.M)
        wf.write_text(text, encoding="utf-8")
    return core


def test_bare_key_control_entries_of_v4_41_compile_like_named_ones_with_derived_ids(tmp_path: Path) -> None:
    core = older_form(upstream_corpus().install(tmp_path / ".bmad-core"))
    text = (core / "workflows" / "greenfield-fullstack.yaml").read_text(encoding="utf-8")
    assert "    - project_setup_guidance:\n" in text and "    - workflow_end:\n" in text
    older = load_bmad(core)
    assert older.errors == []
    for workflow_id in older.workflows:
        now, then = plan(workflow_id), compile_workflow(older, workflow_id)
        assert then.repeat_blocks == now.repeat_blocks
        renamed = {s.id for s in now.steps} - {s.id for s in then.steps}
        for new, old in zip(now.steps, then.steps, strict=True):
            assert (old.kind, old.action, old.condition, old.notes) == (new.kind, new.action, new.condition, new.notes)
            if new.id in renamed and new.kind == "control":
                assert old.id == f"{new.index + 1:02d}-{new.id.replace('_', '-')}"
    ids = [s.id for s in compile_workflow(older, "greenfield-fullstack").steps]
    assert "09-project-setup-guidance" in ids and ids[-1] == "19-workflow-end"


def test_composite_and_various_agents() -> None:
    review = step("greenfield-service", "09-analyst-pm-story")
    assert (review.agent, review.agents, review.optional) == ("analyst/pm", ["analyst", "pm"], True)
    fix = step("greenfield-service", "06-various-any-flagged-documents")
    assert (fix.kind, fix.agent, fix.agents, fix.updates) == ("agent", "various", [], "any_flagged_documents")
    validate = step("greenfield-service", "05-po-all-artifacts")
    assert (validate.validates, validate.uses, validate.template) == ("all_artifacts", "po-master-checklist",
                                                                      None)


def test_repeat_block_runs_up_to_the_repeat_control_entry() -> None:
    p = plan("greenfield-service")
    assert p.repeat_blocks == [RepeatBlock(input_name="for_each_epic", start=7, end=11)]
    assert p.steps[12].id == "repeat_development_cycle" and p.steps[12].kind == "control"
    assert p.input_defaults["for_each_epic"] == 1
    assert p.input_defaults["po_checklist_issues"] is False
    assert p.conditions == sorted(p.conditions) and "architecture_suggests_prd_changes" in p.conditions


def test_named_steps_and_external_inputs_of_brownfield_service() -> None:
    p = plan("brownfield-service")
    first = p.steps[0]
    assert (first.id, first.creates, first.creates_raw) == (
        "service_analysis", "service_analysis", "multiple documents per the document-project template")
    assert p.external_inputs == ["existing_service_analysis"]
    assert "all_artifacts_in_project" not in p.external_inputs
    assert p.steps[1].template == "brownfield-prd-tmpl"  # from `uses:`
    assert str(p.steps[1].source).endswith("workflows/brownfield-service.yaml:23:7")


def test_routes_step_compiles_as_control_step() -> None:
    p = plan("brownfield-fullstack")
    routing = next(s for s in p.steps if s.id == "routing_decision")
    assert (routing.kind, routing.condition) == ("control", "based_on_classification")
    assert p.repeat_blocks == [RepeatBlock(input_name="for_each_epic_or_enhancement", start=10, end=14)]


def test_agent_system_message_is_persona_only() -> None:
    spec = plan("greenfield-fullstack").agents["pm"]
    message = spec.system_message
    assert message.startswith("You are John, Product Manager (pm).\nRole: Investigative Product Strategist")
    assert "\nCore principles:\n- Deeply understand" in message and message.endswith("\n")
    assert "activation" not in message.lower() and "IDE-FILE-RESOLUTION" not in message
    dev = plan("greenfield-fullstack").agents["dev"].system_message
    assert "Core principles:\n- CRITICAL: Story has ALL info" in dev  # top-level core_principles in dev.md


def test_template_specs_are_reduced_sections() -> None:
    spec = plan("greenfield-fullstack").templates["prd-tmpl"]
    assert (spec.name, spec.output_filename, spec.output_format) == (
        "Product Requirements Document", "docs/prd.md", "markdown")
    goals = spec.sections[0]
    assert goals.id == "goals-context" and [c.id for c in goals.sections][:2] == ["goals", "background"]
    assert any(s.condition == "PRD has UX/UI requirements" for s in spec.sections)


def test_unknown_workflow_id_lists_available_ids() -> None:
    with pytest.raises(DefinitionError) as caught:
        compile_workflow(catalog(), "nope")
    assert "unknown workflow 'nope'; available workflows: brownfield-fullstack" in str(caught.value)
