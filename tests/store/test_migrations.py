from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from store import Store, get_store, upgrade
from store.migrate import current_revision, head_revision
from store.models import Base

ROOT = Path(__file__).resolve().parents[2]
TABLES = {"plans", "run_models", "runs", "steps", "blobs", "artifacts", "usage", "events", "alembic_version",
          "users", "tokens", "sessions", "audit", "approver_roles"}


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def test_upgrade_creates_every_table_at_head(database_url: str) -> None:
    upgrade(database_url)
    assert _tables(database_url) == TABLES
    assert _revision(database_url) == head_revision()


def test_migrating_twice_is_a_no_op(store: Store, database_url: str) -> None:
    store.migrate()
    run_id = "run-kept"
    store.create_run(run_id, "wf", "bmad-wf-1", "h", {})
    store.migrate()
    upgrade(database_url)
    assert _revision(database_url) == head_revision()
    assert store.get_run(run_id) is not None


def test_first_use_migrates_without_an_explicit_call(store: Store) -> None:
    assert store.list_runs() == []


def test_migration_matches_the_models(database_url: str) -> None:
    upgrade(database_url)
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_threads_migrating_at_once_all_succeed(database_url: str) -> None:
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def migrate() -> None:
        barrier.wait()
        try:
            upgrade(database_url)
        except BaseException as exc:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=migrate, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert _revision(database_url) == head_revision()
    assert _tables(database_url) == TABLES


def test_threads_migrating_different_databases_at_once_all_succeed(tmp_path: Path) -> None:
    # Alembic's context is process-global: upgrades of unrelated databases must not interleave.
    urls = [f"sqlite:///{tmp_path}/db{i}.sqlite" for i in range(4)]
    barrier = threading.Barrier(len(urls))
    errors: list[BaseException] = []

    def migrate(url: str) -> None:
        barrier.wait()
        try:
            Store(url).list_runs()  # first use migrates
        except BaseException as exc:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(url,), daemon=True) for url in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert all(_revision(url) == head_revision() for url in urls)


def test_processes_migrating_at_once_all_succeed(database_url: str) -> None:
    # Each process sleeps until the same instant, so the upgrades really overlap.
    start_at = time.time() + 2.5
    script = (
        "import sys, time; from store import upgrade; "
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); upgrade(sys.argv[1])"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, database_url, str(start_at)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    assert _revision(database_url) == head_revision()
    assert _tables(database_url) == TABLES


def test_postgres_migrations_stay_in_the_urls_schema(pg_schema: tuple[str, str]) -> None:
    schema, url = pg_schema
    upgrade(url)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_schema()")).scalar() == schema
            in_schema = conn.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :schema"),
                {"schema": schema},
            ).scalars()
            assert set(in_schema) == TABLES
            version_table = conn.execute(text("SELECT 'alembic_version'::regclass::text")).scalar()
            assert version_table == "alembic_version"  # resolved through search_path, i.e. this schema
            in_public = conn.execute(
                text(
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_name = 'alembic_version'"
                )
            ).scalar()
            assert in_public == 0
    finally:
        engine.dispose()


def test_sqlite_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nested/dir/botarmy.db"
    store = Store(url)
    try:
        store.migrate()  # also creates the missing parent directories
        with store._engine.connect() as conn:  # noqa: SLF001 - the pragmas are per connection
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        store.close()
    assert (tmp_path / "nested" / "dir" / "botarmy.db").exists()


def test_get_store_returns_one_store_per_url(database_url: str) -> None:
    first = get_store(database_url)
    try:
        assert get_store(database_url) is first
        assert first.list_runs() == []
    finally:
        first.close()
