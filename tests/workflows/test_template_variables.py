"""Run inputs fill `{{variables}}` of a step's template; an unknown one stays visible, never blank."""

from __future__ import annotations

from bmad import compile_workflow, load_bmad
from botarmy.temporal import start_run
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
