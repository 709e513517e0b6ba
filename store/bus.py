"""In-process notice that a run's events were appended: publishers call `bus.notify(run_id)` from any thread, and
every follower of that run in this process wakes at once. It carries no events (the table is the only source), so
a notice that arrives early or twice only costs a read, and a follower that subscribes before it reads the table
can never miss one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Subscription:
    """One follower's wake-up flag, bound to the event loop it was made in."""

    def __init__(self, run_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.run_id = run_id
        self.loop = loop
        self.flag = asyncio.Event()
        self.seen = 0  # the last seq the follower has read: a watcher wakes it when the table has a later one
        self.ended = False  # set by a watcher that saw the run's status become terminal

    def wake(self) -> None:
        """Thread-safe: set the flag in its loop (a closed loop means the follower has gone)."""
        try:
            self.loop.call_soon_threadsafe(self.flag.set)
        except RuntimeError:
            pass

    async def wait(self, timeout: float | None) -> bool:
        """Wait for a wake-up (True) or the timeout (False); the flag is cleared, so the caller reads afterwards."""
        try:
            await asyncio.wait_for(self.flag.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            self.flag.clear()
        return True


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[str, set[Subscription]] = {}

    @contextmanager
    def subscribe(self, run_id: str) -> Iterator[Subscription]:
        """Subscribe (call in the follower's loop) for the block; enter it before the first read of the table."""
        sub = Subscription(run_id, asyncio.get_running_loop())
        with self._lock:
            self._subs.setdefault(run_id, set()).add(sub)
        try:
            yield sub
        finally:
            with self._lock:
                subs = self._subs.get(run_id)
                if subs is not None:
                    subs.discard(sub)
                    if not subs:
                        del self._subs[run_id]

    def notify(self, run_id: str) -> None:
        with self._lock:
            subs = list(self._subs.get(run_id, ()))
        for sub in subs:
            sub.wake()

    def followers(self, run_id: str) -> int:
        with self._lock:
            return len(self._subs.get(run_id, ()))


bus = EventBus()  # the process's one bus: the worker's event sink and the API's followers share it
