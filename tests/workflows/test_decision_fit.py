"""The `decide` Update validator: the verb must fit what waits, a route's choice must be one of its branches, and
a budget raise must exceed what is already spent. A refused decision never enters history; the run goes on."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from bmad.plan import Plan, PlanStep, RouteOption
from botarmy.temporal import start_run
from tests.conftest import running_worker, save_plan
from tests.workflows.plans import pipeline_plan, single_step_plan
from tests.workflows.test_approvals import wait_pending
from workflows.contracts import DECISION_REFUSED, ApprovalDecision
from workflows.run import BmadRunWorkflow


async def refused(handle: WorkflowHandle, decision: ApprovalDecision) -> tuple[str | None, str]:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(BmadRunWorkflow.decide, decision)
    cause = caught.value.cause
    return cause.type, cause.message  # type: ignore[union-attr]


def routed_plan() -> Plan:
    single = single_step_plan("test-routed")
    pick = PlanStep(index=0, id="pick", kind="control", condition="size",
                    routes=[RouteOption(name="small"), RouteOption(name="big")])
    prd = single.steps[0].model_copy(update={"index": 1})
    return single.model_copy(update={"steps": [pick, prd], "conditions": ["size"],
                                     "input_defaults": {"size": "small"}}).seal()


async def test_an_approval_takes_approve_reject_or_amend_only(time_env, settings, store):
    plan = save_plan(store, single_step_plan())
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {}, approve="all", task_queue=settings.task_queue)
        await wait_pending(handle, "01-pm-prd")
        assert await refused(handle, ApprovalDecision(step="01-pm-prd", decision="yes")) == (
            DECISION_REFUSED, "'yes' does not answer the approval of prd.md at step '01-pm-prd'; "
                              "use approve, reject or amend (with the edited content)")
        kind, message = await refused(handle, ApprovalDecision(step="99-nope", decision="approve"))
        assert (kind, message) == ("NotWaiting", "step '99-nope' is not waiting for a decision (waiting: 01-pm-prd)")
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step="01-pm-prd", decision="approve"))
        result = await handle.result()
    assert result.status == "completed" and [a.decision for a in result.approvals] == ["approve"]


async def test_a_condition_takes_yes_or_no_only(time_env, settings, store):
    plan = save_plan(store, pipeline_plan())
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {"for_each_epic": 0}, approve=["architect"],
                                 task_queue=settings.task_queue)
        await wait_pending(handle, "03-architect-arch")
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step="03-architect-arch",
                                                                             decision="approve"))
        await wait_pending(handle, "04-pm-update")
        assert await refused(handle, ApprovalDecision(step="04-pm-update", decision="approve")) == (
            DECISION_REFUSED, "'approve' does not answer the condition 'architecture_suggests_prd_changes' at step "
                              "'04-pm-update'; use yes or no")
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step="04-pm-update", decision="no"))
        result = await handle.result()
    assert [(d.condition, d.value) for d in result.decisions] == [("architecture_suggests_prd_changes", False)]


async def test_a_route_takes_choose_with_one_of_its_branches(time_env, settings, store):
    plan = save_plan(store, routed_plan())
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {}, approve=["dev"], task_queue=settings.task_queue)
        req = await wait_pending(handle, "pick")
        assert (req.kind, req.choices) == ("route", ["small", "big"])
        assert await refused(handle, ApprovalDecision(step="pick", decision="yes")) == (
            DECISION_REFUSED, "'yes' does not answer the route 'size' at step 'pick'; use choose with a choice, "
                              "one of: small, big")
        assert await refused(handle, ApprovalDecision(step="pick", decision="choose", choice="huge")) == (
            DECISION_REFUSED, "choose one of small, big for step 'pick' (got 'huge')")
        await handle.execute_update(BmadRunWorkflow.decide,
                                    ApprovalDecision(step="pick", decision="choose", choice="big"))
        result = await handle.result()
    route = next(d for d in result.decisions if d.condition == "size")
    assert route.choice == "big" and result.status == "completed"


async def test_a_budget_raise_must_exceed_what_is_spent(time_env, settings, store):
    plan = save_plan(store, pipeline_plan())
    inputs = {"for_each_epic": 1, "architecture_suggests_prd_changes": False}
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, inputs, budget_tokens=150,
                                 task_queue=settings.task_queue)
        req = await wait_pending(handle)
        spent = (await handle.query(BmadRunWorkflow.progress)).budget.spent_tokens
        assert await refused(handle, ApprovalDecision(step=req.step, decision="approve")) == (
            DECISION_REFUSED, f"'approve' does not answer a budget pause at step {req.step!r}; "
                              "use raise (with the new budget as the choice) or stop")
        assert await refused(handle, ApprovalDecision(step=req.step, decision="raise", choice=str(spent))) == (
            DECISION_REFUSED, f"a raise to {spent} does not exceed the {spent} tokens already spent; "
                              "raise the budget above it, or stop")
        await handle.execute_update(BmadRunWorkflow.decide,
                                    ApprovalDecision(step=req.step, decision="raise", choice="1000000"))
        result = await handle.result()
    assert result.status == "completed"
    assert [(a.kind, a.decision) for a in result.approvals] == [("budget", "raise")]
