"""Run inputs travel by reference: stored once by hash, so history does not grow with them per step."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from botarmy.settings import Settings
from botarmy.temporal import connect, ensure_search_attributes, start_run
from store import Store
from tests.conftest import running_worker, save_plan
from tests.workflows.plans import three_step_plan

KB, MB = 1024, 1024 * 1024


@pytest_asyncio.fixture
async def dev_client(dev_server: str) -> AsyncIterator[Client]:
    client = await connect(dev_server)
    await ensure_search_attributes(client)
    yield client


async def _history_bytes(handle: WorkflowHandle) -> int:
    history = await handle.fetch_history()
    return sum(e.ByteSize() for e in history.events)


async def _run(client: Client, settings: Settings, store: Store, inputs: dict) -> WorkflowHandle:
    plan = save_plan(store, three_step_plan())
    handle = await start_run(client, plan, settings, inputs, task_queue=settings.task_queue, store=store)
    result = await handle.result()
    assert result.status == "completed"
    return handle


async def test_a_1mb_input_appears_in_history_at_most_once_not_once_per_step(
    dev_client: Client, settings: Settings, store: Store
):
    async with running_worker(dev_client, settings, store):
        small = await _run(dev_client, settings, store, {"project_brief": "x" * KB})
        large = await _run(dev_client, settings, store, {"project_brief": "y" * MB})
    grown = await _history_bytes(large) - await _history_bytes(small)
    assert grown < 0.2 * MB, f"history grew by {grown} bytes for 1 MB more input over 3 steps"
    events = (await large.fetch_history()).events
    steps = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
             and e.activity_task_scheduled_event_attributes.activity_type.name == "agent_step"]
    assert len(steps) == 3
    assert all(s.ByteSize() < 8 * KB for s in steps)  # a hash, never the input
    # the run's inputs are still recorded whole, where the API and the CLI read them
    run = store.get_run(large.id.rsplit("-", 1)[1])
    assert run is not None and run.inputs["project_brief"] == "y" * MB
