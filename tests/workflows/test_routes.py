"""`routes:` (upstream brownfield-fullstack): one branch is chosen by input, by a person, or by default."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowFailureError

from bmad import compile_workflow, load_bmad
from botarmy.temporal import start_run
from tests.conftest import running_worker, save_plan, upstream_core
from tests.workflows.test_approvals import wait_pending
from workflows.contracts import ApprovalDecision
from workflows.run import BmadRunWorkflow


@pytest.fixture(scope="module")
def brownfield():
    return compile_workflow(load_bmad([upstream_core()]), "brownfield-fullstack")


async def _run(time_env, settings, store, plan, inputs, **kw):
    save_plan(store, plan)
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, inputs, task_queue=settings.task_queue, **kw)
        return handle, await handle.result()


async def test_an_exit_branch_runs_its_step_then_ends_the_workflow(time_env, settings, store, brownfield):
    _, result = await _run(time_env, settings, store, brownfield, {"based_on_classification": "single_story"})
    run = store.get_run(result.run_id)
    assert run.status == "completed"
    steps = {s.key: s.status for s in run.steps}
    assert steps["routing_decision.single-story"] == "completed"
    assert steps["routing_decision.small-feature"] == "skipped"
    assert steps["documentation_check"] == "skipped"  # after the exit, nothing else runs
    assert sorted(a.name for a in run.artifacts) == ["enhancement_classification.md",
                                                     "routing_decision.single-story.md"]
    route = next(d for d in result.decisions if d.condition == "based_on_classification")
    assert (route.choice, route.source) == ("single_story", "input")


async def test_without_input_the_continuing_branch_is_taken_and_its_path_condition_holds(
    time_env, settings, store, brownfield
):
    assert brownfield.input_defaults["based_on_classification"] == "major_enhancement"
    _, result = await _run(time_env, settings, store, brownfield, {})
    run = store.get_run(result.run_id)
    steps = {s.key: s.status for s in run.steps}
    assert steps["documentation_check"] == "completed"  # condition major_enhancement_path is true
    assert steps["routing_decision.single-story"] == "skipped"
    assert "prd.md" in {a.name for a in run.artifacts}


async def test_with_approvals_on_a_person_chooses_the_branch(time_env, settings, store, brownfield):
    save_plan(store, brownfield)
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, brownfield, settings, {}, approve=["qa"],
                                 task_queue=settings.task_queue)
        req = await wait_pending(handle, "routing_decision")
        assert (req.kind, req.choices) == ("route", ["single_story", "small_feature", "major_enhancement"])
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
            step="routing_decision", decision="choose", choice="small_feature", by="fay"))
        result = await handle.result()
    steps = {s.key: s.status for s in store.get_run(result.run_id).steps}
    assert steps["routing_decision.small-feature"] == "completed" and steps["documentation_check"] == "skipped"


async def test_an_unknown_branch_fails_the_run_naming_the_branches(time_env, settings, store, brownfield):
    with pytest.raises(WorkflowFailureError) as info:
        await _run(time_env, settings, store, brownfield, {"based_on_classification": "huge"})
    message = str(info.value.cause)
    assert "huge" in message and "single_story" in message and "major_enhancement" in message
