"""Records interpreter histories for the replay tests: `python -m tests.workflows.record_histories`.

Run it only when a workflow change is meant to be incompatible (and then add a new file, keep the old ones);
compatible changes must replay the committed histories as they are (use `workflow.patched`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bmad import compile_workflow, load_bmad
from bmad.plan import ApprovalSpec, Plan
from botarmy.launch import launch
from botarmy.rerun import prepare_rerun
from botarmy.settings import Settings
from botarmy.temporal import ensure_search_attributes, start_run
from store import Store
from testkit.fakes.openai_server import FakeOpenAI, Fault
from tests.conftest import binary, running_worker, save_plan
from tests.workflows.plans import goto_plan, loop_plan, optional_plan, pipeline_plan, single_step_plan, three_step_plan
from workflows.contracts import WORKFLOW_SCHEDULED_LAUNCH, ApprovalDecision, ScheduledLaunchInput
from workflows.run import BmadRunWorkflow

HERE = Path(__file__).parent / "histories"

async def _approve_reject_amend(handle: WorkflowHandle) -> None:
    from tests.workflows.test_approvals import wait_pending

    for decision in (
        ApprovalDecision(step="01-pm-prd", decision="reject", comment="more detail"),
        ApprovalDecision(step="01-pm-prd", decision="amend", content="# PRD\n\nBy hand.\n"),
    ):
        await wait_pending(handle, decision.step)
        await handle.execute_update(BmadRunWorkflow.decide, decision)


async def _choose_route(handle: WorkflowHandle) -> None:
    from tests.workflows.test_approvals import wait_pending

    await wait_pending(handle, "routing_decision")
    await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
        step="routing_decision", decision="choose", choice="single_story"))


async def _stop_at_budget(handle: WorkflowHandle) -> None:
    from tests.workflows.test_approvals import wait_pending

    req = await wait_pending(handle)
    await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step=req.step, decision="stop"))


async def _cancel_while_waiting(handle: WorkflowHandle) -> None:
    from tests.workflows.test_approvals import wait_pending

    await wait_pending(handle)
    await handle.cancel()


async def _approve_stories(handle: WorkflowHandle) -> None:
    from tests.workflows.test_approvals import wait_pending

    for n in (1, 2):
        await wait_pending(handle, f"06-sm-story[{n}]")
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step=f"06-sm-story[{n}]",
                                                                             decision="approve"))


async def _answer_question(handle: WorkflowHandle) -> None:
    from tests.workflows.test_approvals import wait_pending

    req = await wait_pending(handle)
    await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
        step=req.step, decision="answer", comment="Lunch orders for one office", by="ana"))


async def _answer_reject_answer_approve(handle: WorkflowHandle) -> None:
    """A headless step with an approval: its open question answered, rejected, its revision's question answered."""
    from tests.workflows.test_approvals import wait_pending

    for decision, comment in (("answer", "Lyon"), ("reject", "Add payment"), ("answer", "Weekdays"),
                              ("approve", "")):
        req = await wait_pending(handle)
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
            step=req.step, decision=decision, comment=comment, by="ana"))


async def _pause_then_resume(handle: WorkflowHandle) -> None:
    """Paused while the analyst's output waits for approval, approved, held before the pm step, resumed."""
    from tests.workflows.test_approvals import wait_pending
    from workflows.contracts import PauseRequest

    await wait_pending(handle, "01-analyst-brief")
    await handle.execute_update(BmadRunWorkflow.pause, PauseRequest(by="ana"))
    await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step="01-analyst-brief", decision="approve"))
    for _ in range(200):
        if (await handle.query(BmadRunWorkflow.progress)).paused_before == "02-pm-prd":
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the run did not hold before 02-pm-prd")
    await handle.execute_update(BmadRunWorkflow.resume, PauseRequest(by="ana"))


async def _leave_out_optional(handle: WorkflowHandle) -> None:
    from tests.workflows.test_approvals import wait_pending

    await wait_pending(handle, "02-pm-prd")
    await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step="02-pm-prd", decision="no", by="ana"))


def _asking_plan() -> Plan:
    plan = single_step_plan()
    steps = [plan.steps[0].model_copy(update={"asks": ["Which project is this PRD for?"]})]
    return plan.model_copy(update={"steps": steps}).seal()


def _asking_three_plan() -> Plan:
    """Three steps; the second asks a person first."""
    plan = three_step_plan()
    steps = [s.model_copy(update={"asks": ["Which project is this PRD for?"]}) if s.index == 1 else s
             for s in plan.steps]
    return plan.model_copy(update={"steps": steps}).seal()


