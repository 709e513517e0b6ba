"""Activity slots that take tasks from the server only as fast as this worker starts them.

Temporal marks an activity started, and starts its heartbeat clock, when a worker's poller takes the task. With
fixed slots the SDK's poller takes tasks as long as slots are free (500 by default), while the Python side
starts them one per event-loop iteration (`poll_activity_task`, then a task per activity): with 1,000 runs
started at once on a busy 2-core machine the steps waited a median 12.5 s (p99 38 s, bench/llm_load.py) between
"started" on the server and their first line of code, so their first heartbeat came after the 10 s heartbeat
timeout and Temporal retried them (74 of 1,000 runs failed). `PacedActivitySlots` keeps at most `backlog` slots
reserved but not yet running an activity, so the rest of the tasks wait on the server, where no clock runs, and a
task taken is started within a backlog's worth of loop iterations.

Eager tasks (an activity the server hands back in its reply to this worker's own workflow task, without a trip
through the task queue) are paced by how fast the worker has been starting tasks instead: refusing them beyond
the backlog sent each through the server's matching and a poller, which at 200 runs of 2 s model calls cost a
sixth of the throughput (38 against 45 steps/s with no limit on them), while a fixed allowance of 100 let 1,000
runs overload the worker again (6 of 2,000 steps retried). At 200 runs the measured rate mostly keeps the
allowance near the backlog, so most of that sixth is still lost there (bench/RESULTS.md)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
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

EAGER_WAIT_S = 0.25  # how long the eager tasks taken but not started may take to start, at the measured rate
EWMA = 0.1  # weight of a new sample of the time between starts


class PacedActivitySlots(CustomSlotSupplier):
    """At most `max_slots` activity slots, and at most `backlog` of them reserved without an activity that has
    started (a poller waiting for a task, a task taken but not started yet). An activity counts from its start
    until its slot is released: one that has finished holds its slot until the SDK has told the server, and it is
    no task waiting to start. Activities are counted by `interceptor()`, which must be on the same worker.
    Thread-safe: the SDK reserves on the worker's event loop and releases from its own threads."""

    def __init__(self, max_slots: int, backlog: int) -> None:
        if backlog < 1 or max_slots < 1:
            raise ValueError("activity slots and backlog must be at least 1")
        self.max_slots, self.backlog = max_slots, backlog
        # eager tasks (handed back in the reply to this worker's own workflow task): taken while the ones not yet
        # started would all start within EAGER_WAIT_S at the rate this worker has been starting them (`started`)
        self.eager_backlog = backlog
        self._start_interval: float | None = None  # seconds between starts while tasks were waiting (EWMA)
        self._last_start: float | None = None
        self.reserved = 0  # permits out
        self.running = 0  # activities between the start and the end of their function
        self.finished_held = 0  # activities that have finished, whose slots are not released yet
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def _take(self) -> bool:
        """A permit when one is free (call with the lock held)."""
        if self.reserved >= self.max_slots or self.waiting() >= self.backlog:
            return False
        self.reserved += 1
        return True

    def waiting(self) -> int:
        """Permits out without an activity that has started (call with the lock held)."""
        return self.reserved - self.running - self.finished_held

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
            if self.reserved >= self.max_slots or self.waiting() >= self.eager_backlog:
                return None
            self.reserved += 1
            return SlotPermit()

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        return None

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        with self._lock:
            self.reserved = max(0, self.reserved - 1)
            if ctx.slot_info is not None and self.finished_held:  # a used slot: a task's, most likely finished
                self.finished_held -= 1
        self._wake()

    def started(self) -> None:
        """An activity's function starts. While tasks were waiting, the time since the previous start is how fast
        this worker starts them; the eager backlog is what it starts in EAGER_WAIT_S at that rate (between the
        backlog and the slots), so a worker that falls behind takes fewer eager tasks at once."""
        now = time.monotonic()
        with self._lock:
            queued = self.waiting() > 0
            self.running += 1
            if queued and self._last_start is not None:
                sample = now - self._last_start
                self._start_interval = sample if self._start_interval is None else (
                    self._start_interval + EWMA * (sample - self._start_interval))
                rate_bound = int(EAGER_WAIT_S / max(self._start_interval, 1e-6))
                self.eager_backlog = max(self.backlog, min(self.max_slots, rate_bound))
            self._last_start = now
        self._wake()

    def finished(self) -> None:
        with self._lock:
            self.running = max(0, self.running - 1)
            self.finished_held += 1

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
