"""Worker processes and databases for end-to-end tests against the real dev server."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client

from bmad import compile_workflow, load_bmad
from bmad.plan import Plan
from botarmy.settings import Settings
from botarmy.temporal import connect, ensure_search_attributes, has_pollers
from store import Store
from testkit.pg import temporary_schema
from tests.conftest import OWN_BMAD, ROOT, subprocess_env


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/botarmy.db"
        return
    with temporary_schema("botarmy_e2e_") as (_, url):
        yield url


@dataclass
class Prepared:
    settings: Settings
    store: Store
    plan: Plan
    client: Client


async def prepare_run(env: dict[str, str], workflow: str, **settings: object) -> Prepared:
    """Everything a test needs before it starts `workflow` of our .bmad-core against the worker processes'
    database and server: settings, a migrated store, the stored plan, a client with our search attributes."""
    s = Settings(database_url=env["DATABASE_URL"], task_queue=env["BOTARMY_TASK_QUEUE"], **settings)
    store = Store(s.database_url)
    store.migrate()
    plan = compile_workflow(load_bmad([OWN_BMAD]), workflow)
    store.save_plan(plan.definition_hash, plan.workflow_id, plan.model_dump_json())
    client = await connect(env["TEMPORAL_ADDRESS"])
    await ensure_search_attributes(client)
    return Prepared(s, store, plan, client)


class WorkerProcess:
    """`python -m worker` as a real OS process, so it can be SIGKILLed."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker"], cwd=ROOT, env=self.env,
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def wait_for_poller(address: str, task_queue: str, timeout_s: float = 30) -> None:
    client = await connect(address)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await has_pollers(client, task_queue):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"no worker polled {task_queue} within {timeout_s} s")


@pytest.fixture
def worker_env(dev_server: str, any_db_url: str) -> dict[str, str]:
    return subprocess_env(
        TEMPORAL_ADDRESS=dev_server,
        DATABASE_URL=any_db_url,
        BOTARMY_TASK_QUEUE=f"e2e-{uuid.uuid4().hex[:8]}",
        BOTARMY_LOG_LEVEL="INFO",
    )


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        w.stop()
