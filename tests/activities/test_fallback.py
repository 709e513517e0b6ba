"""Fallback to the next model within one attempt, recorded on the step; bad credentials never fall back."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowFailureError

from botarmy.temporal import start_run
from providers.health import shared_health
from testkit.fakes.scripted import Fault
from tests.activities.conftest import events_of, run_plan, step_results, with_providers
from tests.conftest import running_worker, save_plan
from tests.workflows.plans import single_step_plan


def _primary_then_gemini(openai_fake, gemini_fake) -> dict:
    return {
        "default": {"model": "openai:gpt-primary", "fallbacks": ["gemini:gemini-test"]},
        "providers": {"openai": {"base_url": openai_fake.base_url, "api_key_env": "BOTARMY_TEST_NO_KEY"},
                      "gemini": {"base_url": gemini_fake.base_url, "api_key_env": "BOTARMY_TEST_NO_KEY"}},
    }


async def test_primary_500_moves_to_the_fallback_in_the_same_attempt_and_the_step_shows_the_switch(
    time_env, settings, store, tmp_path, openai_fake, gemini_fake
):
    openai_fake.script.extend([Fault(500, "primary is down")] * 8)
    settings = with_providers(settings, tmp_path, _primary_then_gemini(openai_fake, gemini_fake))
    handle, result = await run_plan(time_env, settings, store, single_step_plan())

    assert result.status == "completed"
    assert (len(openai_fake.calls), len(gemini_fake.calls)) == (1, 1)
    step = store.get_run(result.run_id).steps[0]
    assert (step.status, step.attempts, step.provider, step.model) == ("completed", 1, "gemini", "gemini-test")
    assert [(f["from"], f["to"], f["attempt"]) for f in step.fallbacks] == [
        ("openai:gpt-primary", "gemini:gemini-test", 1)]
    assert "HTTP 500" in step.fallbacks[0]["error"] and "primary is down" in step.fallbacks[0]["error"]
    [event] = events_of(store, result.run_id, "provider.fallback")
    assert (event["step"], event["from"], event["to"]) == ("01-pm-prd", "openai:gpt-primary", "gemini:gemini-test")
    [answered] = await step_results(time_env, handle)
    assert (answered.provider, answered.model) == ("gemini", "gemini-test")
    assert [(u.provider, u.model) for u in store.usage_for_run(result.run_id)] == [("gemini", "gemini-test")]


async def test_401_on_the_primary_fails_the_run_at_once_without_trying_the_fallback(
    time_env, settings, store, tmp_path, openai_fake, gemini_fake
):
    # bad credentials are a configuration error: another provider would only hide it, so it fails loudly
    openai_fake.script.append(Fault(401, "Incorrect API key provided"))
    settings = with_providers(settings, tmp_path, _primary_then_gemini(openai_fake, gemini_fake))
    plan = save_plan(store, single_step_plan())
    async with running_worker(time_env.client, settings, store):
        handle = await start_run(time_env.client, plan, settings, {}, task_queue=settings.task_queue)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert "HTTP 401" in str(info.value.cause) and "BOTARMY_TEST_NO_KEY" in str(info.value.cause)
    assert (len(openai_fake.calls), len(gemini_fake.calls)) == (1, 0)
    run = store.get_run(handle.id.rsplit("-", 1)[1])
    assert run.steps[0].status == "failed" and run.steps[0].attempts == 1
    assert run.steps[0].fallbacks == []
    assert events_of(store, run.run_id, "provider.fallback") == []


async def test_an_unhealthy_primary_is_skipped_recorded_and_reported_as_an_anomaly(
    time_env, settings, store, tmp_path, openai_fake, gemini_fake
):
    sick = shared_health()
    for _ in range(sick.min_calls):
        sick.record("openai", False, 0.1)
    settings = with_providers(settings, tmp_path, _primary_then_gemini(openai_fake, gemini_fake))
    _, result = await run_plan(time_env, settings, store, single_step_plan())

    assert result.status == "completed"
    assert (len(openai_fake.calls), len(gemini_fake.calls)) == (0, 1)
    [switch] = store.get_run(result.run_id).steps[0].fallbacks
    assert (switch["from"], switch["to"]) == ("openai:gpt-primary", "gemini:gemini-test")
    assert "unhealthy" in switch["error"]
    [anomaly] = events_of(store, result.run_id, "anomaly.detected")
    assert (anomaly["kind"], anomaly["provider"]) == ("provider_unhealthy", "openai")
    snapshot = (tmp_path / "provider-health.json").read_text()
    assert '"openai"' in snapshot and '"healthy": false' in snapshot