def _headless_plan() -> Plan:
    plan = single_step_plan()
    steps = [plan.steps[0].model_copy(update={"headless": "# Headless Mode\n\nDo not ask; end with the JSON result."})]
    return plan.model_copy(update={"steps": steps}).seal()


_DOC = "# Notes\n\n## Section\n\nScripted answer.\n"
# goto_plan's steps in the order they run: 1, 2, 3 goes back to 2, 2#2, 3#2 goes on to 5 (4#2 skipped), 5
_GOTO_ANSWERS = [_DOC, _DOC, _DOC + "\nNEXT STEP: 2\n", _DOC, _DOC + "\nNEXT STEP: 5\n", _DOC]

_PARTIAL = ('# PRD\n\nA first cut.\n\n```json\n{"status": "partial", "assumptions": ["one office"], '
            '"open_questions": ["Which office?"]}\n```\n')
_COMPLETE = '# PRD\n\nFor Lyon.\n\n```json\n{"status": "complete", "assumptions": ["one office"]}\n```\n'


def _headless_approval_plan() -> Plan:
    plan = _headless_plan()
    steps = [plan.steps[0].model_copy(update={"approval": ApprovalSpec()})]
    return plan.model_copy(update={"steps": steps}).seal()


def _approval_plan() -> Plan:
    plan = single_step_plan()
    steps = [plan.steps[0].model_copy(update={"approval": ApprovalSpec()})]
    return plan.model_copy(update={"steps": steps}).seal()


def _brownfield() -> Plan:
    from tests.conftest import upstream_core  # the published bmad-method core, fetched into the cache if need be

    return compile_workflow(load_bmad([upstream_core()]), "brownfield-fullstack")


_LAUNCH = "_launch"  # a start keyword of the cases below: start the run through botarmy.launch, not start_run
_SCHEDULED = "_scheduled"  # start keyword: start `BmadScheduledLaunch` (what a schedule's action starts) instead
# start keyword (step id, interaction): run the plan once with that interaction, then record its rerun from the step
_RERUN = "_rerun"

