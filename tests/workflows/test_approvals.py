"""Durable human approvals: Update with validator, signal, reject/amend, timeouts, conditions, iterations."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError

from bmad.plan import ApprovalSpec, Plan
from botarmy.temporal import start_run
from store import Store
from tests.conftest import running_worker, save_plan
from tests.workflows.plans import pipeline_plan, single_step_plan
from workflows.contracts import ApprovalDecision, ApprovalRequest
from workflows.run import BmadRunWorkflow


def with_approval(plan: Plan, spec: ApprovalSpec) -> Plan:
    steps = [s.model_copy(update={"approval": spec}) if s.index == 0 else s for s in plan.steps]
    return plan.model_copy(update={"steps": steps}).seal()


async def wait_pending(handle: WorkflowHandle, step: str | None = None) -> ApprovalRequest:
    for _ in range(200):
        progress = await handle.query(BmadRunWorkflow.progress)
        for req in progress.pending_approvals:
            if step is None or req.step == step:
                return req
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing pending for {step}")


async def test_approve_by_update_continues_and_records_who(time_env, settings, store: Store):
    plan = save_plan(store, with_approval(single_step_plan(), ApprovalSpec(role="product-owner")))
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {}, task_queue=settings.task_queue)
        req = await wait_pending(handle)
        assert (req.step, req.artifact, req.version, req.role) == ("01-pm-prd", "prd.md", 1, "product-owner")
        with pytest.raises(WorkflowUpdateFailedError) as refused:  # wrong role: the validator refuses
            await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
                step="01-pm-prd", decision="approve", by="mallory", role="intern"))
        assert "product-owner" in str(refused.value.cause)
        record = await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
            step="01-pm-prd", decision="approve", comment="looks good", by="alice", role="product-owner"))
        assert (record.by, record.decision) == ("alice", "approve")
        result = await handle.result()
    run = store.get_run(result.run_id)
    assert run.status == "completed"
    approval = next(d for d in run.decisions if d.get("kind") == "approval")
    assert (approval["by"], approval["comment"], approval["decision"]) == ("alice", "looks good", "approve")
    types = [e.type for e in store.list_events(result.run_id)]
    assert "approval.requested" in types and "approval.resolved" in types


async def test_decision_for_a_step_that_is_not_waiting_is_refused_with_a_clear_error(time_env, settings, store):
    plan = save_plan(store, with_approval(single_step_plan(), ApprovalSpec()))
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {}, task_queue=settings.task_queue)
        await wait_pending(handle)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(BmadRunWorkflow.decide,
                                        ApprovalDecision(step="99-nope", decision="approve"))
        assert "not waiting" in str(refused.value.cause) and "01-pm-prd" in str(refused.value.cause)
        await handle.signal(BmadRunWorkflow.decide_signal, ApprovalDecision(step="01-pm-prd", decision="approve"))
        assert (await handle.result()).status == "completed"


async def test_reject_with_feedback_reruns_step_with_feedback_in_prompt(time_env, settings, store):
    plan = save_plan(store, with_approval(single_step_plan(), ApprovalSpec()))
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {}, task_queue=settings.task_queue)
        await wait_pending(handle)
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
            step="01-pm-prd", decision="reject", comment="Add a section on pricing.", by="bob"))
        req = await wait_pending(handle)
        assert (req.version, req.revision) == (2, 1)
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step="01-pm-prd", decision="approve"))
        result = await handle.result()
    run = store.get_run(result.run_id)
    versions = [a for a in run.artifacts if a.name == "prd.md"]
    assert [a.version for a in versions] == [1, 2]
    revised = store.read_artifact(versions[1].id, versions[1].sha256).decode()
    assert "Revised after reviewer feedback: Add a section on pricing." in revised
    assert "reviewer feedback" not in store.read_artifact(versions[0].id, versions[0].sha256).decode()


async def test_too_many_rejections_fail_the_run_with_the_last_feedback(time_env, settings, store):
    plan = save_plan(store, with_approval(single_step_plan(), ApprovalSpec(max_revisions=1)))
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {}, task_queue=settings.task_queue)
        for n in range(2):
            await wait_pending(handle)
            await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
                step="01-pm-prd", decision="reject", comment=f"still wrong {n}"))
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    run = store.get_run(handle.id.rsplit("-", 1)[1])
    assert run.status == "failed" and "rejected 2 times" in run.error and "still wrong 1" in run.error


async def test_amend_stores_the_persons_version_and_continues(time_env, settings, store):
    plan = save_plan(store, with_approval(single_step_plan(), ApprovalSpec()))
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {}, task_queue=settings.task_queue)
        await wait_pending(handle)
        with pytest.raises(WorkflowUpdateFailedError):  # amend needs content
            await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step="01-pm-prd", decision="amend"))
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
            step="01-pm-prd", decision="amend", content="# PRD\n\nEdited by hand.\n", by="carol"))
        result = await handle.result()
    run = store.get_run(result.run_id)
    latest = [a for a in run.artifacts if a.name == "prd.md"][-1]
    assert latest.version == 2 and store.read_artifact(latest.id, latest.sha256) == b"# PRD\n\nEdited by hand.\n"
    assert result.artifacts["prd.md"].version == 2


async def test_timeout_applies_the_configured_default_and_records_it(time_env, settings, store):
    plan = save_plan(store, with_approval(single_step_plan(), ApprovalSpec(timeout_s=3 * 86400,
                                                                           on_timeout="approve")))
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {}, task_queue=settings.task_queue)
        result = await handle.result()  # the time-skipping server jumps the three days
    assert result.status == "completed"
    assert [(a.decision, a.source, a.by) for a in result.approvals] == [("approve", "timeout", "timeout")]


async def test_condition_without_input_is_asked_when_approvals_are_on(time_env, settings, store):
    plan = save_plan(store, pipeline_plan())
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {"for_each_epic": 0}, approve=["architect"],
                                 task_queue=settings.task_queue)
        req = await wait_pending(handle, "03-architect-arch")
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step=req.step, decision="approve"))
        question = await wait_pending(handle, "04-pm-update")
        assert (question.kind, question.question) == ("condition", "architecture_suggests_prd_changes")
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step="04-pm-update", decision="yes"))
        result = await handle.result()
    assert [(d.condition, d.value) for d in result.decisions] == [("architecture_suggests_prd_changes", True)]
    assert result.artifacts["prd.md"].version == 2


async def test_approval_inside_a_repeat_iteration_is_decided_through_the_run(time_env, settings, store):
    plan = save_plan(store, pipeline_plan())
    async with running_worker(time_env.client, settings, store):
        inputs = {"for_each_epic": 2, "architecture_suggests_prd_changes": False}
        handle = await start_run(time_env.client, plan, settings, inputs, approve=["sm"],
                                 task_queue=settings.task_queue)
        for n in (1, 2):
            req = await wait_pending(handle, f"06-sm-story[{n}]")
            assert req.child_workflow_id is None  # asked by the run itself: its loops run inline
            await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
                step=req.step, decision="approve", by="dana"))
        result = await handle.result()
    assert result.status == "completed"
    assert sorted(a.step for a in result.approvals) == ["06-sm-story[1]", "06-sm-story[2]"]
