"""An answer that is cut off, empty or lacks the template's sections: one re-ask in the same conversation, then a
retryable failure that Temporal retries."""

from __future__ import annotations

from testkit.fakes.scripted import Fault
from tests.activities.conftest import events_of, openai_at, run_plan, with_providers
from tests.workflows.plans import pipeline_plan, single_step_plan


async def test_truncated_answer_is_re_asked_once_in_the_same_conversation_then_stored(
    time_env, settings, store, tmp_path, openai_fake
):
    openai_fake.script.append(Fault.cut_off())
    settings = with_providers(settings, tmp_path, openai_at(openai_fake))
    _, result = await run_plan(time_env, settings, store, single_step_plan())

    assert result.status == "completed"
    assert len(openai_fake.calls) == 2
    second = openai_fake.calls[1]["body"]["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]  # its own answer, then the problem
    assert "cut off" in second[-1]["content"]
    step = store.get_run(result.run_id).steps[0]
    assert (step.status, step.attempts) == ("completed", 1)
    assert len(store.usage_for_run(result.run_id)) == 2  # both calls were billed


async def test_answer_missing_template_sections_is_re_asked_with_their_names(
    time_env, settings, store, tmp_path, openai_fake
):
    brief = "# Project Brief\n\n## Executive Summary\n\nS.\n\n## Target Users\n\nU.\n"
    openai_fake.script.append(Fault(reply="# Project Brief\n\n## Executive Summary\n\nOnly this.\n"))
    openai_fake.reply = brief
    settings = with_providers(settings, tmp_path, openai_at(openai_fake))
    _, result = await run_plan(time_env, settings, store, pipeline_plan(), {"for_each_epic": 0})

    assert result.status == "completed"
    reask = openai_fake.calls[1]["body"]["messages"][-1]["content"]
    assert "Target Users" in reask and "Executive Summary" not in reask
    run = store.get_run(result.run_id)
    ref = next(a for a in run.artifacts if a.name == "brief.md")
    stored = store.read_artifact(ref.id, ref.sha256).decode()
    assert stored == brief


async def test_empty_answer_twice_is_a_retryable_failure_counted_in_attempts(
    time_env, settings, store, tmp_path, openai_fake
):
    openai_fake.script.extend([Fault.empty(), Fault.empty()])
    settings = with_providers(settings, tmp_path, openai_at(openai_fake))
    _, result = await run_plan(time_env, settings, store, single_step_plan())

    assert result.status == "completed"
    assert len(openai_fake.calls) == 3  # empty, re-ask empty → attempt 2 answers
    step = store.get_run(result.run_id).steps[0]
    assert (step.status, step.attempts) == ("completed", 2)
    [retrying] = events_of(store, result.run_id, "step.retrying")
    assert retrying["attempt"] == 1 and "empty" in retrying["error"]
    ref = store.get_run(result.run_id).artifacts[0]
    stored = store.read_artifact(ref.id, ref.sha256).decode()
    assert stored.strip() == "# Document\n\n## Section\n\nFake provider answer."
    keys = [u.call_key.rsplit(":", 2)[-2:] for u in store.usage_for_run(result.run_id)]
    assert keys == [["a1", "1"], ["a1", "2"], ["a2", "1"]]  # the failed attempt's calls cost money too
