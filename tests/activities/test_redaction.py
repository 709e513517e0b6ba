"""A provider that quotes our API key in its error: the key is masked in every copy of the error we keep."""

from __future__ import annotations

import json
import uuid

import pytest
from structlog.testing import capture_logs
from temporalio.client import WorkflowFailureError

from botarmy.runview import run_object
from botarmy.temporal import start_run
from providers.redact import MASK
from testkit.fakes.openai_server import FakeOpenAI
from testkit.fakes.openai_server import Fault as OpenAIFault
from testkit.fakes.scripted import Fault
from tests.activities.conftest import with_providers
from tests.conftest import running_worker, save_plan
from tests.workflows.plans import single_step_plan


def _primary_then_fallback(openai_fake, gemini_fake, key_env: str) -> dict:
    return {
        "default": {"model": "openai:gpt-primary", "fallbacks": ["gemini:gemini-test"]},
        "providers": {"openai": {"base_url": openai_fake.base_url, "api_key_env": key_env},
                      "gemini": {"base_url": gemini_fake.base_url, "api_key_env": key_env}},
    }


async def test_a_key_quoted_in_a_provider_error_is_masked_in_rows_events_history_run_json_and_logs(
    time_env, settings, store, tmp_path, openai_fake, gemini_fake, monkeypatch, caplog
):
    # a key of no recognisable shape: masked because the providers file names its variable (shapes such as
    # sk-... are masked whatever the config: tests/providers/test_redact.py)
    key = f"teamkey{uuid.uuid4().hex}"
    key_env = f"BOTARMY_TEST_KEY_{uuid.uuid4().hex[:6].upper()}"
    monkeypatch.setenv(key_env, key)
    # a 500 quoting the key makes the step fall back (provider.fallback event), then a 401 quoting it fails the run
    openai_fake.script.append(Fault(500, f"upstream rejected credential {key}"))
    gemini_fake.script.append(Fault.quoting_key(401))
    settings = with_providers(settings, tmp_path, _primary_then_fallback(openai_fake, gemini_fake, key_env))
    plan = save_plan(store, single_step_plan())

    with capture_logs() as logs:
        async with running_worker(time_env.client, settings, store):
            handle = await start_run(time_env.client, plan, settings, {}, task_queue=settings.task_queue)
            with pytest.raises(WorkflowFailureError) as info:
                await handle.result()

    assert gemini_fake.calls[0]["headers"]["authorization"] == f"Bearer {key}"  # the fake did get (and quote) it
    run = store.get_run(handle.id.rsplit("-", 1)[1])
    step = run.steps[0]
    events = json.dumps([(e.type, e.data) for e in store.list_events(run.run_id)])
    history = (await handle.fetch_history()).to_json()
    copies = {
        "runs.error": run.error or "", "steps.error": step.error or "", "fallbacks": json.dumps(step.fallbacks),
        "events": events, "history": history, "run JSON": json.dumps(run_object(run)),
        "workflow failure": str(info.value.cause), "logs": repr(logs), "SDK logs": caplog.text,
    }
    assert {where: key in text for where, text in copies.items()} == dict.fromkeys(copies, False)
    assert "HTTP 401" in step.error and f"Incorrect API key provided: {MASK}" in step.error
    assert MASK in run.error and key_env in run.error  # still says which variable to check
    assert MASK in step.fallbacks[0]["error"] and "HTTP 500" in step.fallbacks[0]["error"]
    assert '"step.failed"' in events and '"run.failed"' in events and MASK in events


async def test_the_settings_key_quoted_in_a_401_is_masked_in_the_step_the_run_and_the_history(
    time_env, settings, store, monkeypatch
):
    # BOTARMY_MODEL and OPENAI_API_KEY (the settings), no providers file
    for name in ("OPENAI_API_KEY", "BOTARMY_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    key = f"plainkey{uuid.uuid4().hex}"
    fake = FakeOpenAI().start()
    try:
        fake.script.append(OpenAIFault(401, "Incorrect API key provided:", echo_key=True))
        settings = settings.model_copy(update={"model": "openai:gpt-test", "openai_base_url": fake.base_url,
                                               "openai_api_key": key})
        plan = save_plan(store, single_step_plan())
        async with running_worker(time_env.client, settings, store):
            handle = await start_run(time_env.client, plan, settings, {}, task_queue=settings.task_queue)
            with pytest.raises(WorkflowFailureError) as info:
                await handle.result()
    finally:
        fake.stop()
    assert fake.calls[0]["auth"] == f"Bearer {key}"
    run = store.get_run(handle.id.rsplit("-", 1)[1])
    history = (await handle.fetch_history()).to_json()
    events = json.dumps([e.data for e in store.list_events(run.run_id)])
    for text in (run.error, run.steps[0].error, history, events, str(info.value.cause)):
        assert text and key not in text
    assert f"Incorrect API key provided: {MASK}" in run.steps[0].error
