"""Follow a run's event log: rows of the events table after a seq, read when a follower is woken.

The table is the only source of events; a wake-up only says "look again", so a stream never skips or repeats a seq
whichever way it was woken. A follower subscribes to the in-process bus (store/bus.py) *before* its first read, so
an append that races the subscription is either in that read or wakes it after. Wake-ups come from:

- the in-process bus: events stored by this process (a worker or `botarmy run` hosted here) wake at once;
- Redis (`REDIS_URL`): one pattern subscription per API process for every run's channel, so events stored by a
  worker in another process wake their followers at once;
- the table watcher, one per API process (not one per follower): every `WATCH_S` (`REDIS_WATCH_S` while Redis
  answers, as a safety net for a lost publish) it reads the last seq of every followed run in ONE query and wakes
  the followers whose run has moved. This is how events of a worker in another process reach followers without
  Redis (SQLite or PostgreSQL, `botarmy up`): within `WATCH_S`, at the cost of one indexed query per interval
  whatever the number of followers. Every `STATUS_CHECK_S` it also reads the status of every followed run in one
  query, so a stream of a run that ended without a terminal event still ends.

An idle follower therefore costs nothing but its keep-alives: 500 of them used to cost 87 % of a core polling the
table every 0.25 s each (bench/followers.py measures it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from store import EventRow, Store
from store.bus import Subscription, bus
from workflows.contracts import TERMINAL_RUN_EVENTS, TERMINAL_RUN_STATUSES, event_channel

log = structlog.get_logger(__name__)
WATCH_S = 0.5  # without Redis: how late an event stored by another process may reach its followers
REDIS_WATCH_S = 5.0  # with Redis answering: the table watcher is only a safety net for a lost publish
REDIS_RETRY_S = 5.0
STATUS_CHECK_S = 2.0
# A run that has ended without (yet) a terminal event in the table: give its last events this long to arrive.
END_GRACE_S = 3.0
POLL_S = WATCH_S  # kept for callers that passed poll_s; the watcher interval is per process now


def envelope(row: EventRow) -> dict[str, Any]:
    return {"seq": row.seq, "type": row.type, "data": row.data, "created_at": row.created_at.isoformat()}


class _Watcher:
    """One per (event loop, store, Redis URL): the table watcher and the Redis listener of this process's
    followers. It starts with the first follower and stops with the last."""

    def __init__(self, store: Store, redis_url: str | None) -> None:
        self.store = store
        self.redis_url = redis_url
        self.subs: set[Subscription] = set()
        self.redis_live = False
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, sub: Subscription) -> None:
        self.subs.add(sub)
        if not self._tasks:
            self._tasks.append(asyncio.create_task(self._watch()))
            if self.redis_url:
                self._tasks.append(asyncio.create_task(self._listen(self.redis_url)))

    def discard(self, sub: Subscription) -> bool:
        """Forget a follower; True when it was the last (the watcher has stopped)."""
        self.subs.discard(sub)
        if self.subs:
            return False
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        return True

    async def _watch(self) -> None:
        next_status = time.monotonic() + STATUS_CHECK_S
        while True:
            await asyncio.sleep(REDIS_WATCH_S if self.redis_live else WATCH_S)
            run_ids = sorted({s.run_id for s in self.subs})
            if not run_ids:
                continue
            try:
                heads = await asyncio.to_thread(self.store.event_heads, run_ids)
                statuses = None
                if time.monotonic() >= next_status:
                    next_status = time.monotonic() + STATUS_CHECK_S
                    statuses = await asyncio.to_thread(self.store.run_statuses, run_ids)
            except Exception as exc:  # noqa: BLE001 - a database outage: followers keep waiting, we look again
                log.warning("events.watch_failed", error=str(exc).splitlines()[0] if str(exc) else repr(exc))
                continue
            for sub in list(self.subs):
                if statuses is not None and statuses.get(sub.run_id) in (None, *TERMINAL_RUN_STATUSES):
                    sub.ended = True
                    sub.wake()
                elif heads.get(sub.run_id, 0) > sub.seen:
                    sub.wake()

    async def _listen(self, redis_url: str) -> None:
        prefix = event_channel("")
        warned = False
        while True:
            client = aioredis.from_url(redis_url, socket_connect_timeout=2)
            pubsub = client.pubsub()
            try:
                await pubsub.psubscribe(prefix + "*")
                self.redis_live, warned = True, False
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=REDIS_WATCH_S)
                    if message is None:
                        continue
                    channel = message["channel"]
                    run_id = (channel.decode() if isinstance(channel, bytes) else str(channel))[len(prefix):]
                    bus.notify(run_id)
            except (RedisError, OSError) as err:
                if self.redis_live or not warned:  # once per outage, not once per retry
                    log.warning("events.redis_lost" if self.redis_live else "events.redis_unavailable",
                                error=str(err))
                warned = True
            finally:
                self.redis_live = False
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
                    await client.aclose()
            await asyncio.sleep(REDIS_RETRY_S)  # the table watcher carries the followers meanwhile


_watchers: dict[tuple[int, int, str | None], _Watcher] = {}


@contextlib.contextmanager
def _watched(store: Store, redis_url: str | None, sub: Subscription) -> Any:
    key = (id(asyncio.get_running_loop()), id(store), redis_url)
    watcher = _watchers.get(key)
    if watcher is None or watcher.store is not store:
        watcher = _watchers[key] = _Watcher(store, redis_url)
    watcher.add(sub)
    try:
        yield
    finally:
        if watcher.discard(sub) and _watchers.get(key) is watcher:
            del _watchers[key]


async def follow(
    store: Store,
    run_id: str,
    after: int = 0,
    redis_url: str | None = None,
    poll_s: float = POLL_S,  # accepted for old callers: the watcher's interval is per process (WATCH_S)
    idle_s: float | None = None,
) -> AsyncIterator[EventRow | None]:
    """Yield each event with seq > `after` once, in order, until a terminal event has been yielded.
    Yields None after `idle_s` seconds without events (for keep-alives), when `idle_s` is given."""
    with bus.subscribe(run_id) as sub, _watched(store, redis_url, sub):  # before the first read: see the docstring
        # Read from the event the client already has: if it was terminal, there is nothing more to wait for.
        rows = await asyncio.to_thread(store.list_events, run_id, max(after - 1, 0))
        if any(r.seq == after and r.type in TERMINAL_RUN_EVENTS for r in rows):
            return
        rows = [r for r in rows if r.seq > after]
        sub.seen = max([after, *(r.seq for r in rows)])
        last, last_sent, ended_at = after, time.monotonic(), None
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
            if sub.ended:
                ended_at = ended_at or now
                if now - ended_at >= END_GRACE_S:
                    return
            timeout = None if idle_s is None else max(0.0, last_sent + idle_s - time.monotonic())
            if ended_at is not None:
                timeout = min(timeout if timeout is not None else END_GRACE_S, END_GRACE_S)
            woke = await sub.wait(timeout)
            # a timeout without a wake-up means a keep-alive is due: nothing to read
            rows = await asyncio.to_thread(store.list_events, run_id, last) if woke or sub.ended else []
            sub.seen = max([sub.seen, *(r.seq for r in rows)])
