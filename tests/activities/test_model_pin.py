"""A run carries its model: pinned where it is started, honoured by whichever worker runs its steps."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import WorkflowFailureError

from botarmy.runview import run_object
from botarmy.settings import Settings
from botarmy.temporal import start_run
from providers.pin import RunModel, resolve_run_model
from providers.types import ModelConfigError
from store import Store
from testkit.fakes.openai_server import FakeOpenAI
from tests.conftest import running_worker, save_plan
from tests.workflows.plans import single_step_plan
from workflows.contracts import RunInput, RunResult
from workflows.run import BmadRunWorkflow


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # the keys these tests mean are given in Settings; one leaking in from the shell would hide a missing key
    for name in ("OPENAI_API_KEY", "BOTARMY_OPENAI_API_KEY", "OPENAI_BASE_URL", "BOTARMY_OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def starter(settings: Settings, fake: FakeOpenAI, key: str | None = "sk-starter") -> Settings:
    """Where the user starts the run: BOTARMY_MODEL=openai:gpt-pinned against the fake."""
    return settings.model_copy(update={"model": "openai:gpt-pinned", "openai_base_url": fake.base_url,
                                       "openai_api_key": key})


def offline_worker(settings: Settings, key: str | None) -> Settings:
    """A worker started by `make demo`: its own settings say offline."""
    return settings.model_copy(update={"model": "offline", "openai_base_url": None, "openai_api_key": key})


async def test_a_run_started_with_openai_runs_on_openai_on_a_worker_whose_own_settings_say_offline(
    time_env, settings, store, fake_openai
):
    plan = save_plan(store, single_step_plan())
    async with running_worker(time_env.client, offline_worker(settings, key="sk-worker"), store):
        handle = await start_run(time_env.client, plan, starter(settings, fake_openai), {},
                                 task_queue=settings.task_queue)
        result = await handle.result()

    assert result.status == "completed"
    [call] = fake_openai.calls
    assert call["body"]["model"] == "gpt-pinned"
    assert call["auth"] == "Bearer sk-worker"  # the worker's key: the pin never carries one
    view = store.get_run(result.run_id)
    obj = run_object(view)
    assert obj["model"] == "openai:gpt-pinned"
    assert [(s["provider"], s["model"]) for s in obj["steps"]] == [("openai", "gpt-pinned")]
    [usage] = store.usage_for_run(result.run_id)
    assert (usage.provider, usage.model) == ("openai", "gpt-pinned")


async def test_the_pin_names_the_key_variable_and_never_stores_a_key(settings, store, fake_openai):
    pin, warnings = resolve_run_model(starter(settings, fake_openai, key="sk-secret-value"), environ={})
    assert warnings == []
    assert pin.keys == {"openai": "OPENAI_API_KEY"}
    assert pin.providers_config().provider("openai").base_url == fake_openai.base_url
    assert "sk-secret-value" not in pin.body()
    store.pin_model("r1", pin.sha256, pin.spec, pin.body())
    assert RunModel.load(pin.sha256, store.load_run_model(pin.sha256)) == pin


async def test_a_pinned_run_on_a_worker_without_the_key_fails_the_step_naming_provider_variable_and_worker(
    time_env, settings, store, fake_openai
):
    plan = save_plan(store, single_step_plan())
    async with running_worker(time_env.client, offline_worker(settings, key=None), store) as worker:
        handle = await start_run(time_env.client, plan, starter(settings, fake_openai), {},
                                 task_queue=settings.task_queue)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
        identity = worker.config()["identity"] or time_env.client.identity

    message = str(info.value.cause)
    assert "openai" in message and "OPENAI_API_KEY" in message and identity in message
    assert fake_openai.calls == []  # never a silent fallback to offline, nor a call without the key
    run = store.get_run(handle.id.rsplit("-", 1)[1])
    step = run.steps[0]
    assert (step.status, step.attempts, step.provider) == ("failed", 1, None)  # non-retryable: one attempt
    assert "OPENAI_API_KEY" in step.error
    assert run_object(run)["model"] == "openai:gpt-pinned"


async def test_a_run_started_offline_stays_offline_on_a_worker_configured_for_openai(
    time_env, settings, store, fake_openai
):
    plan = save_plan(store, single_step_plan())
    async with running_worker(time_env.client, starter(settings, fake_openai), store):
        handle = await start_run(time_env.client, plan, offline_worker(settings, key=None), {},
                                 task_queue=settings.task_queue)
        result = await handle.result()
    assert result.status == "completed" and fake_openai.calls == []
    view = store.get_run(result.run_id)
    assert view.model == "offline" and view.steps[0].provider == "offline"


async def test_a_run_started_before_pins_runs_on_the_workers_own_model(time_env, settings, store, fake_openai):
    plan = save_plan(store, single_step_plan())
    run_id = uuid.uuid4().hex[:10]
    old_style = RunInput(run_id=run_id, outline=plan.outline())  # what a start before this change sent
    assert old_style.model_ref is None
    async with running_worker(time_env.client, starter(settings, fake_openai), store):
        handle = await time_env.client.start_workflow(
            BmadRunWorkflow.run, old_style, id=f"bmad-{plan.workflow_id}-{run_id}", task_queue=settings.task_queue,
            result_type=RunResult,
        )
        result = await handle.result()
    assert result.status == "completed"
    assert [c["body"]["model"] for c in fake_openai.calls] == ["gpt-pinned"]
    view = store.get_run(run_id)
    assert (view.model, view.model_sha256) == (None, None)
    assert (view.steps[0].provider, view.steps[0].model) == ("openai", "gpt-pinned")


async def test_a_model_setting_that_cannot_be_parsed_is_refused_at_start_before_anything_is_written(
    time_env, settings, store: Store
):
    plan = save_plan(store, single_step_plan())
    with pytest.raises(ModelConfigError) as info:
        await start_run(time_env.client, plan, settings.model_copy(update={"model": "nonsense"}), {},
                        task_queue=settings.task_queue, run_id="refused")
    assert str(info.value).startswith("BOTARMY_MODEL: model 'nonsense' is not understood")
    assert "\n" not in str(info.value)
    assert store.get_run("refused") is None


def test_a_missing_key_where_the_run_is_started_is_only_a_warning(settings):
    pin, warnings = resolve_run_model(settings.model_copy(update={"model": "anthropic:claude-x"}), environ={})
    assert pin.keys == {"anthropic": "ANTHROPIC_API_KEY"}
    assert warnings == ["anthropic needs ANTHROPIC_API_KEY, which is not set here; the workers that run this "
                        "run's steps must have it"]


async def test_the_providers_file_content_is_pinned_so_the_run_does_not_need_the_file_on_the_worker(
    time_env, settings, store, fake_openai, tmp_path, monkeypatch
):
    monkeypatch.setenv("BOTARMY_TEST_PIN_KEY", "sk-named")
    path = tmp_path / "providers.yaml"
    openai = f"{{base_url: '{fake_openai.base_url}', api_key_env: BOTARMY_TEST_PIN_KEY}}"
    path.write_text("default: {model: 'openai:gpt-default'}\n"
                    "agents: {pm: {model: 'openai:gpt-for-pm', max_tokens: 77}}\n"
                    f"providers: {{openai: {openai}}}\n")
    plan = save_plan(store, single_step_plan())
    handle = await start_run(time_env.client, plan, settings.model_copy(update={"providers_file": path}), {},
                             task_queue=settings.task_queue)
    path.unlink()  # what the worker runs was read where the run started, not from the file
    async with running_worker(time_env.client, offline_worker(settings, key=None), store):
        result = await handle.result()
    assert result.status == "completed"
    [call] = fake_openai.calls
    assert (call["body"]["model"], call["body"]["max_tokens"], call["auth"]) == ("gpt-for-pm", 77, "Bearer sk-named")
    view = store.get_run(result.run_id)
    assert view.model == "openai:gpt-default"
    assert (view.steps[0].provider, view.steps[0].model) == ("openai", "gpt-for-pm")
    pin = RunModel.load(view.model_sha256, store.load_run_model(view.model_sha256))
    assert (pin.source, pin.keys) == (str(path), {"openai": "BOTARMY_TEST_PIN_KEY"})
    assert "sk-named" not in pin.body()
