"""Agent-step tests: a real worker on the time-skipping server, real SDK clients against fake provider servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from bmad.plan import Plan
from botarmy.settings import Settings
from botarmy.temporal import start_run
from providers import health, limits
from store import Store
from testkit.fakes.gemini_server import FakeGemini, FakeOpenAICompatible
from tests.conftest import running_worker, save_plan
from workflows.contracts import AgentStepResult, RunResult

DOC = "# Document\n\n## Section\n\nFake provider answer.\n"


@pytest.fixture(autouse=True)
def fresh_provider_state() -> Iterator[None]:
    """Provider health and limits are per worker process; each test starts with none recorded."""
    health.reset_shared()
    limits.reset_shared()
    yield
    health.reset_shared()
    limits.reset_shared()


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAICompatible]:
    with FakeOpenAICompatible(reply=DOC) as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def gemini_fake() -> Iterator[FakeGemini]:
    with FakeGemini(reply=DOC) as fake:
        yield fake  # type: ignore[misc]


def with_providers(settings: Settings, tmp_path: Path, config: dict[str, Any]) -> Settings:
    """Settings whose providers file is `config`; health snapshots go to tmp_path, never the working directory."""
    path = tmp_path / "providers.yaml"
    with path.open("w") as f:
        YAML(typ="safe").dump(config, f)
    return settings.model_copy(update={
        "providers_file": path, "provider_health_file": tmp_path / "provider-health.json",
        "provider_health_write_s": 0.0,
    })


def openai_at(fake: FakeOpenAICompatible, model: str = "gpt-test", **extra: Any) -> dict[str, Any]:
    return {"default": {"model": f"openai:{model}", **extra},
            "providers": {"openai": {"base_url": fake.base_url, "api_key_env": "BOTARMY_TEST_NO_KEY"}}}


async def run_plan(
    env: WorkflowEnvironment, settings: Settings, store: Store, plan: Plan, inputs: dict[str, Any] | None = None
) -> tuple[WorkflowHandle[Any, RunResult], RunResult]:
    save_plan(store, plan)
    async with running_worker(env.client, settings, store):
        handle = await start_run(env.client, plan, settings, inputs or {}, task_queue=settings.task_queue)
        result = await handle.result()
    return handle, result


async def step_results(env: WorkflowEnvironment, handle: WorkflowHandle[Any, RunResult]) -> list[AgentStepResult]:
    """What each agent_step activity returned, from the workflow's history."""
    results, steps = [], set()
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_type.name == "agent_step":
                steps.add(event.event_id)
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            if done.scheduled_event_id in steps:
                results.append((await env.client.data_converter.decode(list(done.result.payloads),
                                                                       [AgentStepResult]))[0])
    return results


def events_of(store: Store, run_id: str, type_: str) -> list[dict[str, Any]]:
    return [e.data for e in store.list_events(run_id) if e.type == type_]
