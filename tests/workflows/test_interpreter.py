"""The interpreter workflow on the time-skipping test server, with a real worker and real model clients."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from botarmy.settings import Settings
from botarmy.temporal import start_run
from providers.offline import OFFLINE_LABEL
from store import Store
from testkit.fakes.openai_server import FakeOpenAI, Fault
from tests.conftest import running_worker, save_plan
from tests.workflows.plans import pipeline_plan, single_step_plan
from workflows.run import BmadRunWorkflow


async def _run(env: WorkflowEnvironment, settings: Settings, store: Store, plan, inputs=None):
    save_plan(store, plan)
    async with running_worker(env.client, settings, store):
        handle = await start_run(env.client, plan, settings, inputs or {}, task_queue=settings.task_queue)
        result = await handle.result()
    return handle, result


async def test_pipeline_plan_completes_with_every_artifact_stored_once(time_env, settings, store):
    handle, result = await _run(time_env, settings, store, pipeline_plan(), {"for_each_epic": 1})
    assert result.status == "completed"
    run = store.get_run(result.run_id)
    assert run is not None and run.status == "completed"
    names = sorted(a.name for a in run.artifacts)
    assert names == ["architecture.md", "brief.md", "epic-1/implementation.md", "epic-1/story.md",
                     "po-validation.md", "prd.md"]
    ref = next(a for a in run.artifacts if a.name == "brief.md")
    brief = store.read_artifact(ref.id, ref.sha256).decode()
    assert brief.startswith(OFFLINE_LABEL)
    assert "## Executive Summary" in brief and "## Target Users" in brief  # shaped by the template
    statuses = {s.key: s.status for s in run.steps}
    assert statuses["04-pm-update"] == "skipped"
    assert statuses["02-pm-prd"] == "completed"
    assert statuses["workflow_end"] == "completed"
    assert all(s.attempts == 1 for s in run.steps if s.status == "completed" and s.agent)


async def test_condition_without_input_is_a_recorded_false_decision(time_env, settings, store):
    _, result = await _run(time_env, settings, store, pipeline_plan())
    assert [(d.condition, d.value, d.source) for d in result.decisions] == [
        ("architecture_suggests_prd_changes", False, "default")
    ]
    run = store.get_run(result.run_id)
    assert run.decisions[0]["source"] == "default"
    assert [a.version for a in run.artifacts if a.name == "prd.md"] == [1]


async def test_condition_true_runs_the_step_and_makes_a_new_version(time_env, settings, store):
    _, result = await _run(
        time_env, settings, store, pipeline_plan(), {"architecture_suggests_prd_changes": True}
    )
    run = store.get_run(result.run_id)
    prd = [(a.version, a.step) for a in run.artifacts if a.name == "prd.md"]
    assert prd == [(1, "02-pm-prd"), (2, "04-pm-update")]
    assert result.artifacts["prd.md"].version == 2


@pytest.mark.parametrize("count", [0, 3])
async def test_repeats_run_inline_in_order_each_step_summary_naming_its_iteration(time_env, settings, store, count):
    handle, result = await _run(time_env, settings, store, pipeline_plan(), {"for_each_epic": count})
    history = await handle.fetch_history()
    started = EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    assert not [e for e in history.events if e.event_type == started]
    scheduled = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    summaries = [pydantic_data_converter.payload_converter.from_payload(e.user_metadata.summary, str)
                 for e in scheduled if e.user_metadata.HasField("summary")]
    in_loop = [s for s in summaries if s.startswith(("sm ", "dev "))]
    assert in_loop == [line for n in range(1, count + 1)
                       for line in (f"sm → story.md (epic {n})", f"dev → implementation.md (epic {n})")]
    run = store.get_run(result.run_id)
    stories = sorted(a.name for a in run.artifacts if a.name.endswith("story.md"))
    assert stories == [f"epic-{n}/story.md" for n in range(1, count + 1)]


async def test_repeats_over_a_list_gives_each_item_to_its_iteration(time_env, settings, store):
    _, result = await _run(time_env, settings, store, pipeline_plan(), {"for_each_epic": ["login", "billing"]})
    run = store.get_run(result.run_id)
    story2 = next(a for a in run.artifacts if a.name == "epic-2/story.md")
    assert "epic-2/story.md" in store.read_artifact(story2.id, story2.sha256).decode()


async def test_model_failing_twice_then_succeeding_takes_three_attempts_1s_2s_apart(
    time_env, settings, store, fake_openai: FakeOpenAI
):
    fake_openai.script.extend([Fault(500), Fault(503)])
    settings = settings.model_copy(update={"model": "openai:gpt-test", "openai_base_url": fake_openai.base_url,
                                           "openai_api_key": "sk-test"})
    handle, result = await _run(time_env, settings, store, single_step_plan())
    assert result.status == "completed"
    assert len(fake_openai.calls) == 3
    events = (await handle.fetch_history()).events
    scheduled = next(e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                     and e.activity_task_scheduled_event_attributes.activity_type.name == "agent_step")
    started = next(e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
                   and e.activity_task_started_event_attributes.scheduled_event_id == scheduled.event_id)
    assert started.activity_task_started_event_attributes.attempt == 3
    waited = started.event_time.ToDatetime() - scheduled.event_time.ToDatetime()
    assert timedelta(seconds=3) <= waited < timedelta(seconds=4)  # 1 s then 2 s of backoff
    step = store.get_run(result.run_id).steps[0]
    assert (step.status, step.attempts) == ("completed", 3)


async def test_non_retryable_failure_ends_the_run_at_once_with_the_message(
    time_env, settings, store, fake_openai: FakeOpenAI
):
    fake_openai.script.append(Fault(401, "Incorrect API key provided"))
    settings = settings.model_copy(update={"model": "openai:gpt-test", "openai_base_url": fake_openai.base_url,
                                           "openai_api_key": "sk-bad"})
    plan = save_plan(store, single_step_plan())
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {}, task_queue=settings.task_queue)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    message = str(info.value.cause)
    assert "HTTP 401" in message and "OPENAI_API_KEY" in message and "gpt-test" in message
    assert len(fake_openai.calls) == 1
    run = store.get_run(handle.id.rsplit("-", 1)[1])
    assert run.status == "failed" and "HTTP 401" in run.error
    assert run.steps[0].status == "failed"


async def test_progress_query_reports_steps_and_artifacts(time_env, settings, store):
    plan = save_plan(store, pipeline_plan())
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {}, task_queue=settings.task_queue)
        await handle.result()
        progress = await handle.query(BmadRunWorkflow.progress)
    assert progress.status == "completed"
    assert {s.key for s in progress.steps} >= {"01-analyst-brief", "06-sm-story[1]"}
    assert progress.artifacts["epic-1/story.md"].version == 1
