"""A v6 `optional="true"` step follows workflow.xml ("optional steps: ask user unless #yolo mode active"): when a
person is asked (not --auto-approve) the run asks whether to include it, durably, and records the answer; with
--auto-approve it runs as any optional step, and `skip_optional` still skips it without asking."""

from __future__ import annotations

import uuid

import pytest

from botarmy.settings import Settings
from botarmy.temporal import start_run
from store import Store
from tests.conftest import running_worker, save_plan
from tests.workflows.plans import optional_plan
from tests.workflows.test_approvals import wait_pending
from workflows.contracts import ApprovalDecision, optional_question
from workflows.run import BmadRunWorkflow

OPTIONAL = "02-pm-prd"


@pytest.mark.parametrize(("answer", "status"), [("no", "skipped"), ("yes", "completed")])
async def test_a_person_is_asked_whether_to_include_an_optional_step_and_the_answer_is_recorded(
    time_env, settings: Settings, store: Store, answer: str, status: str
) -> None:
    plan = save_plan(store, optional_plan())
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {}, task_queue=settings.task_queue,
                                 approve=["nobody"], run_id=uuid.uuid4().hex[:12])
        req = await wait_pending(handle)
        assert (req.step, req.kind, req.question) == (OPTIONAL, "condition", f"include optional step {OPTIONAL}")
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step=OPTIONAL, decision=answer,
                                                                             by="ana"))
        result = await handle.result()
        progress = await handle.query(BmadRunWorkflow.progress)
    assert result.status == "completed"
    steps = {s.key: s for s in progress.steps}
    assert steps[OPTIONAL].status == status
    if status == "skipped":
        assert steps[OPTIONAL].reason == "optional step not included (decided by ana)"
    assert [(d.condition, d.value, d.source) for d in result.decisions] == [
        (optional_question(plan.outline().steps[1]), answer == "yes", "decided by ana")]
    assert {steps[k].status for k in ("01-analyst-brief", "03-architect-arch")} == {"completed"}


@pytest.mark.parametrize(("inputs", "status"), [({}, "completed"), ({"skip_optional": True}, "skipped")])
async def test_with_auto_approve_or_skip_optional_nobody_is_asked(
    time_env, settings: Settings, store: Store, inputs: dict[str, object], status: str
) -> None:
    plan = save_plan(store, optional_plan())
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, inputs, task_queue=settings.task_queue,
                                 auto_approve=not inputs, approve=["nobody"], run_id=uuid.uuid4().hex[:12])
        result = await handle.result()
        progress = await handle.query(BmadRunWorkflow.progress)
    assert result.status == "completed" and not result.approvals and not result.decisions
    assert next(s for s in progress.steps if s.key == OPTIONAL).status == status
