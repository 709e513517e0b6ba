"""A rerun's carried steps that ask (`<ask>`) ask nobody: their output was made with the parent's answers, which the
rerun records as carried (and gives the step, so its input is the parent's); a rerun from the asking step itself
asks again. A carried step a person amends again in the rerun keeps the rerun's amendment, not the parent's."""

from __future__ import annotations

import asyncio
from collections import deque

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from bmad.plan import AgentSpec, ApprovalSpec, Plan, PlanStep
from botarmy.rerun import prepare_rerun
from testkit.fakes.openai_server import FakeOpenAI
from tests.activities.test_reuse_questions import prompt_of, run, text, with_fake
from tests.workflows.test_approvals import wait_pending
from workflows.contracts import ApprovalDecision
from workflows.run import BmadRunWorkflow

QUESTION = "Which office is it for?"


def asking_plan(approval: bool = False) -> Plan:
    """A pm step that asks a person first (optionally approved), then an architect step that reads its document."""
    steps = [
        PlanStep(index=0, id="01-pm-prd", agent="pm", agents=["pm"], creates="prd.md", notes="Write the PRD.",
                 asks=[QUESTION], approval=ApprovalSpec() if approval else None),
        PlanStep(index=1, id="02-architect-arch", agent="architect", agents=["architect"], creates="arch.md",
                 requires=["prd.md"], notes="Write the architecture."),
    ]
    agents = {a: AgentSpec(id=a, system_message=f"You are the {a}.") for a in ("pm", "architect")}
    return Plan(workflow_id="asking-two", steps=steps, agents=agents).seal()


async def answer(handle: WorkflowHandle, text_: str, by: str) -> None:
    req = await wait_pending(handle, "01-pm-prd")
    assert (req.kind, req.question) == ("answer", QUESTION)
    await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
        step="01-pm-prd", decision="answer", comment=text_, by=by))


async def asks_nobody(handle: WorkflowHandle) -> None:
    """Until the run ends, nothing waits for a person (it would wait for ever: fail at once instead)."""
    while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        progress = await handle.query(BmadRunWorkflow.progress)
        assert progress.pending_approvals == [], progress.pending_approvals
        await asyncio.sleep(0.05)


def answers_of(decisions: list[dict]) -> list[tuple]:
    return [(d["step"], d["comment"], d["by"], d["source"], d.get("carried_from")) for d in decisions
            if d.get("kind") == "answer"]


async def test_a_carried_step_that_asks_takes_its_parents_answer_and_a_rerun_from_it_asks_again(
    time_env, settings, store
):
    plan = asking_plan()
    with FakeOpenAI(replies=deque(["# PRD\n\nFor Lyon.\n", "# Arch\n\nOne.\n"])).start() as fake:
        paid = with_fake(settings, fake)
        parent = await run(time_env, paid, store, plan, lambda h: answer(h, "Lyon.", "ana"))
        assert parent.status == "completed" and len(fake.calls) == 2
        assert "Lyon." in prompt_of(fake.calls[0])

        later = await asyncio.to_thread(prepare_rerun, store, parent.run_id, "02-architect-arch")
        assert later.carried == ["01-pm-prd"]
        fake.replies.extend(["# Arch\n\nTwo.\n"])
        child = await run(time_env, paid, store, later.plan, asks_nobody, later.lineage, files=later.files,
                          run_model=later.run_model)
        assert child.status == "completed" and len(fake.calls) == 3  # the architect only: the pm step is carried
        assert "## Input document: prd.md\n\n# PRD\n\nFor Lyon." in prompt_of(fake.calls[2])

        same = await asyncio.to_thread(prepare_rerun, store, parent.run_id, "01-pm-prd")
        assert same.carried == []
        fake.replies.extend(["# PRD\n\nFor Paris.\n", "# Arch\n\nThree.\n"])
        again = await run(time_env, paid, store, same.plan, lambda h: answer(h, "Paris.", "bo"), same.lineage,
                          files=same.files, run_model=same.run_model)
        calls = [prompt_of(c) for c in fake.calls[3:]]
    assert answers_of(parent.decisions) == [("01-pm-prd", "Lyon.", "ana", "human", None)]
    # the rerun's decisions say the answer is the parent's (its person, its text), carried from the parent
    assert answers_of(child.decisions) == [("01-pm-prd", "Lyon.", "ana", "carried", parent.run_id)]
    assert child.steps[0].reused_from == f"{parent.run_id}/01-pm-prd"
    assert text(store, child, "prd.md") == "# PRD\n\nFor Lyon.\n"
    assert again.status == "completed" and len(calls) == 2 and "Paris." in calls[0] and "Lyon." not in calls[0]
    assert answers_of(again.decisions) == [("01-pm-prd", "Paris.", "bo", "human", None)]


