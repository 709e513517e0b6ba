"""Long loops run inline and continue as new past a threshold of history events, carrying the run's state."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from botarmy.temporal import start_run
from tests.conftest import running_worker, save_plan
from tests.workflows.plans import loop_plan
from tests.workflows.test_approvals import wait_pending
from workflows.contracts import ApprovalDecision
from workflows.run import BmadRunWorkflow


async def _executions(client: Client, handle: WorkflowHandle) -> int:
    """How many executions the run took under its one workflow id: its continue-as-new chain, in Temporal."""
    run_id: str | None = handle.first_execution_run_id or handle.result_run_id
    count = 0
    while run_id:
        count += 1
        events = (await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()).events
        last = events[-1]
        run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                  if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW else None)
    return count


async def test_a_loop_of_500_iterations_completes_as_one_run_across_continue_as_new(time_env, settings, store):
    plan = save_plan(store, loop_plan(before=1))
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {"for_each_chapter": 500},
                                 task_queue=settings.task_queue, continue_as_new_events=400)
        result = await handle.result()
        progress = await time_env.client.get_workflow_handle_for(BmadRunWorkflow.run, handle.id).query(
            BmadRunWorkflow.progress)
    assert result.status == "completed"
    assert await _executions(time_env.client, handle) >= 2  # continued as new at least once
    runs = store.list_runs()
    assert [r.run_id for r in runs] == [result.run_id]
    run = store.get_run(result.run_id)
    assert run is not None and run.status == "completed"
    assert len(run.steps) == 501 and all(s.status == "completed" for s in run.steps)
    assert sorted(s.iteration for s in run.steps if s.iteration) == list(range(1, 501))
    names = {a.name for a in run.artifacts}
    assert {"notes-1.md", "chapter-1/chapter.md", "chapter-500/chapter.md"} <= names and len(names) == 501
    # what the progress query shows after the last continue-as-new: every step, every document, the spend
    assert progress.status == "completed" and len(progress.steps) == 501 and len(progress.artifacts) == 501
    assert progress.budget.calls == 501


async def test_approvals_and_decisions_are_carried_across_continue_as_new(time_env, settings, store):
    plan = save_plan(store, loop_plan())
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {"for_each_chapter": 6}, approve=["scribe"],
                                 task_queue=settings.task_queue, continue_as_new_events=30)
        by_id = time_env.client.get_workflow_handle_for(BmadRunWorkflow.run, handle.id)
        for n in range(1, 7):
            req = await wait_pending(by_id, f"01-scribe[{n}]")
            assert req.child_workflow_id is None
            await by_id.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
                step=req.step, decision="approve", by=f"reader-{n}"))
        result = await handle.result()
    assert result.status == "completed"
    assert await _executions(time_env.client, handle) >= 2
    assert [(a.step, a.by) for a in result.approvals] == [(f"01-scribe[{n}]", f"reader-{n}") for n in range(1, 7)]
    run = store.get_run(result.run_id)
    assert sorted(d["by"] for d in run.decisions) == sorted(f"reader-{n}" for n in range(1, 7))
