"""What the CLI tests share: running `python -m botarmy.cli` as a user does, and a home of its own per test."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bmad import compile_workflow, load_bmad
from store import Store
from tests.conftest import OWN_BMAD, ROOT, free_port, subprocess_env

BOTARMY = [sys.executable, "-m", "botarmy.cli"]


def botarmy(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BOTARMY, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def stderr_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.strip()]


@pytest.fixture
def home_env(tmp_path: Path) -> dict[str, str]:
    """A user's environment with its own home dir, database and task queue, and no Temporal at the default
    address: tests add TEMPORAL_ADDRESS themselves."""
    env = subprocess_env(
        BOTARMY_HOME_DIR=str(tmp_path / "home"),
        DATABASE_URL=f"sqlite:///{tmp_path}/botarmy.db",
        BOTARMY_TASK_QUEUE=f"tq-{uuid.uuid4().hex[:8]}",
        BOTARMY_TEMPORAL_UI_PORT=str(free_port()),
        TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
    )
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "REDIS_URL"):
        env.pop(name, None)
    return env


def stored_run(database_url: str, status: str = "running", error: str | None = None) -> str:
    """A run of quick-fix in the store only (Temporal has never heard of it); its id."""
    plan = compile_workflow(load_bmad([OWN_BMAD]), "quick-fix")
    store = Store(database_url)
    store.migrate()
    store.save_plan(plan.definition_hash, plan.workflow_id, plan.model_dump_json())
    run_id = uuid.uuid4().hex[:10]
    store.create_run(run_id, plan.workflow_id, f"bmad-quick-fix-{run_id}", plan.definition_hash, {})
    if status != "running":
        store.finish_run(run_id, status, error)
    store.close()
    return run_id
