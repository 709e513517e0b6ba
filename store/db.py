"""Engines for the store: SQLite tuned for a worker and a CLI writing at once, PostgreSQL with pre-ping."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from store.models import Base

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_S = 30
# Execution option on connections that will write: SQLite then takes the write lock at BEGIN,
# so two writers queue on busy_timeout instead of failing when a read lock cannot be upgraded.
WRITE_OPTION = "botarmy_write"
# Set while a store call runs on an event loop (store/inline.py): a write transaction that finds the SQLite file
# locked fails at BEGIN at once (`is_locked`) instead of waiting up to busy_timeout with the loop blocked.
NO_WAIT: ContextVar[bool] = ContextVar("botarmy_store_no_wait", default=False)


def make_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True)


def writer(engine: Engine) -> Engine:
    """The same engine (same pool) with write transactions; a no-op difference outside SQLite."""
    return engine.execution_options(**{WRITE_OPTION: True})


def is_unique_violation(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == "23505")
    return "UNIQUE constraint failed" in str(exc.orig)


def is_locked(exc: DBAPIError) -> bool:
    """A SQLite write that could not take the database's write lock (SQLITE_BUSY)."""
    return isinstance(exc.orig, sqlite3.OperationalError) and "database is locked" in str(exc.orig)


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in str(url)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    if in_memory:
        # One shared connection, or every checkout would see its own empty database.
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"]["check_same_thread"] = False
    elif not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the sqlite3 module, emits BEGIN (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    """Switch to WAL (persistent in the file). On a new database several processes may try at once, and
    SQLite answers the losers with "locked" at once rather than waiting, so wait here."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            mode = str(cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
            if mode in ("wal", "memory"):
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            mode = str(exc)
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError(f"could not switch SQLite to WAL: {mode}")
        time.sleep(0.02)


def _sqlite_on_begin(conn: Connection) -> None:
    if not conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN DEFERRED")
    elif not NO_WAIT.get():
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:  # on an event loop: the lock now or a "database is locked" error now (store/inline.py)
        conn.exec_driver_sql("PRAGMA busy_timeout = 0")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")


_BUILT: dict[tuple[str, str], Any] = {}


def built(session: Session, name: str, build: Callable[[Callable[[type[Base]], Any]], T]) -> T:
    """A write statement built once per dialect (bind parameters, no values): building a statement and its cache
    key on every call cost more than executing it on SQLite. `build` gets the dialect's INSERT constructor."""
    dialect = session.get_bind().dialect.name
    stmt = _BUILT.get((name, dialect))
    if stmt is None:
        stmt = _BUILT[(name, dialect)] = build(lambda model: _insert(dialect, model))
    return cast(T, stmt)


def _insert(dialect: str, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"store does not support the {dialect} dialect")


def insert_for(session: Session, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """INSERT with ON CONFLICT support; the two dialects share that API."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"store does not support the {dialect} dialect")
