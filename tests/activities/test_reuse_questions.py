"""A headless step's open questions in reused results: a `partial` result taken from the step cache or carried over
by a rerun asks its questions again in the new run, and the step then runs again with this run's answers (from the
cache when an earlier run's call had the very same answers, else a model call). A carried step's own revision is a
model call too, never the parent's revision recorded under the same key."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import WorkflowFailureError, WorkflowHandle

from activities.headless import RESULT_SUFFIX
from bmad.plan import AgentSpec, ApprovalSpec, Plan, PlanStep
from botarmy.launch import launch
from botarmy.rerun import prepare_rerun
from botarmy.settings import Settings
from store import ReusePlan, RunLineage, RunView, Store
from testkit.fakes.openai_server import FakeOpenAI
from tests.conftest import running_worker
from tests.workflows.test_approvals import wait_pending
from workflows.contracts import ApprovalDecision, HeadlessReport
from workflows.run import BmadRunWorkflow

FIRST, SECOND = "Which office is it for?", "Which days are orders taken?"


def result(doc: str, status: str, questions: list[str]) -> str:
    return (f"# PRD\n\n{doc}\n\n```json\n{{\"status\": \"{status}\", \"assumptions\": [], \"open_questions\": "
            f"{questions!r}}}\n```\n".replace("'", '"'))


PARTIAL, PARTIAL_AGAIN = result("A first cut.", "partial", [FIRST]), result("For Lyon.", "partial", [SECOND])
COMPLETE = result("For Lyon, weekdays.", "complete", [])


def two_step_plan() -> Plan:
    """A headless pm step, then an architect step that reads its document."""
    steps = [
        PlanStep(index=0, id="01-pm-prd", agent="pm", agents=["pm"], creates="prd.md", notes="Write the PRD.",
                 headless="# Headless Mode\n\nDo not ask; end with the JSON result."),
        PlanStep(index=1, id="02-architect-arch", agent="architect", agents=["architect"], creates="arch.md",
                 requires=["prd.md"], notes="Write the architecture."),
    ]
    agents = {a: AgentSpec(id=a, system_message=f"You are the {a}.") for a in ("pm", "architect")}
    return Plan(workflow_id="headless-two", steps=steps, agents=agents).seal()


def prompt_of(call: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in call["body"]["messages"])


def with_fake(settings: Settings, fake: FakeOpenAI) -> Settings:
    return settings.model_copy(update={"model": "openai:gpt-test", "openai_base_url": fake.base_url,
                                       "openai_api_key": "sk-test"})


async def answer(handle: WorkflowHandle, question: str, text: str, by: str = "ana") -> None:
    req = await wait_pending(handle, "01-pm-prd")
    assert (req.kind, req.question) == ("answer", question)
    await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
        step="01-pm-prd", decision="answer", comment=text, by=by))


async def run(env: Any, settings: Settings, store: Store, plan: Plan,
              interact: Callable[[WorkflowHandle], Awaitable[None]], lineage: RunLineage | None = None,
              **kw: Any) -> RunView:
    async with running_worker(env.client, settings, store):
        launched = await launch(env.client, store, settings, plan, kw.pop("inputs", {}), kw.pop("files", None),
                                task_queue=settings.task_queue, lineage=lineage, **kw)
        await interact(launched.handle)
        with contextlib.suppress(WorkflowFailureError):  # the stored run says how it ended
            await launched.handle.result()
    view = store.get_run(launched.run_id)
    assert view is not None
    return view


def text(store: Store, view: RunView, name: str) -> str:
    art = max((a for a in view.artifacts if a.name == name), key=lambda a: a.version)
    return store.read_artifact(art.id, art.sha256).decode()


async def test_a_cached_partial_result_asks_again_and_the_same_answer_is_cached_too(time_env, settings, store):
    plan = two_step_plan()
    with FakeOpenAI(replies=deque([PARTIAL, COMPLETE])).start() as fake:
        paid = with_fake(settings, fake)
        first = await run(time_env, paid, store, plan, lambda h: answer(h, FIRST, "Lyon, weekdays."))
        assert first.status == "completed" and len(fake.calls) == 3

        cache = RunLineage(reuse=ReusePlan(cache=True))
        same = await run(time_env, paid, store, plan, lambda h: answer(h, FIRST, "Lyon, weekdays."), cache)
        assert same.status == "completed" and len(fake.calls) == 3  # asked again; both calls came from the cache
        assert [s.reused_from for s in same.steps] == [f"{first.run_id}/01-pm-prd", f"{first.run_id}/02-architect-arch"]
        assert text(store, same, "prd.md") == text(store, first, "prd.md")

        fake.replies.extend([COMPLETE])
        other = await run(time_env, paid, store, plan, lambda h: answer(h, FIRST, "Paris only.", "bo"), cache)
        calls = [prompt_of(c) for c in fake.calls[3:]]
    assert other.status == "completed"
    assert len(calls) == 1 and f"Your last result's open questions: {FIRST}\nbo answered: Paris only." in calls[0]
    asked = [(d["run"], d["comment"]) for v in (first, same, other) for d in
             ({**d, "run": v.run_id} for d in v.decisions) if d.get("kind") == "answer"]
    assert asked == [(first.run_id, "Lyon, weekdays."), (same.run_id, "Lyon, weekdays."), (other.run_id, "Paris only.")]


async def test_a_carried_partial_result_asks_its_last_questions_again_and_runs_with_this_runs_answer(
    time_env, settings, store
):
    plan = two_step_plan()

    async def answer_once_then_cancel(handle: WorkflowHandle) -> None:
        await answer(handle, FIRST, "Lyon.")
        await wait_pending(handle, "01-pm-prd")  # the second round's question
        await handle.cancel()

    with FakeOpenAI(replies=deque([PARTIAL, PARTIAL_AGAIN])).start() as fake:
        paid = with_fake(settings, fake)
        parent = await run(time_env, paid, store, plan, answer_once_then_cancel)
        assert parent.status == "cancelled" and len(fake.calls) == 2
        r = await asyncio.to_thread(prepare_rerun, store, parent.run_id)
        assert r.carried == ["01-pm-prd"] and r.from_step == "02-architect-arch"
        fake.replies.extend([COMPLETE])
        child = await run(time_env, paid, store, r.plan, lambda h: answer(h, SECOND, "Weekdays."), r.lineage,
                          files=r.files, run_model=r.run_model)
        calls = [prompt_of(c) for c in fake.calls[2:]]
    assert child.status == "completed"
    # the pm step's next round is a model call (not the parent's round 1, recorded here under the same key)
    assert len(calls) == 2 and f"Your last result's open questions: {SECOND}\nana answered: Weekdays." in calls[0]
    assert "## Input document: prd.md\n\n# PRD\n\nFor Lyon, weekdays." in calls[1]
    report = HeadlessReport.model_validate_json(text(store, child, "prd.md" + RESULT_SUFFIX))
    assert report.status == "complete"
    assert [a.version for a in child.artifacts if a.name == "prd.md"] == [1, 2, 3]


async def test_a_carried_step_rejected_in_the_rerun_is_revised_by_a_model_call_not_by_the_parents_revision(
    time_env, settings, store
):
    plain = two_step_plan()
    first = plain.steps[0].model_copy(update={"headless": "", "approval": ApprovalSpec()})
    plan = plain.model_copy(update={"steps": [first, plain.steps[1]]}).seal()

    async def decide(handle: WorkflowHandle, *decisions: tuple[str, str]) -> None:
        for decision, comment in decisions:
            await wait_pending(handle, "01-pm-prd")
            await handle.execute_update(BmadRunWorkflow.decide, ApprovalDecision(
                step="01-pm-prd", decision=decision, comment=comment, by="ana"))

    with FakeOpenAI(replies=deque(["# PRD\n\nOne.\n", "# PRD\n\nTwo.\n", "# Arch\n"])).start() as fake:
        paid = with_fake(settings, fake)
        parent = await run(time_env, paid, store, plan, lambda h: decide(h, ("reject", "Shorter."), ("approve", "")))
        assert parent.status == "completed" and len(fake.calls) == 3
        r = await asyncio.to_thread(prepare_rerun, store, parent.run_id, "02-architect-arch")
        assert r.carried == ["01-pm-prd"]
        fake.replies.extend(["# PRD\n\nThree.\n", "# Arch\n"])
        child = await run(time_env, paid, store, r.plan,
                          lambda h: decide(h, ("reject", "Name the office."), ("approve", "")), r.lineage,
                          files=r.files, run_model=r.run_model, approve=r.approve)
        calls = [prompt_of(c) for c in fake.calls[3:]]
    assert child.status == "completed"
    assert len(calls) == 2 and "Name the office." in calls[0] and "Shorter." not in calls[0]
    assert text(store, child, "prd.md") == "# PRD\n\nThree.\n"
