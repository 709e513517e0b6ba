"""Decisions as the signed-in person, against a real Temporal and worker: per-step approver roles from the run
request, bulk decisions (each audited), approval statistics, and the audit trail of every mutation."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from botarmy.settings import Settings
from botarmy.temporal import connect
from store import Store
from tests.api.conftest import api_client, assert_problem, bearer, make_token
from tests.conftest import running_worker


async def _waiting(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while not (run := (await client.get(f"/runs/{run_id}")).json())["pending_approvals"]:
        assert run["status"] == "running" and time.monotonic() < deadline, run
        await asyncio.sleep(0.2)
    [waiting] = run["pending_approvals"]
    return waiting


async def test_approver_roles_bulk_decisions_statistics_and_the_audit_trail(
    live_settings: Settings, bmad_dir: Path, sqlite_url: str
) -> None:
    temporal = await connect(live_settings.temporal_address)
    plain_approver = bearer(make_token(live_settings, "approver", user="paul"))
    lead = bearer(make_token(live_settings, "approver", "product-lead", user="lena"))
    async with running_worker(temporal, live_settings, Store(sqlite_url)), \
            api_client(live_settings, [bmad_dir], "operator", user="otto") as (_, client):
        gated = (await client.post("/runs", json={"workflow": "quick-fix", "approve": {"pm": "product-lead"}})).json()
        free = [(await client.post("/runs", json={"workflow": "quick-fix", "approve": ["pm"]})).json()["run_id"]
                for _ in range(2)]
        step = (await _waiting(client, gated["run_id"]))["step"]

        # an operator may not decide; an approver without the step's role neither, and is told which role
        assert_problem(await client.post(f"/runs/{gated['run_id']}/approvals/{step}", json={"decision": "approve"}),
                       403)
        refused = assert_problem(await client.post(f"/runs/{gated['run_id']}/approvals/{step}",
                                                   json={"decision": "approve"}, headers=plain_approver), 403)
        assert "'product-lead'" in refused["detail"]
        decided = await client.post(f"/runs/{gated['run_id']}/approvals/{step}", headers=lead,
                                    json={"decision": "approve", "by": "somebody-else"})
        assert decided.status_code == 200, decided.text
        assert decided.json()["result"]["by"] == "lena" and decided.json()["result"]["role"] == "product-lead"

        for run_id in free:
            await _waiting(client, run_id)
        bulk = await client.post("/approvals/bulk", headers=plain_approver, json={"items": [
            *({"run_id": r, "step": step, "decision": "approve", "comment": "ok"} for r in free),
            {"run_id": "no-such-run", "step": step, "decision": "approve"}]})
        assert bulk.status_code == 200, bulk.text
        assert [i["status"] for i in bulk.json()["items"]] == [200, 200, 404]
        assert bulk.json()["decided"] == 2 and bulk.json()["refused"] == 1

        for run_id in [gated["run_id"], *free]:
            deadline = time.monotonic() + 60
            while (run := (await client.get(f"/runs/{run_id}")).json())["status"] == "running":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
            assert run["status"] == "completed", run["error"]

        stats = (await client.get("/approvals/stats")).json()
        assert stats["waiting"] == 0 and stats["decided"] >= 3
        by = {g["key"]: g["decided"] for g in stats["by_approver"]}
        assert by["lena"] == 1 and by["paul"] == 2
        assert {g["key"] for g in stats["by_workflow"]} >= {"quick-fix"} and stats["median_s"] >= 0
        assert sum(d["decided"] for d in stats["per_day"]) == stats["decided"]

    async with api_client(live_settings, [bmad_dir], "admin") as (_, admin):
        assert_problem(await admin.get("/audit", headers=plain_approver), 403)
        rows = (await admin.get("/audit", params={"limit": 1000})).json()["items"]
        seen = [(r["user"], r["action"], r["target"], r["status"], r["outcome"]) for r in rows]
        assert seen.count(("otto", "create_run", None, 201, "ok")) == 3
        gated_target = f"{gated['run_id']}/{step}"
        assert ("otto", "decide", gated_target, 403, "refused") in seen
        assert ("paul", "decide", gated_target, 403, "refused") in seen
        assert ("lena", "decide", gated_target, 200, "ok") in seen
        assert {("paul", "decide", f"{r}/{step}", 200, "ok") for r in free} <= set(seen)  # bulk: one row each
        assert ("paul", "decide", f"no-such-run/{step}", 404, "rejected") in seen
        assert ("paul", "decide_many", None, 200, "ok") in seen
        assert all(r["request_id"] and r["at"] for r in rows)
        mine = (await admin.get("/audit", params={"user": "lena", "action": "decide"})).json()["items"]
        assert [r["target"] for r in mine] == [gated_target]
