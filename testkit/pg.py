"""PostgreSQL for tests: make sure the server is up, and hand out throwaway schemas in database `test`."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

PG_BASE_URL = os.environ.get("BOTARMY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
START_TIMEOUT_S = 20.0

_checked = False


def pg_url_for_schema(schema: str, base_url: str = PG_BASE_URL) -> str:
    """`base_url` with search_path set to `schema`, so tables and alembic_version land in it."""
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def ensure_postgres(base_url: str = PG_BASE_URL) -> None:
    """Connect, or start the local cluster and wait for it; raise (never skip) if PostgreSQL stays down."""
    global _checked
    if _checked:
        return
    if not can_connect(base_url):
        pg_ctlcluster("start")
        deadline = time.monotonic() + START_TIMEOUT_S
        while not can_connect(base_url):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL is not reachable at {base_url} and could not be started; "
                    "the store tests require it (set BOTARMY_TEST_PG_URL to use another server)"
                )
            time.sleep(0.5)
    _checked = True


def create_schema(schema: str, base_url: str = PG_BASE_URL) -> None:
    _admin(f'CREATE SCHEMA "{schema}"', base_url)


def drop_schema(schema: str, base_url: str = PG_BASE_URL) -> None:
    _admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', base_url)


@contextmanager
def temporary_schema(prefix: str = "botarmy_t_", base_url: str = PG_BASE_URL) -> Iterator[tuple[str, str]]:
    """Yield (schema, url) for a fresh, empty schema that is dropped afterwards."""
    ensure_postgres(base_url)
    schema = f"{prefix}{uuid.uuid4().hex[:8]}"
    create_schema(schema, base_url)
    try:
        yield schema, pg_url_for_schema(schema, base_url)
    finally:
        drop_schema(schema, base_url)


def _admin(sql: str, base_url: str) -> None:
    engine = create_engine(base_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            # A test that leaks an open transaction should fail its teardown, not hang the suite.
            conn.execute(text("SET lock_timeout = '30s'"))
            conn.execute(text(sql))
    finally:
        engine.dispose()


def can_connect(base_url: str = PG_BASE_URL, timeout_s: int = 3) -> bool:
    engine = create_engine(base_url, poolclass=NullPool, connect_args={"connect_timeout": timeout_s})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def pg_ctlcluster(action: str, timeout_s: int = 120) -> None:
    """`pg_ctlcluster ... main ACTION` (start, restart, stop) for each local cluster version."""
    conf = Path("/etc/postgresql")
    versions = sorted(p.name for p in conf.iterdir()) if conf.is_dir() else []
    for version in versions:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
            check=False,
            capture_output=True,
            timeout=timeout_s,
        )


PG_BIN = Path(os.environ.get("BOTARMY_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PrivateServer:
    """A throwaway PostgreSQL cluster of a test's own (initdb into a temp dir, its own port): a test may stop
    and start it to make an outage, which it must never do to the shared cluster other tests use."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.data, self.log = root / "data", root / "server.log"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def _run(self, *args: str, timeout_s: float = 60) -> None:
        # initdb and postgres refuse to run as root: as root, run them as the postgres user
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=timeout_s, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed ({done.returncode}): {done.stderr.strip()[-500:]}")

    def init(self) -> PrivateServer:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            subprocess.run(["chown", "postgres", str(self.root)], check=True)
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync",
                  "-E", "UTF8")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "-t", "60", "start", timeout_s=90)

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")


@contextmanager
def private_postgres(port: int) -> Iterator[PrivateServer]:
    """A private cluster on `port` in a temp dir of its own (the postgres user must reach it: not under a test's
    0700 tmp_path), started; stopped (if it runs) and removed afterwards."""
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="botarmy-pg-"))
    server = PrivateServer(root, port).init()
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        except RuntimeError:
            pass  # the test left it stopped
        shutil.rmtree(root, ignore_errors=True)
