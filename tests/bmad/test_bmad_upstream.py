"""Upstream BMAD v4 core, the published bmad-method package (testkit/corpus.py): loads cleanly, every workflow
compiles."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from bmad import Catalog, compile_workflow, load_bmad
from bmad.plan import Plan
from tests.conftest import UPSTREAM_WORKFLOWS

WORKFLOW_IDS = UPSTREAM_WORKFLOWS


@cache
def catalog(core: Path) -> Catalog:
    return load_bmad(core)


@cache
def catalog_loaded_again(core: Path) -> Catalog:
    return load_bmad(core)


@pytest.fixture
def upstream(upstream_bmad: Path) -> Catalog:
    return catalog(upstream_bmad)


def test_upstream_core_is_present_with_every_workflow_the_tests_cover(upstream_bmad: Path) -> None:
    assert tuple(sorted(p.stem for p in (upstream_bmad / "workflows").glob("*.y*ml"))) == WORKFLOW_IDS
    assert len([p for p in upstream_bmad.rglob("*") if p.is_file()]) > 60


def test_every_upstream_file_loads_without_errors(upstream_bmad: Path, upstream: Catalog) -> None:
    files = {p.as_posix() for p in upstream_bmad.rglob("*") if p.is_file()}
    assert [str(d) for d in upstream.errors] == []
    assert {d.path for d in upstream.warnings} <= files  # the diagnostics name the files they are about


@pytest.mark.parametrize("workflow_id", WORKFLOW_IDS)
def test_upstream_workflow_compiles_with_stable_hash(upstream_bmad: Path, workflow_id: str) -> None:
    first = compile_workflow(catalog(upstream_bmad), workflow_id)
    again = compile_workflow(catalog_loaded_again(upstream_bmad), workflow_id)
    assert first.definition_hash and first.definition_hash == again.definition_hash
    assert first.steps and all(s.agent is None or s.kind == "agent" for s in first.steps)


@pytest.mark.parametrize("workflow_id", WORKFLOW_IDS)
def test_upstream_plan_json_round_trips(upstream: Catalog, workflow_id: str) -> None:
    plan = compile_workflow(upstream, workflow_id)
    back = Plan.model_validate_json(plan.model_dump_json())
    assert back == plan
    assert back.seal().definition_hash == plan.definition_hash
    assert Plan.model_validate(plan.model_dump(mode="json")).outline() == plan.outline()


@pytest.mark.parametrize("workflow_id", WORKFLOW_IDS)
def test_upstream_step_ids_are_unique_and_agents_resolved(upstream: Catalog, workflow_id: str) -> None:
    plan = compile_workflow(upstream, workflow_id)
    assert len({s.id for s in plan.steps}) == len(plan.steps)
    assert [s.index for s in plan.steps] == list(range(len(plan.steps)))
    for step in plan.steps:
        assert set(step.agents) <= set(plan.agents)
        assert step.template is None or step.template in plan.templates


def test_upstream_loads_every_kind_of_definition(upstream: Catalog) -> None:
    cat = upstream
    assert {"analyst", "pm", "architect", "po", "sm", "dev", "qa", "ux-expert"} <= set(cat.agents)
    assert cat.template("prd-tmpl") is cat.template("prd-template-v2") is not None
    assert set(cat.teams) == {"team-all", "team-fullstack", "team-ide-minimal", "team-no-ui"}
    assert "*" in cat.teams["team-all"].agents
    assert "po-master-checklist.md" in cat.checklists and "create-next-story.md" in cat.tasks
    assert "bmad-kb.md" in cat.data


def test_upstream_warnings_are_external_inputs_and_what_the_engine_ignores(upstream: Catalog) -> None:
    messages = [d.message for d in upstream.warnings]
    assert any("'existing_service_analysis' is not created by any step" in m for m in messages)
    assert any("'flow_diagram' is ignored" in m for m in messages)
    assert any("'commands' is ignored" in m for m in messages)
    assert any("'elicit: true' on" in m for m in messages)
    assert any("handoff prompt 'architect_review' is ignored" in m for m in messages)
    assert all("external input" in m or " is ignored: " in m for m in messages), messages  # routes: no warning
