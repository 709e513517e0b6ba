"""Activity slots that take tasks from the server only as fast as this worker starts them.

Temporal marks an activity started, and starts its heartbeat clock, when a worker's poller takes the task. With
fixed slots the SDK's poller takes tasks as long as slots are free (500 by default), while the Python side
starts them one per event-loop iteration (`poll_activity_task`, then a task per activity): with 1,000 runs
started at once on a busy 2-core machine the steps waited a median 12.5 s (p99 38 s, bench/llm_load.py) between
"started" on the server and their first line of code, so their first heartbeat came after the 10 s heartbeat
timeout and Temporal retried them (74 of 1,000 runs failed). `PacedActivitySlots` keeps at most `backlog` slots
reserved but not yet running an activity, so the rest of the tasks wait on the server, where no clock runs, and a
task taken is started within a backlog's worth of loop iterations."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    CustomSlotSupplier,
    ExecuteActivityInput,
    Interceptor,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
)


class PacedActivitySlots(CustomSlotSupplier):
    """At most `max_slots` activity slots, and at most `backlog` of them reserved without a running activity
    (a poller waiting for a task, a task taken but not started yet, one finished but not released yet). Running
    activities are counted by `interceptor()`, which must be on the same worker. Thread-safe: the SDK reserves
    on the worker's event loop and releases from its own threads."""

    def __init__(self, max_slots: int, backlog: int) -> None:
        if backlog < 1 or max_slots < 1:
            raise ValueError("activity slots and backlog must be at least 1")
        self.max_slots, self.backlog = max_slots, backlog
        self.reserved = 0  # permits out
        self.running = 0  # activities between the start and the end of their function
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def _take(self) -> bool:
        """A permit when one is free (call with the lock held)."""
        if self.reserved >= self.max_slots or self.reserved - self.running >= self.backlog:
            return False
        self.reserved += 1
        return True

    def _wake(self) -> None:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:  # each re-checks under the lock
            with contextlib.suppress(RuntimeError):  # a release after the worker's loop closed wakes no one
                loop.call_soon_threadsafe(_resolve, future)

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if self._take():
                    return SlotPermit()
                future: asyncio.Future[None] = loop.create_future()
                self._waiters.append((loop, future))
            try:
                await future
            except asyncio.CancelledError:
                with self._lock:
                    self._waiters = [w for w in self._waiters if w[1] is not future]
                raise

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        """For eager activities (started in the reply to a workflow task): a permit only when one is free."""
        with self._lock:
            return SlotPermit() if self._take() else None

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        return None

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        with self._lock:
            self.reserved = max(0, self.reserved - 1)
        self._wake()

    def started(self) -> None:
        with self._lock:
            self.running += 1
        self._wake()

    def finished(self) -> None:
        with self._lock:
            self.running = max(0, self.running - 1)

    def interceptor(self) -> Interceptor:
        """The worker interceptor that counts this worker's running activities (local activities excluded:
        they have their own slots)."""
        return _CountRunning(self)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _CountRunning(Interceptor):
    def __init__(self, slots: PacedActivitySlots) -> None:
        self.slots = slots

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Running(next, self.slots)


class _Running(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, slots: PacedActivitySlots) -> None:
        super().__init__(next)
        self.slots = slots

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if activity.info().is_local:
            return await super().execute_activity(input)
        self.slots.started()
        try:
            return await super().execute_activity(input)
        finally:
            self.slots.finished()
