"""POST /runs to the end against the Temporal dev server and a real worker; artifacts, cancel, approvals."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
from pathlib import Path

import httpx

from botarmy.settings import Settings
from botarmy.temporal import connect
from store import Store
from tests.api.conftest import api_client, assert_problem
from tests.conftest import running_worker

QUICK_FIX_ARTIFACTS = {"prd.md", "implementation-notes.md", "qa-review.md"}


async def wait_for_status(client: httpx.AsyncClient, run_id: str, wanted: set[str], timeout_s: float = 90) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        response = await client.get(f"/runs/{run_id}")
        assert response.status_code == 200, response.text
        run = response.json()
        if run["status"] in wanted:
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']} after {timeout_s} s"
        await asyncio.sleep(0.2)


async def test_quick_fix_runs_to_completion_and_its_artifacts_download_singly_and_as_zip(
    live_settings: Settings, bmad_dir: Path, sqlite_url: str
):
    temporal = await connect(live_settings.temporal_address)
    async with running_worker(temporal, live_settings, Store(sqlite_url)), \
            api_client(live_settings, [bmad_dir]) as (_, client):
        created = await client.post("/runs", json={"workflow": "quick-fix", "inputs": {}, "approve": "none"})
        assert created.status_code == 201, created.text
        body = created.json()
        run_id = body["run_id"]
        assert body["workflow_id"] == "quick-fix"
        assert body["temporal_workflow_id"] == f"bmad-quick-fix-{run_id}"
        assert body["web_ui"].endswith(f"/workflows/{body['temporal_workflow_id']}")
        assert created.headers["location"] == f"/runs/{run_id}"

        run = await wait_for_status(client, run_id, {"completed", "failed"})
        assert run["status"] == "completed", run["error"]
        assert run["inputs"]["_approve"] == "none"
        assert run["pending_approvals"] == []
        assert {s["status"] for s in run["steps"] if s["agent"]} == {"completed"}
        assert {a["name"] for a in run["artifacts"]} == QUICK_FIX_ARTIFACTS

        listed = (await client.get(f"/runs/{run_id}/artifacts")).json()
        assert {a["name"] for a in listed["items"]} == QUICK_FIX_ARTIFACTS
        downloads = {}
        for item in listed["items"]:
            detail = (await client.get(f"/runs/{run_id}/artifacts/{item['name']}")).json()
            assert [v["version"] for v in detail["versions"]] == [1]
            raw = await client.get(detail["versions"][0]["raw_url"])
            assert raw.status_code == 200
            assert raw.headers["content-type"] == "text/markdown; charset=utf-8"
            assert len(raw.content) == item["bytes"] > 0
            downloads[item["name"]] = raw.content

        archive = await client.get(f"/runs/{run_id}/artifacts.zip")
        assert archive.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
            assert {n: zf.read(n) for n in zf.namelist()} == downloads

        assert_problem(await client.post(f"/runs/{run_id}/cancel"), 409)
        assert_problem(await client.post(f"/runs/{run_id}/signals/decide_signal",
                                         json={"step": "01-pm-prd", "decision": "approve"}), 409)
        assert_problem(await client.post(f"/runs/{run_id}/signals/poke", json={"x": 1}), 404)
        assert_problem(await client.post(f"/runs/{run_id}/approvals/01-pm-prd", json={"decision": "approve"}), 409)
        assert_problem(await client.get(f"/runs/{run_id}/artifacts/nope.md"), 404)
        assert_problem(await client.get(f"/runs/{run_id}/artifacts/prd.md/versions/9/raw"), 404)

        stream = await client.get(f"/runs/{run_id}/events")  # a finished run's stream ends by itself
        types = [line.removeprefix("event: ") for line in stream.text.splitlines() if line.startswith("event: ")]
        seqs = [int(line.removeprefix("id: ")) for line in stream.text.splitlines() if line.startswith("id: ")]
        assert types[0] == "run.started" and types[-1] == "run.completed" and "artifact.created" in types
        assert seqs == list(range(1, len(seqs) + 1))

        page = (await client.get("/runs", params={"workflow": "quick-fix", "status": "completed"})).json()
        assert [r["run_id"] for r in page["items"]] == [run_id]


async def test_an_approval_waits_is_listed_refuses_other_steps_and_is_decided_over_rest(
    live_settings: Settings, bmad_dir: Path, sqlite_url: str
):
    temporal = await connect(live_settings.temporal_address)
    async with running_worker(temporal, live_settings, Store(sqlite_url)), \
            api_client(live_settings, [bmad_dir]) as (_, client):
        created = await client.post("/runs", json={"workflow": "quick-fix", "approve": ["pm"]})
        assert created.status_code == 201, created.text
        run_id = created.json()["run_id"]
        deadline = time.monotonic() + 60
        while not (run := (await client.get(f"/runs/{run_id}")).json())["pending_approvals"]:
            assert run["status"] == "running" and time.monotonic() < deadline, run
            await asyncio.sleep(0.2)
        [waiting] = run["pending_approvals"]
        assert waiting["agent"] == "pm" and waiting["artifact"] == "prd.md" and waiting["requested_at"]
        listed = (await client.get("/approvals")).json()
        assert [(a["run_id"], a["step"]) for a in listed["items"] if a["run_id"] == run_id] == [
            (run_id, waiting["step"])]

        refused = assert_problem(
            await client.post(f"/runs/{run_id}/approvals/no-such-step", json={"decision": "approve"}), 409)
        assert "not waiting" in refused["detail"]
        assert_problem(await client.post(f"/runs/{run_id}/approvals/{waiting['step']}",
                                         json={"decision": "amend", "comment": "shorter"}), 422)
        misfit = assert_problem(await client.post(f"/runs/{run_id}/approvals/{waiting['step']}",
                                                  json={"decision": "yes"}), 422)
        assert misfit["detail"] == (f"step {waiting['step']!r} of run {run_id!r} cannot be decided: 'yes' does not "
                                    f"answer the approval of prd.md at step {waiting['step']!r}; use approve, reject "
                                    "or amend (with the edited content)")
        assert misfit["errors"][0]["loc"] == ["body", "decision"]

        decided = await client.post(f"/runs/{run_id}/approvals/{waiting['step']}",
                                    json={"decision": "approve", "comment": "fine", "by": "alice"})
        assert decided.status_code == 200, decided.text
        # the decision names the signed-in identity, not the body's `by`
        assert decided.json()["result"]["decision"] == "approve" and decided.json()["result"]["by"] == "test-admin"
        run = await wait_for_status(client, run_id, {"completed", "failed"})
        assert run["status"] == "completed", run["error"]
        assert run["pending_approvals"] == []


async def test_a_running_run_can_be_cancelled_once(live_settings: Settings, bmad_dir: Path, sqlite_url: str):
    slow = live_settings.model_copy(update={"offline_latency_ms": 3000})
    temporal = await connect(slow.temporal_address)
    async with running_worker(temporal, slow, Store(sqlite_url)), api_client(slow, [bmad_dir]) as (_, client):
        created = await client.post("/runs", json={"workflow": "quick-fix"})
        assert created.status_code == 201, created.text
        run_id = created.json()["run_id"]
        await wait_for_status(client, run_id, {"running"})
        signalled = await client.post(f"/runs/{run_id}/signals/decide_signal",
                                      json={"step": "nothing-waits", "decision": "approve"})
        assert signalled.status_code == 202, signalled.text

        cancelled = await client.post(f"/runs/{run_id}/cancel")
        assert cancelled.status_code == 202, cancelled.text
        run = await wait_for_status(client, run_id, {"cancelled", "completed", "failed"})
        assert run["status"] == "cancelled", run
        again = assert_problem(await client.post(f"/runs/{run_id}/cancel"), 409)
        assert "(it is cancelled)" in again["detail"]  # the product's spelling, not Temporal's enum name
