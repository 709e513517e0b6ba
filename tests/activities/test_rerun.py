"""Reruns and the step cache on a fake provider that counts paid calls: carried steps cost nothing and share the
parent's documents, an edited document feeds the next step, a retry pays only for what was not done."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError

from bmad.plan import AgentSpec, Plan, PlanStep
from botarmy.launch import launch
from botarmy.rerun import Rerun, RerunRefused, prepare_rerun
from botarmy.settings import Settings
from store import ReusePlan, RunLineage, RunView, Store
from testkit.fakes.gemini_server import FakeOpenAICompatible
from testkit.fakes.scripted import Fault
from tests.activities.conftest import events_of, openai_at, with_providers
from tests.conftest import running_worker

NAMES = ["a.md", "b.md", "c.md", "d.md", "e.md"]


def chain_plan(notes: dict[int, str] | None = None) -> Plan:
    """Five agent steps, each reading the document the one before wrote."""
    steps = [
        PlanStep(index=i, id=f"0{i + 1}-agent{i + 1}", agent=f"agent{i + 1}", agents=[f"agent{i + 1}"],
                 creates=name, requires=[NAMES[i - 1]] if i else [], notes=(notes or {}).get(i, f"Write {name}."))
        for i, name in enumerate(NAMES)
    ]
    agents = {f"agent{i}": AgentSpec(id=f"agent{i}", system_message=f"You are agent {i}.") for i in range(1, 6)}
    return Plan(workflow_id="chain", steps=steps, agents=agents).seal()


def answers(fake: FakeOpenAICompatible, tag: str, n: int = 5) -> None:
    """The next `n` calls answer distinct documents (`# tag k`), so documents differ by step and by run."""
    fake.script.extend(Fault(reply=f"# {tag} {k}\n\nanswer {k} of {tag}\n") for k in range(1, n + 1))


async def start(env: Any, settings: Settings, store: Store, plan: Plan, lineage: RunLineage | None = None) -> RunView:
    async with running_worker(env.client, settings, store):
        launched = await launch(env.client, store, settings, plan, {}, task_queue=settings.task_queue,
                                lineage=lineage)
        with contextlib.suppress(WorkflowFailureError):  # the stored run says how it ended
            await launched.handle.result()
    view = store.get_run(launched.run_id)
    assert view is not None
    return view


async def rerun(env: Any, settings: Settings, store: Store, r: Rerun) -> RunView:
    async with running_worker(env.client, settings, store):
        launched = await launch(env.client, store, settings, r.plan, r.inputs, r.files, approve=r.approve,
                                team=r.team, task_queue=settings.task_queue, run_model=r.run_model,
                                lineage=r.lineage)
        await launched.handle.result()
    view = store.get_run(launched.run_id)
    assert view is not None
    return view


def latest(view: RunView) -> dict[str, Any]:
    return {a.name: a for a in view.artifacts}


def prompt_of(call: dict[str, Any]) -> str:
    return json.dumps(call["body"]["messages"])


@pytest.fixture
def paid(settings, tmp_path, openai_fake) -> Settings:
    return with_providers(settings, tmp_path, openai_at(openai_fake))


async def test_rerun_from_step_3_pays_steps_3_to_5_and_shares_earlier_documents(time_env, paid, store, openai_fake):
    answers(openai_fake, "parent")
    parent = await start(time_env, paid, store, chain_plan())
    assert parent.status == "completed" and len(openai_fake.calls) == 5

    answers(openai_fake, "rerun")
    edited = b"# b edited\n\nEDITED-B by a person\n"
    r = await _prepare(store, parent.run_id, "03-agent3", {"b.md": edited})
    child = await rerun(time_env, paid, store, r)

    assert child.status == "completed"
    assert len(openai_fake.calls) == 5 + 3  # steps 3, 4 and 5, nothing else
    assert len(store.usage_for_run(child.run_id)) == 3
    assert (child.parent_run_id, child.rerun_from) == (parent.run_id, "03-agent3")
    mine, theirs = latest(child), latest(parent)
    assert mine["a.md"].sha256 == theirs["a.md"].sha256 and mine["a.md"].version == theirs["a.md"].version == 1
    b_versions = [a for a in child.artifacts if a.name == "b.md"]
    assert [(a.version, a.sha256) for a in b_versions][0] == (1, theirs["b.md"].sha256)
    assert b_versions[-1].version == 2 and store.read_artifact(b_versions[-1].id, b_versions[-1].sha256) == edited
    assert "EDITED-B by a person" in prompt_of(openai_fake.calls[5])  # step 3 read the edited document
    assert "answer 2 of parent" not in prompt_of(openai_fake.calls[5])
    reused = {s.key: s.reused_from for s in child.steps}
    assert reused["01-agent1"] == f"{parent.run_id}/01-agent1" and reused["03-agent3"] is None
    assert mine["c.md"].sha256 != theirs["c.md"].sha256
    completed = events_of(store, child.run_id, "step.completed")
    assert [e.get("reused") for e in completed] == ["carried", "carried", None, None, None]


async def test_retry_after_a_failed_step_pays_only_for_the_steps_not_done(time_env, paid, store, openai_fake):
    openai_fake.script.extend([Fault(reply="# one\n\nfirst\n"), Fault(reply="# two\n\nsecond\n"),
                               Fault(401, "Incorrect API key provided")])
    parent = await start(time_env, paid, store, chain_plan())
    assert parent.status == "failed" and len(openai_fake.calls) == 3
    assert len(store.usage_for_run(parent.run_id)) == 2

    r = await _prepare(store, parent.run_id)  # the key is fixed: the fake answers from now on
    assert r.from_step == "03-agent3" and r.carried == ["01-agent1", "02-agent2"]
    child = await rerun(time_env, paid, store, r)
    assert child.status == "completed"
    assert len(openai_fake.calls) == 3 + 3
    assert len(store.usage_for_run(child.run_id)) == 3
    assert "second" in prompt_of(openai_fake.calls[3])  # step 3 read the parent's b.md


async def test_a_completed_run_needs_a_step_and_a_changed_earlier_step_is_refused(time_env, paid, store,
                                                                                  openai_fake):
    parent = await start(time_env, paid, store, chain_plan())
    with pytest.raises(RerunRefused, match="completed; give --from STEP"):
        await _prepare(store, parent.run_id)
    with pytest.raises(RerunRefused, match="no such step"):
        await _prepare(store, parent.run_id, "09-nope")

    changed_second = chain_plan({1: "Write b.md differently."})
    with pytest.raises(RerunRefused, match=r"step 02-agent2 changed since run .* or add --force"):
        await _prepare(store, parent.run_id, "3", current=changed_second)
    forced = await _prepare(store, parent.run_id, "3", current=changed_second, force=True)
    assert forced.changed == ["02-agent2"] and forced.plan.definition_hash != parent.definition_hash

    changed_fourth = chain_plan({3: "Write d.md differently."})
    later = await _prepare(store, parent.run_id, "03-agent3", current=changed_fourth)
    assert later.changed == ["04-agent4"]
    before = len(openai_fake.calls)
    child = await rerun(time_env, paid, store, later)
    assert child.status == "completed" and len(openai_fake.calls) == before + 3
    assert child.definition_hash == changed_fourth.definition_hash


async def test_step_cache_reuses_an_identical_step_and_not_a_changed_one(time_env, paid, store, openai_fake):
    answers(openai_fake, "first")
    first = await start(time_env, paid, store, chain_plan())
    assert len(openai_fake.calls) == 5

    again = await start(time_env, paid, store, chain_plan(), RunLineage(reuse=ReusePlan(cache=True)))
    assert again.status == "completed" and len(openai_fake.calls) == 5  # nothing paid
    assert [a.sha256 for a in again.artifacts] == [a.sha256 for a in first.artifacts]
    assert all(s.reused_from == f"{first.run_id}/{s.key}" for s in again.steps)
    assert store.usage_for_run(again.run_id) == []

    answers(openai_fake, "third")
    third = await start(time_env, paid, store, chain_plan({2: "Write c.md, shorter."}),
                        RunLineage(reuse=ReusePlan(cache=True)))
    assert third.status == "completed" and len(openai_fake.calls) == 5 + 3  # step 3 changed, and what read it
    assert [s.reused_from is not None for s in third.steps] == [True, True, False, False, False]

    plain = await start(time_env, paid, store, chain_plan())  # without --reuse every step pays
    assert plain.status == "completed" and len(openai_fake.calls) == 8 + 5


async def _prepare(store: Store, run_id: str, from_step: str | None = None, files: dict[str, bytes] | None = None,
                   current: Plan | None = None, force: bool = False) -> Rerun:
    import asyncio

    return await asyncio.to_thread(prepare_rerun, store, run_id, from_step, files, None, current, force)
