"""The largest values the limits accept still make a run Temporal can finish: the most loop iterations, inputs at
their size limit, every decision comment at its limit up to the run's total, an amendment at its limit, through
the API against the dev server and a real worker. Every payload of the run's history stays under Temporal's
256 KB warning."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from bmad.limits import Limits, json_bytes
from botarmy.settings import Settings
from botarmy.temporal import connect
from store import Store
from tests.api.conftest import api_client, assert_problem
from tests.conftest import running_worker

TEMPORAL_PAYLOAD_WARN = 256 * 1024


async def next_pending(client: httpx.AsyncClient, run_id: str, step: str, asked: set[str]) -> None:
    """Until `step` waits for a decision it was not asked before (each revision is asked anew)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = (await client.get(f"/runs/{run_id}")).json()
        assert run["status"] == "running", run["error"]
        for p in run["pending_approvals"] or []:
            if p["step"] == step and p["requested_at"] not in asked:
                asked.add(p["requested_at"])
                return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{step} was not asked again")


async def test_a_run_at_every_limit_completes_with_every_payload_under_the_warning(
    live_settings: Settings, bmad_dir: Path, sqlite_url: str
) -> None:
    limits = Limits()
    settings = live_settings.model_copy(update={"step_heartbeat_s": 30})
    inputs = {"for_each_epic": limits.loop_items, "architecture_suggests_prd_changes": False, "project_name": ""}
    inputs["project_name"] = "p" * (limits.run_input_bytes - json_bytes(inputs))
    assert json_bytes(inputs) == limits.run_input_bytes
    comment = "c" * limits.comment_bytes
    temporal = await connect(settings.temporal_address)
    async with running_worker(temporal, settings, Store(sqlite_url)), api_client(settings, [bmad_dir]) as (_, client):
        created = await client.post("/runs", json={"workflow": "greenfield-service", "inputs": inputs,
                                                   "approve": ["analyst", "architect"]})
        assert created.status_code == 201, created.text
        run_id = created.json()["run_id"]
        decisions = [("01-analyst-project-brief", "reject")] * 3 + [("01-analyst-project-brief", "amend")]
        decisions += [("03-architect-architecture", "reject")] * 3 + [("03-architect-architecture", "approve")]
        asked: set[str] = set()
        for step, verb in decisions:  # 8 comments of 16 KiB: the run's 128 KiB of comments, exactly
            await next_pending(client, run_id, step, asked)
            body = {"decision": verb, "comment": comment, "by": "tester"}
            if verb == "amend":
                body["content"] = "# Brief\n" + "a" * (limits.amendment_bytes - 8)
            if (step, verb) == ("03-architect-architecture", "approve"):  # one byte more is refused
                over = assert_problem(await client.post(f"/runs/{run_id}/approvals/{step}",
                                                        json={**body, "comment": comment + "!"}), 413)
                assert over["errors"][0]["setting"] == "BOTARMY_MAX_COMMENT_BYTES"
            decided = await client.post(f"/runs/{run_id}/approvals/{step}", json=body)
            assert decided.status_code == 200, decided.text
        deadline = time.monotonic() + 300
        while (run := (await client.get(f"/runs/{run_id}")).json())["status"] == "running":
            assert time.monotonic() < deadline, "the run did not finish"
            await asyncio.sleep(0.5)
        assert run["status"] == "completed", run["error"]
        assert sum(1 for a in run["artifacts"] if a["name"].startswith(f"epic-{limits.loop_items}/")) == 3
        history = await temporal.get_workflow_handle(run["temporal_workflow_id"]).fetch_history()
    largest = max(event.ByteSize() for event in history.events)
    total = sum(event.ByteSize() for event in history.events)
    figures = f"{len(history.events)} events, {total} bytes, largest event {largest} bytes"
    assert largest < TEMPORAL_PAYLOAD_WARN, figures
    assert total < 10 * 1024 * 1024, figures  # Temporal warns at 10 MB of history and refuses at 50 MB