# name: (plan, inputs, model faults and scripted answers, start_run keywords, interaction while it runs)
CASES: dict[str, tuple] = {
    "pipeline-defaults": (pipeline_plan, {}, None),
    "pipeline-condition-true-repeat-2": (
        pipeline_plan, {"architecture_suggests_prd_changes": True, "for_each_epic": 2}, None
    ),
    "single-step-retried-then-ok": (single_step_plan, {}, [Fault(500), Fault(500)]),
    "single-step-non-retryable": (single_step_plan, {}, [Fault(401)]),
    "approval-reject-then-amend": (_approval_plan, {}, None, {}, _approve_reject_amend),
    "route-chosen-by-a-person": (_brownfield, {}, None, {"approve": ["qa"]}, _choose_route),
    "budget-stop": (pipeline_plan, {"for_each_epic": 1, "architecture_suggests_prd_changes": False}, None,
                    {"budget_tokens": 150}, _stop_at_budget),
    # recorded after run bookkeeping became local activities (patch "bookkeeping-as-local-activities")
    "local-bookkeeping-condition-true-repeat-2": (
        pipeline_plan, {"architecture_suggests_prd_changes": True, "for_each_epic": 2}, None
    ),
    "local-bookkeeping-non-retryable": (single_step_plan, {}, [Fault(401)]),
    # recorded after runs carried their model: RunInput, StartRunInput and AgentStepInput have a model_ref
    "model-pinned-retried-then-ok": (single_step_plan, {}, [Fault(500)]),
    # recorded after a run clears BotArmyWaiting however it ends (patch "waiting-cleared-when-run-ends")
    "waiting-cleared-cancelled-while-waiting": (_approval_plan, {}, None, {}, _cancel_while_waiting),
    "waiting-cleared-cancelled-in-iteration": (
        pipeline_plan, {"for_each_epic": 2, "architecture_suggests_prd_changes": False}, None, {"approve": ["sm"]},
        _cancel_while_waiting,
    ),
    "waiting-cleared-approved-then-completed": (
        _approval_plan, {"project_name": "Lunch Orders"}, None, {}, _approve_reject_amend,
    ),
    # recorded after run inputs travelled by reference (RunInput.inputs_ref, patch "inputs-by-reference")
    "inputs-by-reference-repeat-1": (
        pipeline_plan, {"project_name": "Lunch Orders", "for_each_epic": 1, "architecture_suggests_prd_changes": True},
        None,
    ),
    # recorded after loops ran inline (patch "inline-loops"); the continued case also writes `-last.json`, the
    # history of its last execution (started with the carried state)
    "inline-loops-approved-in-iterations": (
        pipeline_plan, {"for_each_epic": 2, "architecture_suggests_prd_changes": False}, None, {"approve": ["sm"]},
        _approve_stories,
    ),
    "inline-loops-continued-as-new": (
        lambda: loop_plan(before=1), {"for_each_chapter": 12}, None, {"continue_as_new_events": 30}, None,
    ),
    # recorded after the launcher recorded the run (botarmy.launch: RunInput.recorded, patch
    # "run-recorded-at-launch"): started through `launch`, no `start_run` local activity
    "recorded-at-launch-condition-true-repeat-2": (
        pipeline_plan, {"architecture_suggests_prd_changes": True, "for_each_epic": 2}, None, {_LAUNCH: True},
        None,
    ),
    "recorded-at-launch-reject-then-amend": (_approval_plan, {}, None, {_LAUNCH: True}, _approve_reject_amend),
    "recorded-at-launch-continued-as-new": (
        lambda: loop_plan(before=1), {"for_each_chapter": 12}, None, {_LAUNCH: True, "continue_as_new_events": 30},
        None,
    ),
    # recorded after steps could ask a person (patch "steps-ask-a-person"): answered by Update, then assumed
    "question-answered-by-a-person": (_asking_plan, {}, None, {}, _answer_question),
    "question-assumed-with-auto-approve": (_asking_plan, {}, None, {"auto_approve": True}, None),
    # recorded after a headless step's open questions asked a person (patch "headless-open-questions"): the
    # scripted model answers partial, then complete; answered by Update, then assumed
    "headless-questions-answered-by-a-person": (_headless_plan, {}, [_PARTIAL, _COMPLETE], {}, _answer_question),
    "headless-questions-assumed-with-auto-approve": (
        _headless_plan, {}, [_PARTIAL, _COMPLETE], {"auto_approve": True}, None),
    # recorded after a headless step's revision asked its open questions (patch "headless-questions-after-revision")
    "headless-questions-after-a-revision": (
        _headless_approval_plan, {}, [_PARTIAL, _COMPLETE, _PARTIAL, _COMPLETE], {}, _answer_reject_answer_approve),
    # the launcher a Temporal Schedule starts (workflows/scheduled.py): one activity that launches the run
    "scheduled-launch": (single_step_plan, {}, None, {_SCHEDULED: True}, None),
    # recorded after runs could pause between steps (patch "pause-between-steps", asked in the first activation)
    "paused-between-steps-then-resumed": (
        pipeline_plan, {"for_each_epic": 1, "architecture_suggests_prd_changes": False}, None,
        {_LAUNCH: True, "approve": ["analyst"]}, _pause_then_resume,
    ),
    # recorded after a step's `<goto>` moved the run (patch "goto-steps"): back once (a second visit), then on
    "goto-back-then-forward": (goto_plan, {}, _GOTO_ANSWERS, {"auto_approve": True}, None),
    # recorded after a v6 optional step asked a person whether to include it (patch "optional-steps-ask-a-person")
    "optional-step-left-out-by-a-person": (optional_plan, {}, None, {"approve": ["nobody"]}, _leave_out_optional),
    # recorded after a rerun's carried step that asks took its parent's answer (patch
    # "carried-steps-keep-their-answers"): the parent's question answered by a person, the rerun from the next step
    "rerun-carried-step-keeps-its-answer": (
        _asking_three_plan, {}, None, {_LAUNCH: True, _RERUN: ("03-architect-arch", _answer_question)}, None),
    # recorded after runs carried their engine level (RunInput.engine = 1, workflows/patches.py): every patch
    # before it taken without a marker or a TemporalChangeVersion upsert; waited, rejected, amended; and a loop
    # that continued as new (the level carried into the continued execution)
    "engine-1-reject-then-amend": (_approval_plan, {}, None, {_LAUNCH: True}, _approve_reject_amend),
    "engine-1-continued-as-new": (
        lambda: loop_plan(before=1), {"for_each_chapter": 12}, None, {_LAUNCH: True, "continue_as_new_events": 30},
        None,
    ),
    "engine-1-goto-back-then-forward": (goto_plan, {}, _GOTO_ANSWERS, {_LAUNCH: True, "auto_approve": True}, None),
}


