"""A person's answers to a step's questions (`<ask>`, a headless result's open questions) stay with the step: a
rejection that makes it run again still gives the model the answers, beside the person's feedback; a headless
revision that leaves questions open asks them (patch headless-questions-after-revision) before the approval."""

from __future__ import annotations

from collections import deque

from bmad.plan import ApprovalSpec, Plan
from botarmy.settings import Settings
from botarmy.temporal import start_run
from store import Store
from testkit.fakes.openai_server import FakeOpenAI
from tests.conftest import running_worker, save_plan
from tests.workflows.plans import single_step_plan
from tests.workflows.test_approvals import wait_pending
from workflows.contracts import ApprovalDecision
from workflows.run import BmadRunWorkflow

QUESTION = "Which office is the lunch ordering for?"
ANSWER = "The Lyon office, 40 people."
FEEDBACK = "Add a section on payment."
DOC = "# PRD\n\nLunch orders.\n"
PARTIAL = DOC + ('\n```json\n{"status": "partial", "assumptions": [], "open_questions": ["' + QUESTION
                 + '"]}\n```\n')
COMPLETE = DOC + '\n```json\n{"status": "complete", "assumptions": []}\n```\n'


def step_plan(**update: object) -> Plan:
    plan = single_step_plan()
    steps = [plan.steps[0].model_copy(update={"approval": ApprovalSpec(), **update})]
    return plan.model_copy(update={"steps": steps}).seal()


def prompt_of(call: dict) -> str:
    return "\n".join(str(m.get("content", "")) for m in call["body"]["messages"])


async def answer_then_reject(time_env, settings: Settings, store: Store, plan: Plan, replies: list[str]) -> list[str]:
    """Run `plan`'s one step: answer its question, reject its document with feedback, approve the revision; the
    prompts the model was given, in order."""
    with FakeOpenAI(replies=deque(replies)).start() as fake:
        settings = settings.model_copy(update={"model": "openai:gpt-test", "openai_base_url": fake.base_url,
                                               "openai_api_key": "sk-test"})
        async with running_worker(time_env.client, settings, store):
            handle = await start_run(time_env.client, save_plan(store, plan), settings, {},
                                     task_queue=settings.task_queue)
            req = await wait_pending(handle)
            assert (req.kind, req.question) == ("answer", QUESTION)
            await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
                step=req.step, decision="answer", comment=ANSWER, by="ana"))
            req = await wait_pending(handle)
            assert req.kind == "approval"
            await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
                step=req.step, decision="reject", comment=FEEDBACK, by="bob"))
            req = await wait_pending(handle)
            assert (req.kind, req.revision) == ("approval", 1)
            await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(step=req.step, decision="approve"))
            assert (await handle.result()).status == "completed"
        return [prompt_of(c) for c in fake.calls]


async def test_a_rejected_step_that_asked_runs_again_with_its_answer_and_the_feedback(
    time_env, settings: Settings, store: Store
) -> None:
    prompts = await answer_then_reject(time_env, settings, store, step_plan(asks=[QUESTION]), [DOC, DOC])
    assert len(prompts) == 2
    first, revision = prompts
    assert f"The instructions ask: {QUESTION}\nana answered: {ANSWER}" in first
    assert f"The instructions ask: {QUESTION}\nana answered: {ANSWER}" in revision
    assert FEEDBACK in revision and FEEDBACK not in first


async def test_a_rejected_headless_step_runs_again_with_the_answers_to_its_open_questions(
    time_env, settings: Settings, store: Store
) -> None:
    plan = step_plan(headless="# Headless Mode\n\nDo not ask; end with the JSON result.")
    prompts = await answer_then_reject(time_env, settings, store, plan, [PARTIAL, COMPLETE, COMPLETE])
    assert len(prompts) == 3
    first, answered, revision = prompts
    assert ANSWER not in first
    assert f"Your last result's open questions: {QUESTION}\nana answered: {ANSWER}" in answered
    assert f"Your last result's open questions: {QUESTION}\nana answered: {ANSWER}" in revision
    assert FEEDBACK in revision and FEEDBACK not in answered


async def test_a_revision_that_leaves_questions_open_asks_them_and_runs_again_with_every_answer_and_the_feedback(
    time_env, settings: Settings, store: Store
) -> None:
    again = "Which days are orders taken?"
    partial_again = PARTIAL.replace(QUESTION, again)
    plan = step_plan(headless="# Headless Mode\n\nDo not ask; end with the JSON result.")
    with FakeOpenAI(replies=deque([PARTIAL, COMPLETE, partial_again, COMPLETE])).start() as fake:
        settings = settings.model_copy(update={"model": "openai:gpt-test", "openai_base_url": fake.base_url,
                                               "openai_api_key": "sk-test"})
        async with running_worker(time_env.client, settings, store):
            handle = await start_run(time_env.client, save_plan(store, plan), settings, {},
                                     task_queue=settings.task_queue)
            for kind, decision, comment in (("answer", "answer", ANSWER), ("approval", "reject", FEEDBACK),
                                            ("answer", "answer", "Weekdays."), ("approval", "approve", "")):
                req = await wait_pending(handle)
                assert req.kind == kind
                await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
                    step=req.step, decision=decision, comment=comment, by="ana"))
            assert req.revision == 1
            assert (await handle.result()).status == "completed"
        prompts = [prompt_of(c) for c in fake.calls]
    assert len(prompts) == 4
    last = prompts[3]
    assert f"Your last result's open questions: {QUESTION}\nana answered: {ANSWER}" in last
    assert f"Your last result's open questions: {again}\nana answered: Weekdays." in last
    assert FEEDBACK in last
