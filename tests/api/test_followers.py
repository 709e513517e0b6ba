"""Followers wake on the event bus and read the table only to catch up: events stored by this process (the bus),
by a worker in another process (the table watcher without Redis, Redis pub/sub with it) all arrive, in order, once;
an append that races a follower's subscription is not lost; idle followers do not read the table."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import api.events
from activities.events import EventSink
from api.events import follow
from store import EventRow, Store

ROOT = Path(__file__).resolve().parents[2]
GENEROUS_S = 30.0  # bounds that only stop a hung test; nothing here is a speed assertion


class CountingStore(Store):
    """A real store that counts its event-log reads and can append an event right after one (a racing worker)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.reads = 0
        self.append_after_first_read: tuple[str, str] | None = None

    def list_events(self, run_id: str, after_seq: int = 0) -> list[EventRow]:
        rows = super().list_events(run_id, after_seq)
        self.reads += 1
        if self.append_after_first_read is not None:
            rid, type_ = self.append_after_first_read
            self.append_after_first_read = None
            EventSink(self).emit(rid, type_, {})  # lands after the read, before the follower waits
        return rows


@pytest.fixture
def counting(sqlite_url: str) -> CountingStore:
    s = CountingStore(sqlite_url)
    s.migrate()
    return s


def _new_run(store: Store, run_id: str) -> None:
    store.create_run(run_id, "quick-fix", f"bmad-quick-fix-{run_id}", "h" * 64, {})


async def _collect(store: Store, run_id: str, redis_url: str | None = None, after: int = 0) -> list[EventRow]:
    return [r async for r in follow(store, run_id, after, redis_url) if r is not None]


def _slow_watcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table watcher looks only once an hour: whatever arrives came through the bus or Redis."""
    monkeypatch.setattr(api.events, "WATCH_S", 3600.0)
    monkeypatch.setattr(api.events, "REDIS_WATCH_S", 3600.0)


async def test_events_stored_by_this_process_wake_followers_through_the_bus(
    counting: CountingStore, monkeypatch: pytest.MonkeyPatch
):
    _slow_watcher(monkeypatch)
    _new_run(counting, "r-bus")
    sink = EventSink(counting)
    task = asyncio.create_task(_collect(counting, "r-bus"))
    await asyncio.sleep(0.2)
    for type_ in ("step.started", "step.completed", "run.completed"):
        await asyncio.to_thread(sink.emit, "r-bus", type_, {})
    rows = await asyncio.wait_for(task, GENEROUS_S)
    assert [(r.seq, r.type) for r in rows] == [(1, "step.started"), (2, "step.completed"), (3, "run.completed")]


async def test_an_append_racing_the_subscription_is_not_lost(counting: CountingStore, monkeypatch: pytest.MonkeyPatch):
    _slow_watcher(monkeypatch)
    _new_run(counting, "r-race")
    counting.append_event("r-race", "step.started", {})
    counting.append_after_first_read = ("r-race", "run.completed")  # after the follower's catch-up read
    rows = await asyncio.wait_for(_collect(counting, "r-race"), GENEROUS_S)
    assert [r.type for r in rows] == ["step.started", "run.completed"]


def _worker_process(url: str, run_id: str, redis_url: str | None, types: list[str]) -> subprocess.Popen[bytes]:
    """Another process storing events the way a worker's activities do (EventSink: table, then announce)."""
    code = textwrap.dedent(f"""
        import time
        from activities.events import EventSink
        from store import Store
        sink = EventSink(Store({url!r}), {redis_url!r})
        for type_ in {types!r}:
            time.sleep(0.3)
            sink.emit({run_id!r}, type_, {{"from": "worker"}})
    """)
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})


async def test_events_of_a_worker_in_another_process_reach_followers_without_redis(counting: CountingStore):
    _new_run(counting, "r-other")
    follower = asyncio.create_task(_collect(counting, "r-other"))
    await asyncio.sleep(0.2)
    proc = _worker_process(counting.database_url, "r-other", None, ["step.started", "step.completed", "run.failed"])
    try:
        rows = await asyncio.wait_for(follower, GENEROUS_S)
    finally:
        assert await asyncio.to_thread(proc.wait, GENEROUS_S) == 0
    assert [(r.seq, r.type) for r in rows] == [(1, "step.started"), (2, "step.completed"), (3, "run.failed")]


async def test_events_of_a_worker_in_another_process_reach_followers_through_redis(
    counting: CountingStore, redis_url: str, monkeypatch: pytest.MonkeyPatch
):
    _slow_watcher(monkeypatch)  # only Redis can wake them
    _new_run(counting, "r-redis")
    followers = [asyncio.create_task(_collect(counting, "r-redis", redis_url)) for _ in range(3)]
    await asyncio.sleep(1.0)  # the process's one pattern subscription is in place
    proc = _worker_process(counting.database_url, "r-redis", redis_url, ["step.started", "run.completed"])
    try:
        results = await asyncio.wait_for(asyncio.gather(*followers), GENEROUS_S)
    finally:
        assert await asyncio.to_thread(proc.wait, GENEROUS_S) == 0
    for rows in results:
        assert [(r.seq, r.type) for r in rows] == [(1, "step.started"), (2, "run.completed")]


async def test_idle_followers_do_not_read_the_event_log(counting: CountingStore):
    runs = [f"r-idle-{i}" for i in range(50)]
    for run_id in runs:
        _new_run(counting, run_id)
    followers = [asyncio.create_task(_collect(counting, run_id)) for run_id in runs]
    await asyncio.sleep(3 * api.events.WATCH_S + api.events.STATUS_CHECK_S)  # several watcher ticks
    assert counting.reads == len(runs)  # each follower's catch-up read, nothing since
    counting.append_event(runs[7], "run.completed", {})  # the watcher wakes that one follower only
    assert [r.type for r in await asyncio.wait_for(followers[7], GENEROUS_S)] == ["run.completed"]
    assert counting.reads == len(runs) + 1
    for task in followers:
        task.cancel()
    await asyncio.gather(*followers, return_exceptions=True)
