"""A run whose workflow Temporal closed outside our code (here: terminated, as the server does at its history
limit) is ended in the store with Temporal's reason, its open steps closed: when `GET /runs/{id}`, `status` or
`cancel` looks at it, and by the worker's periodic pass when nobody does. Dev server, real worker."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from botarmy.settings import Settings
from botarmy.temporal import connect
from store import Store
from tests.api.conftest import api_client, assert_problem
from tests.cli.conftest import botarmy
from tests.conftest import ROOT, running_worker, subprocess_env

REASON = "Workflow history size exceeds limit."  # what the server says when it terminates a run at its limit


async def waiting_run(client: httpx.AsyncClient) -> tuple[str, str]:
    """A quick-fix run waiting for the pm's approval: (run id, Temporal workflow id)."""
    created = await client.post("/runs", json={"workflow": "quick-fix", "approve": ["pm"]})
    assert created.status_code == 201, created.text
    run_id = created.json()["run_id"]
    deadline = time.monotonic() + 60
    while not (run := (await client.get(f"/runs/{run_id}")).json())["pending_approvals"]:
        assert time.monotonic() < deadline, "the run never waited for the pm"
        await asyncio.sleep(0.2)
    assert run["status"] == "running"
    return run_id, run["temporal_workflow_id"]


def assert_ended(store: Store, run_id: str) -> None:
    run = store.get_run(run_id)
    assert run is not None
    assert run.status == "failed"
    assert run.error is not None and run.error.startswith("Temporal terminated the workflow") and REASON in run.error
    assert {s.status for s in run.steps} <= {"completed", "failed", "skipped"}
    assert [s.status for s in run.steps if s.agent] == ["completed", "skipped", "skipped"]  # prd done, waiting
    [ended] = [e for e in store.list_events(run_id) if e.type == "run.failed"]
    assert ended.data == {"error": run.error, "reconciled": True}


async def test_status_get_and_cancel_tell_the_truth_about_a_run_temporal_terminated(
    live_settings: Settings, bmad_dir: Path, sqlite_url: str, tmp_path: Path
) -> None:
    temporal = await connect(live_settings.temporal_address)
    store = Store(sqlite_url)
    async with running_worker(temporal, live_settings, store), api_client(live_settings, [bmad_dir]) as (_, client):
        runs = [await waiting_run(client) for _ in range(4)]
        for _, wid in runs:
            await temporal.get_workflow_handle(wid).terminate(reason=REASON)
        (by_get, _), (by_cancel, _), (by_status, _), (by_cli_cancel, _) = runs
        assert store.get_run(by_get).status == "running"  # nothing has looked yet

        run = (await client.get(f"/runs/{by_get}")).json()
        assert (run["status"], run["pending_approvals"]) == ("failed", [])
        assert REASON in run["error"]
        assert_ended(store, by_get)

        refused = assert_problem(await client.post(f"/runs/{by_cancel}/cancel"), 409)
        assert refused["detail"].startswith(f"run {by_cancel!r} has already ended (it is failed): Temporal terminated")
        assert_ended(store, by_cancel)

    env = subprocess_env(DATABASE_URL=sqlite_url, TEMPORAL_ADDRESS=live_settings.temporal_address,
                         BOTARMY_HOME_DIR=str(tmp_path / "home"))
    done = botarmy("status", by_status, "--json", env=env)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["status"] == "failed" and REASON in shown["error"]
    assert_ended(store, by_status)

    done = botarmy("cancel", by_cli_cancel, env=env)
    assert done.returncode == 1
    assert done.stderr.strip().startswith(f"error: run {by_cli_cancel} has already ended: failed: Temporal terminated")
    assert_ended(store, by_cli_cancel)


async def test_the_worker_reconciles_a_terminated_run_without_anyone_asking(
    live_settings: Settings, bmad_dir: Path, sqlite_url: str, tmp_path: Path
) -> None:
    queue = f"tq-{uuid.uuid4().hex[:8]}"
    settings = live_settings.model_copy(update={"task_queue": queue})
    env = subprocess_env(DATABASE_URL=sqlite_url, TEMPORAL_ADDRESS=settings.temporal_address,
                         BOTARMY_TASK_QUEUE=queue, BOTARMY_RECONCILE_INTERVAL_S="0.5",
                         BOTARMY_HOME_DIR=str(tmp_path / "home"))
    worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    store = Store(sqlite_url)
    store.migrate()
    try:
        temporal = await connect(settings.temporal_address)
        async with api_client(settings, [bmad_dir]) as (_, client):
            run_id, wid = await waiting_run(client)
        await temporal.get_workflow_handle(wid).terminate(reason=REASON)
        deadline = time.monotonic() + 30
        while store.get_run(run_id).status == "running":  # only the store is read: no status, no GET
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            assert time.monotonic() < deadline, "the worker did not reconcile the run"
            await asyncio.sleep(0.2)
        assert_ended(store, run_id)
    finally:
        worker.terminate()
        worker.wait(15)
