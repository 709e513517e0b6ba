"""Budgets: a run pauses durably before a step that would cross its budget; a person raises it or stops."""

from __future__ import annotations

from botarmy.temporal import start_run
from tests.conftest import running_worker, save_plan
from tests.workflows.plans import pipeline_plan
from tests.workflows.test_approvals import wait_pending
from workflows.contracts import ApprovalDecision
from workflows.run import BmadRunWorkflow

INPUTS = {"for_each_epic": 1, "architecture_suggests_prd_changes": False}


async def test_token_budget_pauses_then_raise_lets_the_run_finish(time_env, settings, store):
    plan = save_plan(store, pipeline_plan())
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, INPUTS, budget_tokens=150,
                                 task_queue=settings.task_queue)
        req = await wait_pending(handle)
        assert req.kind == "budget" and "budget 150 tokens" in req.question
        progress = await handle.query(BmadRunWorkflow.progress)
        spent = progress.budget.spent_tokens
        assert 0 < spent <= 150 and progress.budget.calls >= 1  # paused before crossing, not after
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
            step=req.step, decision="raise", choice="1000000", by="gus"))
        result = await handle.result()
    assert result.status == "completed"
    assert [(a.kind, a.decision, a.by) for a in result.approvals] == [("budget", "raise", "gus")]


async def test_stop_at_a_budget_pause_ends_the_run_as_stopped_keeping_its_artifacts(time_env, settings, store):
    plan = save_plan(store, pipeline_plan())
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, INPUTS, budget_tokens=150,
                                 task_queue=settings.task_queue)
        req = await wait_pending(handle)
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step=req.step, decision="stop"))
        result = await handle.result()
    assert result.status == "stopped"
    run = store.get_run(result.run_id)
    assert run.status == "stopped" and "stopped by" in run.error
    assert run.artifacts and all(s.status in ("completed", "skipped", "pending") for s in run.steps)
    assert any(s.status == "skipped" for s in run.steps)


async def test_budget_inside_an_iteration_pauses_through_the_run(time_env, settings, store):
    plan = save_plan(store, pipeline_plan())
    async with running_worker(time_env.client, settings, store):
        inputs = dict(INPUTS, for_each_epic=2, skip_optional=True)
        handle = await start_run(time_env.client, plan, settings, inputs, budget_tokens=400,
                                 task_queue=settings.task_queue)
        req = await wait_pending(handle)
        assert (req.kind, req.step, req.child_workflow_id) == ("budget", "07-dev-impl[1]", None), req  # inline
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step=req.step, decision="stop"))
        result = await handle.result()
    assert result.status == "stopped"
