"""Fixed activity slots paced by how fast the worker starts activities (botarmy/slots.py): a task is taken from
the server only while fewer than `backlog` permits are out without a running activity."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from botarmy.settings import Settings
from botarmy.slots import EAGER_WAIT_S, PacedActivitySlots
from store import Store
from tests.activities.conftest import run_plan
from tests.workflows.plans import pipeline_plan


class _Ctx:
    """A slot context: `slot_info` is set on the release of a slot a task used."""

    def __init__(self, used: bool = False) -> None:
        self.slot_info: Any = object() if used else None


CTX: Any = _Ctx()
USED: Any = _Ctx(used=True)


async def reserved_now(slots: PacedActivitySlots) -> bool:
    """Whether a poller's reservation is granted without waiting."""
    task = asyncio.create_task(slots.reserve_slot(CTX))
    await asyncio.sleep(0)
    if task.done():
        return True
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return False


async def test_permits_stop_at_the_backlog_until_an_activity_starts_and_at_the_slots_until_one_is_released():
    slots = PacedActivitySlots(max_slots=3, backlog=2)
    await slots.reserve_slot(CTX)
    await slots.reserve_slot(CTX)
    assert not await reserved_now(slots)  # two taken, neither started
    waiting = asyncio.create_task(slots.reserve_slot(CTX))
    await asyncio.sleep(0)
    assert not waiting.done()
    slots.started()  # one of them runs now: one more may be taken
    await asyncio.wait_for(waiting, 5)
    assert (slots.reserved, slots.running) == (3, 1)
    slots.started()
    slots.started()
    assert slots.try_reserve_slot(CTX) is None  # all three slots are in use, eager or not
    blocked = asyncio.create_task(slots.reserve_slot(CTX))
    await asyncio.sleep(0)
    slots.finished()  # a finished activity frees no slot until its slot is released
    await asyncio.sleep(0)
    assert not blocked.done()
    slots.release_slot(USED)
    await asyncio.wait_for(blocked, 5)
    assert slots.reserved == 3


async def test_a_finished_activity_whose_slot_is_not_released_yet_is_not_backlog():
    slots = PacedActivitySlots(max_slots=5, backlog=1)
    await slots.reserve_slot(CTX)
    assert not await reserved_now(slots)  # one taken, not started
    slots.started()
    slots.finished()  # done; the SDK has not told the server yet, so its slot is still out
    assert await reserved_now(slots)  # not a task waiting to start: the next one may be taken
    assert not await reserved_now(slots)  # that one has not started: the backlog is full again
    slots.release_slot(USED)  # the finished one's slot comes back
    assert (slots.reserved, slots.running, slots.finished_held) == (1, 0, 0)
    assert not await reserved_now(slots)  # still one taken and not started


async def test_eager_tasks_are_taken_beyond_the_backlog_only_as_fast_as_the_worker_starts_tasks():
    slots = PacedActivitySlots(max_slots=1000, backlog=2)
    assert slots.eager_backlog == 2  # nothing measured yet: the backlog
    for _ in range(2):
        await slots.reserve_slot(CTX)
    slots.started()
    await asyncio.sleep(0.001)
    slots.started()  # a task waited while this one started 1 ms after the first: 0.25 s of starts is ~250 tasks
    assert 50 <= slots.eager_backlog <= EAGER_WAIT_S / 0.001
    taken = [slots.try_reserve_slot(CTX) for _ in range(slots.eager_backlog + 5)]
    assert taken.count(None) >= 5 and slots.waiting() <= slots.eager_backlog
    for _ in range(60):  # a worker that falls behind: 50 ms between starts while tasks wait
        slots._last_start = time.monotonic() - 0.05
        slots.started()
    assert slots.eager_backlog <= 2 * EAGER_WAIT_S / 0.05  # the EWMA has moved most of the way
    assert slots.try_reserve_slot(CTX) is None
    slots._start_interval, slots._last_start = None, None
    for _ in range(30):
        slots._last_start = time.monotonic() - 10.0  # very slow starts: never below the backlog
        slots.started()
    assert slots.eager_backlog == slots.backlog


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
