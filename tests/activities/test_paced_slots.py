"""Fixed activity slots paced by how fast the worker starts activities (botarmy/slots.py): a task is taken from
the server only while fewer than `backlog` permits are out without a running activity."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from botarmy.settings import Settings
from botarmy.slots import PacedActivitySlots
from store import Store
from tests.activities.conftest import run_plan
from tests.workflows.plans import pipeline_plan

CTX: Any = None  # the slot contexts are not read


async def test_permits_stop_at_the_backlog_until_an_activity_starts_and_at_the_slots_until_one_is_released():
    slots = PacedActivitySlots(max_slots=3, backlog=2)
    await slots.reserve_slot(CTX)
    await slots.reserve_slot(CTX)
    assert slots.try_reserve_slot(CTX) is None  # two taken, neither started
    waiting = asyncio.create_task(slots.reserve_slot(CTX))
    await asyncio.sleep(0)
    assert not waiting.done()
    slots.started()  # one of them runs now: one more may be taken
    await asyncio.wait_for(waiting, 5)
    assert (slots.reserved, slots.running) == (3, 1)
    slots.started()
    slots.started()
    assert slots.try_reserve_slot(CTX) is None  # all three slots are in use
    blocked = asyncio.create_task(slots.reserve_slot(CTX))
    await asyncio.sleep(0)
    slots.finished()  # a finished activity frees nothing until its slot is released
    await asyncio.sleep(0)
    assert not blocked.done()
    slots.release_slot(CTX)
    await asyncio.wait_for(blocked, 5)
    assert slots.reserved == 3


async def test_a_cancelled_reservation_leaves_no_waiter_behind():
    slots = PacedActivitySlots(max_slots=1, backlog=1)
    await slots.reserve_slot(CTX)
    waiting = asyncio.create_task(slots.reserve_slot(CTX))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    slots.release_slot(CTX)
    assert slots.reserved == 0 and slots.try_reserve_slot(CTX) is not None


def test_a_backlog_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        PacedActivitySlots(max_slots=10, backlog=0)


@pytest.mark.parametrize("backlog", [1, 0])
async def test_a_worker_with_paced_or_plain_fixed_slots_completes_a_pipeline(
    time_env: WorkflowEnvironment, settings: Settings, store: Store, backlog: int
):
    paced = settings.model_copy(update={"activity_backlog": backlog, "max_concurrent_activities": 2})
    _, result = await run_plan(time_env, paced, store, pipeline_plan(f"paced-slots-{backlog}"))
    assert result.status == "completed"
    view = store.get_run(result.run_id)
    assert view is not None and view.artifacts
    assert {s.status for s in view.steps} <= {"completed", "skipped"}
