"""What Temporal shows of a run, on the real dev server (its visibility store indexes our search attributes):
BotArmyWaiting while a person is asked and cleared however the run ends, the static summary, current details."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import CancelledError

from bmad.plan import ApprovalSpec
from botarmy.settings import Settings
from botarmy.temporal import connect, ensure_search_attributes, start_run
from store import Store
from tests.conftest import running_worker, save_plan
from tests.workflows.plans import pipeline_plan, single_step_plan
from tests.workflows.test_approvals import wait_pending, with_approval
from workflows.approvals import WAITING_KEY


@pytest_asyncio.fixture
async def dev_client(dev_server: str) -> AsyncIterator[Client]:
    client = await connect(dev_server)
    await ensure_search_attributes(client)
    yield client


async def waiting_attribute(handle: WorkflowHandle) -> str | None:
    return (await handle.describe()).typed_search_attributes.get(WAITING_KEY)


async def listed_as_waiting(client: Client, handle: WorkflowHandle, expected: bool) -> bool:
    """Whether a visibility query for waiting runs finds the run; the list is eventually consistent, so it is
    asked until it agrees with `expected` (a bounded number of times) and then answered as it is."""
    query = f"WorkflowId = '{handle.id}' AND BotArmyWaiting = 'yes'"
    for _ in range(100):
        found = [w.id async for w in client.list_workflows(query)] == [handle.id]
        if found == expected:
            return found
        await asyncio.sleep(0.1)
    return found


async def current_details(handle: WorkflowHandle) -> str:
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def test_a_run_waiting_for_approval_is_listed_as_waiting_until_it_is_cancelled(
    dev_client: Client, settings: Settings, store: Store
):
    plan = save_plan(store, with_approval(single_step_plan(), ApprovalSpec(role="product-owner")))
    async with running_worker(dev_client, settings, store):
        handle = await start_run(dev_client, plan, settings, {}, task_queue=settings.task_queue)
        await wait_pending(handle, "01-pm-prd")
        assert await waiting_attribute(handle) == "yes"
        assert await listed_as_waiting(dev_client, handle, expected=True)
        assert await current_details(handle) == (
            "Waiting for approval of prd.md v1 (pm, role product-owner) at `01-pm-prd`")

        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        assert isinstance(failure.value.cause, CancelledError)
        assert await waiting_attribute(handle) == "no"
        assert not await listed_as_waiting(dev_client, handle, expected=False)
        assert await current_details(handle) == "Cancelled by request"
    assert store.get_run(plan_run_id(handle)).status == "cancelled"


async def test_a_run_cancelled_while_an_iteration_waits_is_no_longer_listed_as_waiting(
    dev_client: Client, settings: Settings, store: Store
):
    plan = save_plan(store, pipeline_plan())
    async with running_worker(dev_client, settings, store):
        inputs = {"for_each_epic": 2, "architecture_suggests_prd_changes": False}
        handle = await start_run(dev_client, plan, settings, inputs, approve=["sm"], task_queue=settings.task_queue)
        await wait_pending(handle, "06-sm-story[1]")  # asked by the iteration's child workflow
        assert await waiting_attribute(handle) == "yes"
        assert (await current_details(handle)).startswith("Waiting for approval of epic-1/story.md v1 (sm)")

        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        assert await waiting_attribute(handle) == "no"
        assert not await listed_as_waiting(dev_client, handle, expected=False)


async def test_a_run_failed_by_an_approval_timeout_is_no_longer_listed_as_waiting(
    dev_client: Client, settings: Settings, store: Store
):
    plan = save_plan(store, with_approval(single_step_plan(), ApprovalSpec(timeout_s=1, on_timeout="fail")))
    async with running_worker(dev_client, settings, store):
        handle = await start_run(dev_client, plan, settings, {}, task_queue=settings.task_queue)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        assert await waiting_attribute(handle) == "no"
        assert not await listed_as_waiting(dev_client, handle, expected=False)
        details = await current_details(handle)
    assert details == "Failed: no decision on step 01-pm-prd within its approval timeout"
    assert store.get_run(plan_run_id(handle)).status == "failed"


async def test_a_completed_run_shows_its_summary_and_is_not_waiting(
    dev_client: Client, settings: Settings, store: Store
):
    plan = save_plan(store, pipeline_plan())
    inputs = {"project_name": "Lunch Orders", "for_each_epic": 2, "openai_api_key": "sk-not-for-the-ui",
              "notes": "a very long note " * 20}
    async with running_worker(dev_client, settings, store):
        handle = await start_run(dev_client, plan, settings, inputs, task_queue=settings.task_queue)
        result = await handle.result()
        assert result.status == "completed"
        described = await handle.describe()
        assert described.typed_search_attributes.get(WAITING_KEY) == "no"
        summary = await described.static_summary()
        assert summary is not None
        assert summary.startswith("BMAD test-pipeline — project_name=Lunch Orders, for_each_epic=2, notes=a very")
        assert "sk-not-for-the-ui" not in summary and "openai_api_key" not in summary
        assert len(summary) <= 160 and "\n" not in summary
        details = await described.static_details()
        assert details is not None and result.run_id in details and plan.definition_hash[:12] in details
        assert await current_details(handle) == "Completed"


def plan_run_id(handle: WorkflowHandle) -> str:
    return handle.id.rsplit("-", 1)[1]  # bmad-<workflow>-<run id>


async def test_a_running_step_is_named_in_the_current_details(dev_client: Client, settings: Settings, store: Store):
    slow = settings.model_copy(update={"offline_latency_ms": 3000})
    plan = save_plan(store, pipeline_plan())
    async with running_worker(dev_client, slow, store):
        handle = await start_run(dev_client, plan, slow, {"for_each_epic": 0}, task_queue=slow.task_queue)
        assert await waiting_attribute(handle) == "no"  # set when the run starts, before any workflow task
        seen = ""
        for _ in range(100):  # the first step runs for 3 s; its details appear as soon as it is scheduled
            seen = await current_details(handle)
            if seen.startswith("Step"):
                break
            await asyncio.sleep(0.05)
        assert seen == "Step 1/7 `01-analyst-brief`: analyst → brief.md"  # the two control entries run nothing
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        assert await current_details(handle) == "Cancelled by request"
