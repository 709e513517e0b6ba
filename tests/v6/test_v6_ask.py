"""A 6.0.x `<ask>` is a durable question to a person: the step waits (visible in the progress query and the
approvals list), survives a worker restart, and runs on the answer with the answer in its prompt; with
--auto-approve the step's agent takes its best assumption, recorded as such."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from bmad import compile_workflow, load_bmad
from bmad.plan import Plan
from botarmy.settings import Settings
from botarmy.temporal import connect, ensure_search_attributes, start_run
from store import Store
from tests.conftest import running_worker, save_plan, subprocess_env, v6_install
from tests.upstream.test_pack_forms_runs import run_plan, text
from workflows.contracts import ApprovalDecision, ApprovalRequest
from workflows.run import BmadRunWorkflow


def plan_of(workflow: str) -> Plan:
    return compile_workflow(load_bmad(v6_install("6.0.4")), workflow)


def test_the_plan_marks_the_steps_that_ask_from_their_ask_tags_and_plans_without_keep_their_hash() -> None:
    plan = plan_of("create-story")
    asking = [s for s in plan.steps if s.asks]
    assert [s.id for s in asking] == ["01-step-1-determine-target-story"]
    assert asking[0].asks[0].startswith("Choose option [1], provide epic-story number")
    assert [s.asks for s in plan.outline().steps] == [s.asks for s in plan.steps]
    none = plan.model_copy(update={"steps": [s.model_copy(update={"asks": []}) for s in plan.steps]})
    assert '"asks"' not in none.canonical_json() and '"asks"' in plan.canonical_json()


async def waiting_question(handle: WorkflowHandle) -> ApprovalRequest:
    for _ in range(400):
        progress = await handle.query(BmadRunWorkflow.progress)
        if progress.pending_approvals:
            return progress.pending_approvals[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no question was asked")


async def test_an_ask_waits_durably_across_a_worker_restart_and_the_answer_reaches_the_step(
    dev_server: str, settings: Settings, store: Store, tmp_path: Path
) -> None:
    client = await connect(dev_server)
    await ensure_search_attributes(client)
    settings = settings.model_copy(update={"temporal_address": dev_server})
    plan = save_plan(store, plan_of("create-story"))
    step = next(s for s in plan.steps if s.asks)
    run_id = uuid.uuid4().hex[:12]
    async with running_worker(client, settings, store):
        handle = await start_run(client, plan, settings, {}, task_queue=settings.task_queue, run_id=run_id)
        req = await waiting_question(handle)
        progress = await handle.query(BmadRunWorkflow.progress)
    # the worker is gone: the question stays, held by the server
    assert (req.kind, req.step, req.agent) == ("answer", step.id, step.agent)
    assert req.question == " / ".join(step.asks)
    assert next(s for s in progress.steps if s.key == step.id).status == "waiting"
    assert all(s.status == "pending" for s in progress.steps if s.key != step.id)
    env = subprocess_env(TEMPORAL_ADDRESS=dev_server, DATABASE_URL=settings.database_url)
    cli = [sys.executable, "-m", "botarmy.cli"]
    async with running_worker(client, settings, store):  # a new worker takes over, replaying the wait
        listed = await asyncio.to_thread(subprocess.run, [*cli, "approvals"], capture_output=True, text=True,
                                         env=env, cwd=tmp_path, timeout=120)
        assert f"{run_id}  {step.id}  answer: Choose option [1]" in listed.stdout, listed.stdout + listed.stderr
        with pytest.raises(WorkflowUpdateFailedError):  # the Update refuses what does not answer a question
            await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step=step.id, decision="yes"))
        empty = await asyncio.to_thread(subprocess.run, [*cli, "decide", run_id, step.id, "answer"],
                                        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert empty.returncode == 2 and "needs the answer's text in --comment" in empty.stderr
        answered = await asyncio.to_thread(
            subprocess.run, [*cli, "answer", run_id, step.id, "Story 2.3. Take it from the epics file.", "--by",
                             "ana"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
        assert answered.returncode == 0, answered.stderr
        assert answered.stdout.startswith(f"answer recorded for {step.id} by ana")
        result = await handle.result()
    assert result.status == "completed"
    run = store.get_run(run_id)
    assert run is not None and run.status == "completed"
    written = text(store, run, step.output or f"{step.id}.md")
    assert "Answer used: Story 2.3." in written  # the offline model repeats the answer its prompt carried
    stored = [d for d in run.decisions if d.get("kind") == "answer"]
    assert [(d["step"], d["comment"], d["by"], d["source"]) for d in stored] == [
        (step.id, "Story 2.3. Take it from the epics file.", "ana", "human")]


async def test_with_auto_approve_the_agent_takes_its_best_assumption_recorded_as_such(
    time_env, settings: Settings, store: Store
) -> None:
    plan = plan_of("correct-course")
    asking = [s for s in plan.steps if s.asks and not s.condition]
    run, failure = await run_plan(time_env, settings, store, plan, {})
    assert failure is None and run.status == "completed"
    assumed = [d for d in run.decisions if d.get("kind") == "answer"]
    assert [d["step"] for d in assumed] == [s.id for s in asking] and len(asking) == 3
    assert {(d["decision"], d["source"]) for d in assumed} == {("assume", "assumption")}
    assert all(d["by"] == f"agent {s.agent}" for d, s in zip(assumed, asking, strict=True))
    first = asking[0]
    assert "no person was asked, the best assumption is taken" in text(store, run, first.output or f"{first.id}.md")
