"""Copies of GET answers (api/views.py): replayed while the database's change stamp stands, never older than the
database. Commits come from a second Store (its own connections, as another process has), on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from fastapi import FastAPI

from api.views import ViewCache
from botarmy.settings import Settings
from store import Store
from tests.api.conftest import api_client

ROOT = Path(__file__).resolve().parents[2]


def view_cache(app: FastAPI) -> ViewCache:
    layer = app.middleware_stack
    while layer is not None and not isinstance(layer, ViewCache):
        layer = getattr(layer, "app", None)
    assert isinstance(layer, ViewCache), "the app has no ViewCache layer"
    return layer


def test_the_stamp_moves_with_every_commit_of_any_connection_and_only_then(db_url: str) -> None:
    reader, writer = Store(db_url), Store(db_url)
    reader.migrate()
    try:
        stamp = reader.stamp
        assert stamp.kind in ("sqlite", "postgresql")
        first = stamp.read()
        reader.list_runs()  # reading changes nothing
        assert stamp.read() == first
        writer.create_run("run-a", "quick-fix", "wf-a", "h" * 64, {})
        second = stamp.read()
        assert second != first
        assert stamp.read() == second
        reader.append_event("run-a", "x.y", {})  # this process's own commits move it too
        assert stamp.read() != second
        third = stamp.read()
        # another process
        subprocess.run([sys.executable, "-c", "import sys; from store import Store; s = Store(sys.argv[1]); "
                        "s.append_event('run-a', 'x.z', {}); s.close()", db_url],
                       cwd=ROOT, check=True, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        assert stamp.read() != third
    finally:
        reader.close()
        writer.close()


def test_a_database_in_memory_gives_no_stamp_so_nothing_is_copied() -> None:
    store = Store("sqlite:///:memory:")
    try:
        assert store.stamp.kind == "none" and store.stamp.read() is None
    finally:
        store.close()


async def test_copies_are_replayed_until_another_store_commits(db_url: str, down_settings: Settings,
                                                               bmad_dir: Path) -> None:
    other = Store(db_url)
    other.migrate()
    other.create_run("run-1", "quick-fix", "bmad-quick-fix-run-1", "h" * 64, {"n": 1})
    other.finish_run("run-1", "completed")
    settings = down_settings.model_copy(update={"database_url": db_url})
    try:
        async with api_client(settings, [bmad_dir], "viewer") as (app, client):
            first = await client.get("/runs")
            assert [r["run_id"] for r in first.json()["items"]] == ["run-1"]
            cache = view_cache(app)
            before = (cache.hits, cache.misses)
            again = await client.get("/runs")
            assert again.json() == first.json() and (cache.hits, cache.misses) == (before[0] + 1, before[1])
            assert again.headers["x-request-id"] != first.headers["x-request-id"]  # the guard still ran

            other.create_run("run-2", "quick-fix", "bmad-quick-fix-run-2", "h" * 64, {"n": 2})
            after = (await client.get("/runs")).json()
            assert [r["run_id"] for r in after["items"]] == ["run-2", "run-1"]

            page = await client.get("/runs/run-1")
            assert page.json()["status"] == "completed" and "no-store" not in page.headers.get("cache-control", "")
            hits = cache.hits
            assert (await client.get("/runs/run-1")).json() == page.json() and cache.hits == hits + 1
            other.append_event("run-1", "note.added", {})
            assert (await client.get("/runs/run-1")).json() == page.json() and cache.hits == hits + 1  # computed

            # sign-in is checked on every request, copies or not
            refused = await client.get("/runs", headers={"Authorization": "Bearer nope"})
            assert refused.status_code == 401
    finally:
        other.close()


async def test_a_running_runs_page_is_never_copied(sqlite_url: str, down_settings: Settings, bmad_dir: Path) -> None:
    other = Store(sqlite_url)
    other.migrate()
    other.create_run("run-r", "quick-fix", "bmad-quick-fix-run-r", "h" * 64, {})
    settings = down_settings.model_copy(update={"database_url": sqlite_url})
    try:
        async with api_client(settings, [bmad_dir], "viewer") as (app, client):
            page = await client.get("/runs/run-r")
            assert page.status_code == 200 and page.json()["status"] == "running"
            assert page.headers["cache-control"] == "no-store"  # Temporal's answer is part of it
            cache = view_cache(app)
            hits = cache.hits
            await client.get("/runs/run-r")
            assert cache.hits == hits
    finally:
        other.close()


async def test_concurrent_requests_for_a_changed_answer_share_one_computation(
        sqlite_url: str, down_settings: Settings, bmad_dir: Path) -> None:
    other = Store(sqlite_url)
    other.migrate()
    for i in range(3):
        other.create_run(f"run-{i}", "quick-fix", f"bmad-quick-fix-run-{i}", "h" * 64, {})
    settings = down_settings.model_copy(update={"database_url": sqlite_url})
    try:
        async with api_client(settings, [bmad_dir], "viewer") as (app, client):
            await client.get("/runs")
            cache = view_cache(app)
            other.finish_run("run-0", "completed")
            misses, shared = cache.misses, cache.shared
            answers = await asyncio.gather(*(client.get("/runs") for _ in range(20)))
            assert {a.status_code for a in answers} == {200}
            assert all(a.json() == answers[0].json() for a in answers)
            assert answers[0].json()["items"][-1]["status"] == "completed"
            assert cache.misses == misses + 1 and cache.shared == shared + 19
    finally:
        other.close()