async def _start(client: Client, store: Store, settings: Settings, plan: Plan, inputs: dict[str, Any],
                 kw: dict[str, Any]) -> WorkflowHandle:
    if kw.pop(_SCHEDULED, False):
        return await client.start_workflow(
            WORKFLOW_SCHEDULED_LAUNCH, ScheduledLaunchInput(schedule_id="rec", definition_hash=plan.definition_hash,
                                                            inputs=inputs),
            id=f"botarmy-schedule-rec-{uuid.uuid4().hex[:6]}", task_queue=settings.task_queue, result_type=str)
    if _RERUN in kw:  # the parent first, as the interaction leads it; then its rerun, through `launch`
        from_step, lead = kw.pop(_RERUN)
        parent = await _start(client, store, settings, plan, inputs, kw)
        await lead(parent)
        await parent.result()
        r = await asyncio.to_thread(prepare_rerun, store, parent.id.rsplit("-", 1)[-1], from_step)
        return (await launch(client, store, settings, r.plan, r.inputs, r.files, task_queue=settings.task_queue,
                             run_model=r.run_model, lineage=r.lineage)).handle
    if not kw.pop(_LAUNCH, False):
        return await start_run(client, plan, settings, inputs, task_queue=settings.task_queue, **kw)
    if "continue_as_new_events" in kw:  # launch takes it from the settings
        settings = settings.model_copy(update={"continue_as_new_events": kw.pop("continue_as_new_events")})
    return (await launch(client, store, settings, plan, inputs, task_queue=settings.task_queue, **kw)).handle


async def record(out_dir: Path = HERE, only_missing: bool = False) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter,
        # the SDK waits 5 s for it: a cold start on a busy machine took longer
        test_server_startup_timeout=timedelta(seconds=60),
    )
    written: list[Path] = []
    try:
        await ensure_search_attributes(env.client)
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(f"sqlite:///{tmp}/h.db")
            store.migrate()
            for name, (make_plan, inputs, faults, *more) in CASES.items():
                path = out_dir / f"{name}.json"
                if only_missing and path.exists():
                    continue
                start_kw, interact = (more + [{}, None])[:2] if more else ({}, None)
                fake = FakeOpenAI().start()
                fake.script.extend(f for f in faults or [] if isinstance(f, Fault))
                fake.replies.extend(f for f in faults or [] if isinstance(f, str))  # scripted answers' texts
                settings = Settings(database_url=f"sqlite:///{tmp}/h.db", task_queue=f"rec-{uuid.uuid4().hex[:6]}")
                if faults:
                    settings = settings.model_copy(update={
                        "model": "openai:gpt-test", "openai_base_url": fake.base_url, "openai_api_key": "sk"})
                plan = save_plan(store, make_plan())
                async with running_worker(env.client, settings, store):
                    handle = await _start(env.client, store, settings, plan, inputs, dict(start_kw))
                    if interact is not None:
                        await interact(handle)
                    try:
                        result = await handle.result()
                    except WorkflowFailureError:  # failed or cancelled: recorded as it ended
                        result = None
                    if start_kw.get(_SCHEDULED):  # the run the launcher started ends before its worker stops
                        run = store.get_run(result)
                        assert run is not None
                        await env.client.get_workflow_handle(run.temporal_workflow_id).result()
                fake.stop()
                # a handle from `launch` is by workflow id alone: the first execution's id from its description
                first_run = handle.first_execution_run_id or (
                    await handle.describe()).raw_description.workflow_execution_info.first_run_id
                first = env.client.get_workflow_handle(handle.id, run_id=first_run)
                history = json.loads((await first.fetch_history()).to_json())
                path.write_text(json.dumps({"workflow_id": handle.id, "history": history}))
                written.append(path)
                latest = env.client.get_workflow_handle(handle.id)
                if (await latest.describe()).run_id != first_run:  # it continued as new
                    last = out_dir / f"{name}-last.json"
                    history = json.loads((await latest.fetch_history()).to_json())
                    last.write_text(json.dumps({"workflow_id": handle.id, "history": history}))
                    written.append(last)
    finally:
        await env.shutdown()
    return written


if __name__ == "__main__":
    # committed histories are never re-recorded: new cases are added beside them
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for p in asyncio.run(record(target, only_missing=target == HERE)):
        print(p)  # noqa: T201 - a script: the recorded files are its output


def load(path: Path) -> WorkflowHistory:
    data = json.loads(path.read_text())
    return WorkflowHistory.from_json(data["workflow_id"], data["history"])
