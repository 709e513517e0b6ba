"""Store calls from async code: on the event loop itself when the work is local, in a thread otherwise.

A SQLite call is CPU work in this process (WAL, no fsync at commit), and the GIL runs it one thread at a time
anyway. In a thread it also queued behind the loop's few executor threads and handed the GIL back and forth with
the loop: with 200 runs of model steps in flight on one worker, a store call waited a median 18 ms (p90 321 ms)
for a thread and took 3.5 times its CPU in wall time (bench/RESULTS.md). `call(fn, ..., inline=True)` runs `fn`
on the loop instead, with two limits:

- A write that finds the database locked by another connection (another process, a thread of this one) does not
  wait on the loop: there `BEGIN IMMEDIATE` fails at once (`NO_WAIT`, store/db.py), and the call runs again in a
  thread, where it waits for the lock as any writer does. Store calls are idempotent (activities/storecalls.py
  relies on it too), so a call that wrote before it hit the lock may run again.
- Inline calls take at most `SHARE` of any `WINDOW_S` of one loop; past it a call waits for the next window (the
  loop runs everything else meanwhile), so a burst (hundreds of runs launched or steps finishing at once) cannot
  hold back the loop's timers, heartbeats and sockets for long. Sending those calls to threads instead made them
  queue for the executor's few threads (p90 650 ms) and take the write lock from the inline ones.

Work is local when the database is SQLite and the call does no network I/O of its own (an event published to
Redis is: callers pass `inline=False` then). PostgreSQL calls always run in threads.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.exc import OperationalError

from store.db import NO_WAIT, is_locked

if TYPE_CHECKING:
    from store.store import Store

T = TypeVar("T")

WINDOW_S = 0.1
SHARE = 0.5


class _Budget:
    """The inline time one loop has spent in its current window."""

    __slots__ = ("deferred", "fell_back", "inline", "used", "window")

    def __init__(self) -> None:
        self.window = 0.0
        self.used = 0.0
        self.inline = 0  # calls run on the loop
        self.deferred = 0  # calls that waited for the next window because its share was spent
        self.fell_back = 0  # inline calls that found the database locked and ran again in a thread

    def wait_s(self, now: float) -> float:
        """0 when a call may run now, else how long until the next window."""
        if now - self.window >= WINDOW_S:
            self.window, self.used = now, 0.0
        return 0.0 if self.used < SHARE * WINDOW_S else self.window + WINDOW_S - now


_budgets: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Budget] = weakref.WeakKeyDictionary()


def budget() -> _Budget:
    """The running loop's budget (its counters say how calls went)."""
    loop = asyncio.get_running_loop()
    found = _budgets.get(loop)
    if found is None:
        found = _budgets[loop] = _Budget()
    return found


def inline_calls(store: Store, redis_url: str | None, enabled: bool = True) -> bool:
    """Whether the store calls of a worker (or a launch) may run on its loop: a SQLite store, and no Redis to
    publish events to from inside them; `enabled` is `Settings.store_inline`."""
    return enabled and store.local and not redis_url


async def call(fn: Callable[..., T], *args: Any, inline: bool) -> T:
    """`fn(*args)` on the running loop when `inline` (once the loop's budget allows), else in a thread."""
    if inline:
        spent = budget()
        wait = spent.wait_s(time.perf_counter())
        if wait:
            spent.deferred += 1
            while wait:
                await asyncio.sleep(wait)
                wait = spent.wait_s(time.perf_counter())
        started = time.perf_counter()
        token = NO_WAIT.set(True)
        try:
            result = fn(*args)
            spent.inline += 1
            return result
        except OperationalError as exc:
            if not is_locked(exc):
                raise
            spent.fell_back += 1
        finally:
            NO_WAIT.reset(token)
            spent.used += time.perf_counter() - started
    return await asyncio.to_thread(fn, *args)
