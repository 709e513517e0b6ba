"""Store calls from async code (store/inline.py): on the loop for SQLite, never blocking it on a locked file, within
the loop's budget, and in threads for PostgreSQL or when events go to Redis."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import store.inline as inline
from activities.storecalls import db_call, inline_calls
from store import Store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Store, Path]]:
    path = tmp_path / "botarmy.db"
    s = Store(f"sqlite:///{path}")
    s.migrate()
    s.create_run("r1", "wf", "bmad-wf-r1", "hash", {})
    yield s, path
    s.close()


def test_sqlite_calls_run_on_the_loop_and_write_once(sqlite_store: tuple[Store, Path]) -> None:
    store, _ = sqlite_store

    async def main() -> tuple[int, int, int]:
        loop_thread = threading.get_ident()
        seen: list[int] = []

        def write() -> int:
            seen.append(threading.get_ident())
            return store.append_event("r1", "step.started", {"step": "a"})

        seq = await inline.call(write, inline=True)
        return seq, seen.count(loop_thread), inline.budget().inline

    seq, on_loop, counted = asyncio.run(main())
    assert on_loop == 1 and counted == 1
    assert [e.seq for e in store.list_events("r1") if e.type == "step.started"] == [seq]


def test_a_locked_file_sends_the_write_to_a_thread_and_the_loop_keeps_running(
    sqlite_store: tuple[Store, Path],
) -> None:
    """Another connection holds the write lock: the inline write fails at BEGIN at once and runs again in a thread,
    which waits for the lock while the loop goes on; once the lock is released the event is written once."""
    store, path = sqlite_store
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def main() -> tuple[bool, int, int]:
        task = asyncio.create_task(inline.call(store.append_event, "r1", "step.completed", {}, inline=True))
        await asyncio.sleep(0.2)  # the loop runs: the write waits in its thread, not here
        waiting = not task.done()
        other.execute("COMMIT")
        return waiting, await task, inline.budget().fell_back

    try:
        waiting, seq, fell_back = asyncio.run(main())
    finally:
        other.close()
    assert waiting and fell_back == 1
    assert [e.seq for e in store.list_events("r1") if e.type == "step.completed"] == [seq]


def test_past_the_loops_share_a_call_waits_for_the_next_window(sqlite_store: tuple[Store, Path]) -> None:
    """The loop's share of this window is spent: the call waits (other tasks run meanwhile), then runs on the
    loop, not in a thread."""
    store, _ = sqlite_store

    async def main() -> tuple[bool, bool, bool, int]:
        loop_thread = threading.get_ident()
        others_ran = asyncio.Event()
        spent = inline.budget()
        spent.wait_s(time.perf_counter())  # opens a window
        spent.used = inline.SHARE * inline.WINDOW_S  # as if inline calls had spent its share already

        def read() -> tuple[bool, int]:
            return others_ran.is_set(), threading.get_ident()

        waiter = asyncio.create_task(inline.call(read, inline=True))
        await asyncio.sleep(0)
        others_ran.set()
        after_others, ident = await waiter
        found = await inline.call(store.get_run, "r1", inline=True)
        return after_others, ident == loop_thread, found is not None, spent.deferred

    after_others, on_loop, found, deferred = asyncio.run(main())
    assert after_others and on_loop and found and deferred == 1


def test_other_errors_are_raised_on_the_loop(sqlite_store: tuple[Store, Path]) -> None:
    store, _ = sqlite_store

    async def main() -> None:
        await inline.call(store.load_plan, "no-such-plan", inline=True)

    with pytest.raises(KeyError):
        asyncio.run(main())


def test_a_database_error_other_than_a_lock_is_raised_not_run_again(sqlite_store: tuple[Store, Path]) -> None:
    store, _ = sqlite_store
    calls: list[int] = []

    def broken() -> None:
        calls.append(threading.get_ident())
        with store._write() as s:
            s.execute(text("INSERT INTO no_such_table VALUES (1)"))

    async def main() -> tuple[int, int]:
        with pytest.raises(OperationalError, match="no_such_table"):
            await inline.call(broken, inline=True)
        return threading.get_ident(), inline.budget().fell_back

    loop_thread, fell_back = asyncio.run(main())
    assert calls == [loop_thread] and fell_back == 0


def test_postgresql_and_redis_keep_threads(sqlite_store: tuple[Store, Path], pg_url: str) -> None:
    local, _ = sqlite_store
    remote = Store(pg_url)
    try:
        remote.migrate()
        assert inline_calls(local, None) and not inline_calls(local, "redis://127.0.0.1:6379/0")
        assert not inline_calls(local, None, enabled=False) and not inline_calls(remote, None)

        async def main() -> bool:
            loop_thread = threading.get_ident()
            ident = await db_call(threading.get_ident, inline=inline_calls(remote, None))
            remote.ping()
            return ident != loop_thread

        assert asyncio.run(main())
    finally:
        remote.close()
