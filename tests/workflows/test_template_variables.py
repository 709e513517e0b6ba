"""Run inputs fill `{{variables}}` of a step's template; an unknown one stays visible, never blank."""

from __future__ import annotations

from bmad import compile_workflow, load_bmad
from botarmy.temporal import start_run
from providers.offline import OFFLINE_LABEL
from tests.conftest import OWN_BMAD, running_worker, save_plan


async def _prd(time_env, settings, store, inputs) -> str:
    plan = save_plan(store, compile_workflow(load_bmad([OWN_BMAD]), "quick-fix"))
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, inputs, task_queue=settings.task_queue)
        result = await handle.result()
    prd = result.artifacts["prd.md"]
    return store.read_artifact(prd.id, prd.sha256).decode()


async def test_project_name_input_fills_the_template_title(time_env, settings, store):
    prd = await _prd(time_env, settings, store, {"project_name": "Acme Lunch Orders"})
    assert "# Acme Lunch Orders Product Requirements Document (PRD)" in prd
    assert "{{project_name}}" not in prd


async def test_without_the_input_the_variable_stays_visible(time_env, settings, store):
    prd = await _prd(time_env, settings, store, {})
    assert "# {{project_name}} Product Requirements Document (PRD)" in prd


async def _greenfield_documents(time_env, settings, store, inputs) -> dict[str, str]:
    plan = save_plan(store, compile_workflow(load_bmad([OWN_BMAD]), "greenfield-service"))
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, inputs, task_queue=settings.task_queue)
        result = await handle.result()
    return {name: store.read_artifact(p.id, p.sha256).decode() for name, p in result.artifacts.items()}


KNOWN = ("{{project_name}}", "{{epic_number}}", "{{iteration}}")  # known from inputs and iterations


async def test_offline_documents_fill_run_inputs_and_the_iteration_and_differ_per_epic(time_env, settings, store):
    docs = await _greenfield_documents(time_env, settings, store, {"project_name": "Lunch Orders", "for_each_epic": 2})
    assert all(doc.startswith(OFFLINE_LABEL) for doc in docs.values())  # still labelled offline
    for name in ("project-brief.md", "prd.md", "architecture.md", "po-validation.md"):
        assert "Lunch Orders" in docs[name], name
    for name, doc in docs.items():
        assert not [v for v in KNOWN if v in doc], (name, doc)
    # the PRD, written before the iterations, has a section per epic the run will deliver
    assert "### Epic 1: {{epic_title}}" in docs["prd.md"] and "### Epic 2: {{epic_title}}" in docs["prd.md"]
    assert "#### Story 2.{{story_number}}: {{story_title}}" in docs["prd.md"]
    for n in (1, 2):
        story = docs[f"epic-{n}/story.md"]
        assert f"# Story {n}.{{{{story_number}}}}: {{{{story_title}}}}" in story  # unknown ones stay visible
        for doc in (story, docs[f"epic-{n}/implementation-notes.md"], docs[f"epic-{n}/qa-review.md"]):
            assert f"Offline draft for iteration epic-{n}." in doc
    for base in ("story.md", "implementation-notes.md", "qa-review.md"):
        assert docs[f"epic-1/{base}"] != docs[f"epic-2/{base}"], base


async def test_listed_epics_name_themselves_in_the_prd_and_their_own_documents(time_env, settings, store):
    inputs = {"project_name": "Lunch Orders", "for_each_epic": ["Ordering", {"title": "Payments", "owner": "ops"}]}
    docs = await _greenfield_documents(time_env, settings, store, inputs)
    assert "### Epic 1: Ordering" in docs["prd.md"] and "### Epic 2: Payments" in docs["prd.md"]
    assert "# Story 1.{{story_number}}: {{story_title}}" in docs["epic-1/story.md"]
    assert 'Offline draft for iteration epic-1 — item: "Ordering".' in docs["epic-1/story.md"]
    assert "Offline draft for iteration epic-2 — item: " in docs["epic-2/implementation-notes.md"]
    for doc in docs.values():
        assert not [v for v in (*KNOWN, "{{epic_title}}", "{{epic}}") if v in doc]
