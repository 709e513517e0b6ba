"""Schema migrations, run programmatically: `upgrade(url)` for the CLI, `ensure_migrated` on first use."""

from __future__ import annotations

import threading
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from store.db import make_engine, writer

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock(int4, int4): a namespace for BotArmy, then the schema being migrated.
PG_LOCK_NAMESPACE = 0x626F74  # "bot"

# Alembic's `context` and `op` are module-global proxies, so two upgrades in one process must never
# overlap, whatever database each targets; the database lock then orders processes.
_lock = threading.RLock()
_migrated: set[str] = set()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(database_url: str) -> None:
    """Bring the database at `database_url` to the latest schema (what `botarmy db upgrade` runs)."""
    engine = make_engine(database_url)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()


def upgrade_engine(engine: Engine) -> None:
    """Upgrade to head; safe to run from several processes at once on the same database."""
    try:
        _upgrade_locked(engine)
    except DBAPIError as exc:
        # SQLite has no advisory lock; BEGIN IMMEDIATE serialises upgrades, and should a concurrent
        # upgrade still win the race, its tables exist now: re-read the version and go again once.
        if engine.dialect.name != "sqlite" or "already exists" not in str(exc.orig):
            raise
        log.warning("store.migrate.race", error=str(exc.orig))
        _upgrade_locked(engine)


def ensure_migrated(engine: Engine, *, force: bool = False) -> None:
    """Upgrade once per process per database URL (`force`: check again even if done already)."""
    key = engine.url.render_as_string(hide_password=False)
    if key in _migrated and not force:
        return
    with _lock:
        if key in _migrated and not force:
            return
        upgrade_engine(engine)
        _migrated.add(key)


def _upgrade_locked(engine: Engine) -> None:
    cfg = alembic_config()
    with _lock, writer(engine).connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:ns, hashtext(coalesce(current_schema(), '')))"),
                {"ns": PG_LOCK_NAMESPACE},
            )
        # Alembic reads the current version inside this transaction, i.e. after the lock is held.
        before = MigrationContext.configure(conn).get_current_revision()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        after = MigrationContext.configure(conn).get_current_revision()
    if after != before:
        log.info("store.migrated", url=engine.url.render_as_string(hide_password=True), start=before, end=after)
