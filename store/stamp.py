"""Whether the database may have changed since a moment ago, for copies of read answers (api/views.py).

A stamp is an opaque value that differs whenever a transaction has been committed to the database in between, by
any connection of any process; equal stamps mean nothing was committed, so a copy made under the first is still
the answer. It may change without a change that matters (it covers the whole database), never the other way.

- SQLite: `PRAGMA data_version` on a connection of its own that never writes ("different if changes were
  committed to the database by any other connection in the interim"); a few microseconds in WAL mode, where a
  reader waits for no writer, so it is read on the caller's thread (and gives up after 0.1 s if the file is locked
  all the same: the caller then answers without a copy). A database in memory has no second connection to ask: no
  stamp.
- PostgreSQL: the current snapshot (`pg_current_snapshot()`, xmin:xmax:in-progress ids). A writing transaction has
  an id, so one that ends, or begins to write, after a snapshot moves xmax or the in-progress list; one round
  trip, read in a thread."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, text

LOCKED_WAIT_S = 0.1  # how long a SQLite stamp read waits for a locked file (on the event loop's thread)


class ChangeStamp:
    """`read()` the stamp now (None: this database gives none, copy nothing). `cheap` when it may be read on the
    event loop's thread (no network, no lock)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._sqlite: sqlite3.Connection | None = None
        url = engine.url
        backend = url.get_backend_name()
        database = url.database or ""
        self.kind = "none"
        if backend == "sqlite" and database not in ("", ":memory:") and "mode=memory" not in str(url):
            self.kind, self._path, self._uri = "sqlite", database, database.startswith("file:")
        elif backend == "postgresql":
            self.kind = "postgresql"
        self.cheap = self.kind == "sqlite"

    def read(self) -> Any:
        if self.kind == "sqlite":
            with self._lock:
                if self._sqlite is None:
                    self._sqlite = sqlite3.connect(self._path, uri=self._uri, check_same_thread=False,
                                                   isolation_level=None, timeout=LOCKED_WAIT_S)
                return self._sqlite.execute("PRAGMA data_version").fetchone()[0]
        if self.kind == "postgresql":
            with self._engine.connect() as conn:
                return conn.execute(text("SELECT pg_current_snapshot()::text")).scalar_one()
        return None

    def close(self) -> None:
        with self._lock:
            if self._sqlite is not None:
                self._sqlite.close()
                self._sqlite = None
