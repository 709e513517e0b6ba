"""Skills' headless mode (BMAD 6.7+): a skill step with `references/headless.md` / `assets/headless-schemas.md` runs
headless and ends its answer with a JSON result; a `partial`/`blocked` result with open questions is a durable
question to a person (the step waits, is listed, is answered by CLI, runs again with the answer); with
--auto-approve the agent answers with its best assumption, recorded as such; assumptions are kept on the step."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections import deque
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle

from activities.headless import RESULT_SUFFIX, split_result
from bmad import compile_workflow, load_bmad
from bmad.plan import Plan
from botarmy.settings import Settings
from botarmy.temporal import connect, ensure_search_attributes, start_run
from store import RunView, Store
from testkit.fakes.openai_server import FakeOpenAI
from tests.conftest import running_worker, save_plan, subprocess_env, v6_install
from tests.upstream.test_pack_forms_runs import run_plan
from workflows.contracts import MAX_QUESTION_ROUNDS, ApprovalRequest, HeadlessReport
from workflows.run import BmadRunWorkflow

QUESTION = "Which platforms must the first release support?"
PARTIAL = ("# UX Design\n\n## Overview\n\nA first cut.\n\n```json\n"
           + json.dumps({"status": "partial", "intent": "create", "assumptions": ["desktop first"],
                         "open_questions": [QUESTION]}) + "\n```\n")
COMPLETE = ("# UX Design\n\n## Overview\n\nWeb and iOS, as answered.\n\n```json\n"
            + json.dumps({"status": "complete", "intent": "create", "assumptions": ["iOS 17 and later"],
                          "open_questions": []}) + "\n```\n")
BLOCKED = '# UX Design\n\n{"status": "blocked", "intent": "create", "reason": "no product brief was given"}\n'


def ux_plan() -> Plan:
    return compile_workflow(load_bmad(v6_install("6.12.0")), "bmad-ux")


def with_fake(settings: Settings, fake: FakeOpenAI) -> Settings:
    return settings.model_copy(update={"model": "openai:gpt-test", "openai_base_url": fake.base_url,
                                       "openai_api_key": "sk-test"})


def text(store: Store, run: RunView, name: str) -> str:
    """The latest version of a document of the run."""
    art = max((a for a in run.artifacts if a.name == name), key=lambda a: a.version)
    return store.read_artifact(art.id, art.sha256).decode()


def prompt_of(call: dict) -> str:
    return "\n".join(str(m.get("content", "")) for m in call["body"]["messages"])


def test_the_plan_runs_the_headless_skills_headless_and_plans_without_keep_their_hash() -> None:
    catalog = load_bmad(v6_install("6.12.0"))
    headless = sorted(w for w, p in catalog.plans.items() if any(s.headless for s in p.steps) and "track" not in w)
    assert headless == ["bmad-architecture", "bmad-brainstorming", "bmad-prd", "bmad-spec", "bmad-ux"]
    prd = compile_workflow(catalog, "bmad-prd")
    step = prd.steps[0]
    assert "# Headless Mode" in step.headless and "# Headless Mode JSON Schemas" in step.headless
    assert "You run headless" in step.notes and prd.outline().steps[0].headless
    spec = compile_workflow(catalog, "bmad-spec").steps[0]  # headless by default: only the schemas file
    assert spec.headless.startswith("# Headless JSON Response")
    assert not any(s.headless for s in compile_workflow(catalog, "bmad-product-brief").steps)
    plain = prd.model_copy(update={"steps": [s.model_copy(update={"headless": ""}) for s in prd.steps]})
    assert '"headless"' not in plain.canonical_json() and '"headless"' in prd.canonical_json()


@pytest.mark.parametrize(("answer", "status", "questions", "document"), [
    (PARTIAL, "partial", [QUESTION], "# UX Design\n\n## Overview\n\nA first cut.\n"),
    (BLOCKED, "blocked", ["no product brief was given"], "# UX Design\n"),
    ('# D\n\n```\n{"status": "Done?", "open_questions": "Who signs off?", "assumptions": [{"text": "EU only"}]}\n```',
     "partial", ["Who signs off?"], "# D\n"),
    ('# D\n\n```json\n{"status": "complete", "document": "# From the result\\n"}\n```\n', "complete", [],
     "# From the result\n"),
    ("# D\n\nNo result at all. {not json}\n", "missing", [], "# D\n\nNo result at all. {not json}\n"),
    ('# D\n\n```json\n{"status": "partial", "open_questions": [\n```\n', "missing", [], None),
])
def test_the_headless_result_is_read_tolerantly_from_the_answer(answer: str, status: str, questions: list[str],
                                                                document: str | None) -> None:
    report, doc = split_result(answer)
    assert report.status == status and report.asks == questions
    assert doc == (answer if document is None else document)


async def waiting(handle: WorkflowHandle) -> ApprovalRequest:
    for _ in range(600):
        progress = await handle.query(BmadRunWorkflow.progress)
        if progress.pending_approvals:
            return progress.pending_approvals[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no question was asked")


async def test_open_questions_wait_for_a_person_and_the_cli_answer_reaches_the_steps_next_run(
    dev_server: str, settings: Settings, store: Store, tmp_path: Path
) -> None:
    client = await connect(dev_server)
    await ensure_search_attributes(client)
    plan = save_plan(store, ux_plan())
    step = plan.steps[0]
    run_id = uuid.uuid4().hex[:12]
    with FakeOpenAI(replies=deque([PARTIAL, COMPLETE])).start() as fake:
        settings = with_fake(settings, fake).model_copy(update={"temporal_address": dev_server})
        async with running_worker(client, settings, store):
            handle = await start_run(client, plan, settings, {}, task_queue=settings.task_queue, run_id=run_id)
            req = await waiting(handle)
            progress = await handle.query(BmadRunWorkflow.progress)
            assert (req.kind, req.step, req.question) == ("answer", step.id, QUESTION)
            st = next(s for s in progress.steps if s.key == step.id)
            assert st.status == "waiting" and st.headless is not None
            assert (st.headless.status, st.headless.assumptions) == ("partial", ["desktop first"])
            env = subprocess_env(TEMPORAL_ADDRESS=dev_server, DATABASE_URL=settings.database_url)
            cli = [sys.executable, "-m", "botarmy.cli"]
            listed = await asyncio.to_thread(subprocess.run, [*cli, "approvals"], capture_output=True, text=True,
                                             env=env, cwd=tmp_path, timeout=120)
            assert f"{run_id}  {step.id}  answer: {QUESTION}" in listed.stdout, listed.stdout + listed.stderr
            answered = await asyncio.to_thread(
                subprocess.run, [*cli, "answer", run_id, step.id, "Web and iOS.", "--by", "ana"],
                capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
            assert answered.returncode == 0, answered.stderr
            result = await handle.result()
            final = await handle.query(BmadRunWorkflow.progress)
        calls = list(fake.calls)
    assert result.status == "completed"
    assert len(calls) == 2
    first, second = prompt_of(calls[0]), prompt_of(calls[1])
    assert "## Headless mode" in first and "```json" in first and "Web and iOS." not in first
    assert f"Your last result's open questions: {QUESTION}\nana answered: Web and iOS." in second
    run = store.get_run(run_id)
    assert run is not None and run.status == "completed"
    name = step.output
    assert name is not None
    assert text(store, run, name) == "# UX Design\n\n## Overview\n\nWeb and iOS, as answered.\n"
    assert [a.version for a in run.artifacts if a.name == name] == [1, 2]  # the first round's draft is kept
    stored = HeadlessReport.model_validate_json(text(store, run, name + RESULT_SUFFIX))
    assert (stored.status, stored.assumptions, stored.open_questions) == ("complete", ["iOS 17 and later"], [])
    st = next(s for s in final.steps if s.key == step.id)
    assert st.status == "completed" and st.headless == stored
    assert [(d["kind"], d["comment"], d["by"], d["source"]) for d in run.decisions if d.get("kind") == "answer"] \
        == [("answer", "Web and iOS.", "ana", "human")]


async def test_with_auto_approve_the_agent_assumes_the_answers_and_the_assumptions_are_recorded(
    time_env, settings: Settings, store: Store
) -> None:
    with FakeOpenAI(replies=deque([PARTIAL, COMPLETE])).start() as fake:
        run, failure = await run_plan(time_env, with_fake(settings, fake), store, ux_plan(), {})
        calls = list(fake.calls)
    assert failure is None and run.status == "completed"
    assert len(calls) == 2 and f"Nobody is asked: {QUESTION}" in prompt_of(calls[1])
    assumed = [d for d in run.decisions if d.get("kind") == "answer"]
    assert [(d["decision"], d["source"], d["by"]) for d in assumed] == [
        ("assume", "assumption", "agent bmad-agent-ux-designer")]
    step = ux_plan().steps[0]
    assert step.output is not None
    stored = HeadlessReport.model_validate_json(text(store, run, step.output + RESULT_SUFFIX))
    assert stored.status == "complete" and stored.assumptions == ["iOS 17 and later"]


async def test_a_step_still_blocked_after_three_rounds_fails_the_run_naming_the_step_and_its_reason(
    time_env, settings: Settings, store: Store
) -> None:
    with FakeOpenAI(reply=BLOCKED).start() as fake:
        run, failure = await run_plan(time_env, with_fake(settings, fake), store, ux_plan(), {})
        calls = len(fake.calls)
    assert isinstance(failure, WorkflowFailureError) and run.status == "failed"
    assert calls == MAX_QUESTION_ROUNDS + 1
    assert run.error is not None and "still blocked after 3 rounds of answers" in run.error
    assert "no product brief was given" in run.error


async def test_a_step_still_partial_after_three_rounds_goes_on_with_its_questions_left_on_the_step(
    time_env, settings: Settings, store: Store
) -> None:
    with FakeOpenAI(reply=PARTIAL).start() as fake:
        run, failure = await run_plan(time_env, with_fake(settings, fake), store, ux_plan(), {})
        calls = len(fake.calls)
    assert failure is None and run.status == "completed" and calls == MAX_QUESTION_ROUNDS + 1
    step = ux_plan().steps[0]
    assert step.output is not None
    stored = HeadlessReport.model_validate_json(text(store, run, step.output + RESULT_SUFFIX))
    assert stored.status == "partial" and stored.open_questions == [QUESTION]


async def test_offline_a_headless_step_completes_with_a_valid_result(time_env, settings: Settings,
                                                                       store: Store) -> None:
    plan = ux_plan()
    run, failure = await run_plan(time_env, settings, store, plan, {})
    assert failure is None and run.status == "completed"
    step = plan.steps[0]
    assert step.output is not None
    stored = HeadlessReport.model_validate_json(text(store, run, step.output + RESULT_SUFFIX))
    assert stored.status == "complete" and stored.assumptions
    assert "```json" not in text(store, run, step.output)
    assert not [d for d in run.decisions if d.get("kind") == "answer"]
