"""Pausing a run between steps over the API, on the dev server: the run holds before its next step across a
worker restart (the new worker replays it paused and starts nothing), and resume takes it to completion; the
Web UI's current details say who paused it, the store keeps `run.paused` / `run.resumed`, the guard audits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType

from botarmy.settings import Settings
from botarmy.temporal import connect
from store import Store
from store.identity import AuditFilter
from tests.api.conftest import api_client, assert_problem
from tests.api.test_runs_e2e import wait_for_status
from tests.conftest import running_worker
from tests.workflows.test_visibility import current_details
from workflows.contracts import ACTIVITY_AGENT_STEP


async def _until(client: httpx.AsyncClient, run_id: str, ok: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        run = (await client.get(f"/runs/{run_id}")).json()
        if ok(run):
            return run
        assert time.monotonic() < deadline, run
        await asyncio.sleep(0.2)


async def test_a_paused_run_holds_across_a_worker_restart_and_resume_completes_it(
        live_settings: Settings, bmad_dir: Path, sqlite_url: str):
    temporal = await connect(live_settings.temporal_address)
    store = Store(sqlite_url)
    async with api_client(live_settings, [bmad_dir], "admin", user="olga") as (_, client):
        async with running_worker(temporal, live_settings, store):
            run_id = (await client.post("/runs", json={"workflow": "quick-fix", "approve": ["pm"]})).json()["run_id"]
            await _until(client, run_id, lambda r: bool(r["pending_approvals"]))  # the pm step waits for a person
            paused = await client.post(f"/runs/{run_id}/pause")
            assert paused.status_code == 200, paused.text
            assert paused.json() == {"run_id": run_id, "paused": True, "by": "olga", "before": None}
            assert "paused already" in assert_problem(await client.post(f"/runs/{run_id}/pause"), 409)["detail"]
            approved = await client.post(f"/runs/{run_id}/approvals/01-pm-prd", json={"decision": "approve"})
            assert approved.status_code == 200, approved.text
            held = await _until(client, run_id, lambda r: r["paused_before"] == "02-dev-implementation-notes")
        handle = temporal.get_workflow_handle(held["temporal_workflow_id"])

        async with running_worker(temporal, live_settings, store):  # a new worker: it replays the run, paused
            again = (await client.get(f"/runs/{run_id}")).json()
            assert (again["status"], again["paused"], again["paused_before"]) == (
                "running", "olga", "02-dev-implementation-notes")
            statuses = [s["status"] for s in again["steps"]]
            assert statuses[0] == "completed" and set(statuses[1:]) == {"pending"}, statuses
            assert await current_details(handle) == (
                "Paused by olga before `02-dev-implementation-notes`: resume to go on")
            history = await handle.fetch_history()
            started = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                       and e.activity_task_scheduled_event_attributes.activity_type.name == ACTIVITY_AGENT_STEP]
            assert len(started) == 1  # the pm step only: nothing started while paused

            resumed = await client.post(f"/runs/{run_id}/resume")
            assert resumed.status_code == 200, resumed.text
            assert resumed.json()["before"] == "02-dev-implementation-notes"
            done = await wait_for_status(client, run_id, {"completed", "failed"})
        assert done["status"] == "completed", done["error"]
        assert {s["status"] for s in done["steps"]} == {"completed"}
        assert_problem(await client.post(f"/runs/{run_id}/resume"), 409)

    events = [(e.type, e.data.get("by")) for e in store.list_events(run_id) if e.type.startswith("run.")]
    assert ("run.paused", "olga") in events and ("run.resumed", "olga") in events
    assert events.index(("run.paused", "olga")) < events.index(("run.resumed", "olga"))
    rows = store.identity.list_audit(AuditFilter(target=run_id))
    assert {(r.action, r.status) for r in rows} >= {("pause_run", 200), ("pause_run", 409), ("resume_run", 200),
                                                    ("resume_run", 409)}