async def test_a_rerun_of_a_rerun_keeps_the_answer_of_the_run_where_it_was_given(time_env, settings, store):
    plan = asking_plan()
    with FakeOpenAI(replies=deque(["# PRD\n\nFor Lyon.\n", "# Arch\n\nOne.\n"])).start() as fake:
        paid = with_fake(settings, fake)
        parent = await run(time_env, paid, store, plan, lambda h: answer(h, "Lyon.", "ana"))
        fake.replies.extend(["# Arch\n\nTwo.\n", "# Arch\n\nThree.\n"])
        r = await asyncio.to_thread(prepare_rerun, store, parent.run_id, "02-architect-arch")
        child = await run(time_env, paid, store, r.plan, asks_nobody, r.lineage, run_model=r.run_model)
        rr = await asyncio.to_thread(prepare_rerun, store, child.run_id, "02-architect-arch")
        grandchild = await run(time_env, paid, store, rr.plan, asks_nobody, rr.lineage, run_model=rr.run_model)
        assert len(fake.calls) == 4
    assert grandchild.status == "completed"
    assert answers_of(grandchild.decisions) == [("01-pm-prd", "Lyon.", "ana", "carried", parent.run_id)]


async def test_a_carried_step_amended_again_in_the_rerun_keeps_the_reruns_amendment(time_env, settings, store):
    plan = asking_plan(approval=True)

    async def answer_then(handle: WorkflowHandle, content: str) -> None:
        if content == "# PRD\n\nBy ana.\n":  # the parent asks its question first
            await answer(handle, "Lyon.", "ana")
        req = await wait_pending(handle, "01-pm-prd")
        assert req.kind == "approval"
        await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
            step="01-pm-prd", decision="amend", content=content, by="ana"))

    with FakeOpenAI(replies=deque(["# PRD\n\nFor Lyon.\n", "# Arch\n\nOne.\n"])).start() as fake:
        paid = with_fake(settings, fake)
        parent = await run(time_env, paid, store, plan, lambda h: answer_then(h, "# PRD\n\nBy ana.\n"))
        assert parent.status == "completed" and text(store, parent, "prd.md") == "# PRD\n\nBy ana.\n"
        r = await asyncio.to_thread(prepare_rerun, store, parent.run_id, "02-architect-arch")
        fake.replies.extend(["# Arch\n\nTwo.\n"])
        # the carried step asks for approval again (README: reruns); the rerun's person amends it once more
        child = await run(time_env, paid, store, r.plan, lambda h: answer_then(h, "# PRD\n\nBy bo.\n"), r.lineage,
                          run_model=r.run_model, approve=r.approve)
        calls = [prompt_of(c) for c in fake.calls[2:]]
    assert child.status == "completed"
    assert text(store, child, "prd.md") == "# PRD\n\nBy bo.\n"
    assert len(calls) == 1 and "## Input document: prd.md\n\n# PRD\n\nBy bo." in calls[0]
    assert [a.version for a in child.artifacts if a.name == "prd.md"] == [1, 2, 3]
    assert text(store, parent, "prd.md") == "# PRD\n\nBy ana.\n"  # the parent's own is untouched


async def test_a_carried_step_whose_parent_assumed_its_answer_takes_the_assumption(time_env, settings, store):
    plan = asking_plan()
    with FakeOpenAI(replies=deque(["# PRD\n\nAssumed.\n", "# Arch\n\nOne.\n", "# Arch\n\nTwo.\n"])).start() as fake:
        paid = with_fake(settings, fake)
        parent = await run(time_env, paid, store, plan, asks_nobody, auto_approve=True)
        r = await asyncio.to_thread(prepare_rerun, store, parent.run_id, "02-architect-arch")
        # the rerun is not auto-approved: without the parent's assumption its pm step would ask a person
        child = await run(time_env, paid, store, r.plan, asks_nobody, r.lineage, run_model=r.run_model)
        assert len(fake.calls) == 3
    assert child.status == "completed"
    assumed = [(d["decision"], d["by"], d["source"], d["carried_from"]) for d in child.decisions
               if d.get("kind") == "answer"]
    assert assumed == [("assume", "agent pm", "carried", parent.run_id)]
