"""Follow a run's event log: rows of the events table after a seq, woken by Redis pub/sub or by polling.

The table is the only source of events; a Redis message on `botarmy:events:{run_id}` only says "look again",
so a stream never skips or repeats a seq whichever way it was woken.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from store import EventRow, Store
from workflows.contracts import TERMINAL_RUN_EVENTS, TERMINAL_RUN_STATUSES, event_channel

log = structlog.get_logger(__name__)
POLL_S = 0.25
REDIS_SAFETY_POLL_S = 2.0  # even with Redis, look at the table this often (a missed publish costs at most this)
STATUS_CHECK_S = 2.0
# A run that has ended without (yet) a terminal event in the table: give its last events this long to arrive.
END_GRACE_S = 3.0


def envelope(row: EventRow) -> dict[str, Any]:
    return {"seq": row.seq, "type": row.type, "data": row.data, "created_at": row.created_at.isoformat()}


class _Waker:
    """Sleeps until something may have been appended: a Redis message, or the poll interval."""

    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s
        self._redis: aioredis.Redis | None = None
        self._pubsub: Any = None

    async def subscribe(self, redis_url: str | None, run_id: str) -> None:
        if not redis_url:
            return
        try:
            self._redis = aioredis.from_url(redis_url, socket_connect_timeout=2)
            self._pubsub = self._redis.pubsub()
            await self._pubsub.subscribe(event_channel(run_id))
        except (RedisError, OSError) as err:
            log.warning("events.redis_unavailable", run_id=run_id, error=str(err))
            await self.close()

    async def wait(self) -> None:
        if self._pubsub is None:
            await asyncio.sleep(self.poll_s)
            return
        try:
            message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=REDIS_SAFETY_POLL_S)
            while message is not None:  # drain: one table read answers them all
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0)
        except (RedisError, OSError) as err:
            log.warning("events.redis_lost", error=str(err))
            await self.close()

    async def close(self) -> None:
        pubsub, client = self._pubsub, self._redis
        self._pubsub = self._redis = None
        try:
            if pubsub is not None:
                await pubsub.aclose()
            if client is not None:
                await client.aclose()
        except (RedisError, OSError):
            pass  # closing a connection that already failed


async def follow(
    store: Store,
    run_id: str,
    after: int = 0,
    redis_url: str | None = None,
    poll_s: float = POLL_S,
    idle_s: float | None = None,
) -> AsyncIterator[EventRow | None]:
    """Yield each event with seq > `after` once, in order, until a terminal event has been yielded.
    Yields None after `idle_s` seconds without events (for keep-alives), when `idle_s` is given."""
    waker = _Waker(poll_s)
    await waker.subscribe(redis_url, run_id)  # before the first read, so no append falls between the two
    try:
        last = after
        # Read from the event the client already has: if it was terminal, there is nothing more to wait for.
        rows = await asyncio.to_thread(store.list_events, run_id, max(after - 1, 0))
        if any(r.seq == after and r.type in TERMINAL_RUN_EVENTS for r in rows):
            return
        rows = [r for r in rows if r.seq > after]
        now = time.monotonic()
        last_sent, next_check, ended_at = now, now + STATUS_CHECK_S, None
        while True:
            for row in rows:
                yield row
                last = row.seq
                if row.type in TERMINAL_RUN_EVENTS:
                    return
            now = time.monotonic()
            if rows:
                last_sent, ended_at = now, None
            elif idle_s is not None and now - last_sent >= idle_s:
                last_sent = now
                yield None
            if now >= next_check:
                next_check = now + STATUS_CHECK_S
                if await asyncio.to_thread(_run_ended, store, run_id):
                    ended_at = ended_at or now
                    if now - ended_at >= END_GRACE_S:
                        return
            await waker.wait()
            rows = await asyncio.to_thread(store.list_events, run_id, last)
    finally:
        await waker.close()


def _run_ended(store: Store, run_id: str) -> bool:
    view = store.get_run(run_id)
    return view is None or view.status in TERMINAL_RUN_STATUSES
