"""POST /runs/{id}/rerun against the dev server and a real worker: operator role, audited, a linked run whose
earlier steps are carried over; 409 for a completed run without a step, 422 for a step it does not have."""

from __future__ import annotations

from pathlib import Path

from botarmy.settings import Settings
from botarmy.temporal import connect
from store import Store
from store.identity import AuditFilter
from tests.api.conftest import api_client, assert_problem, bearer, make_token
from tests.api.test_runs_e2e import wait_for_status
from tests.conftest import running_worker


async def test_rerun_from_a_step_over_the_api_is_a_linked_audited_run(live_settings: Settings, bmad_dir: Path,
                                                                      sqlite_url: str):
    temporal = await connect(live_settings.temporal_address)
    store = Store(sqlite_url)
    async with running_worker(temporal, live_settings, store), \
            api_client(live_settings, [bmad_dir], "operator", user="olga") as (_, client):
        created = await client.post("/runs", json={"workflow": "quick-fix"})
        parent_id = created.json()["run_id"]
        parent = await wait_for_status(client, parent_id, {"completed", "failed"})
        assert parent["status"] == "completed"

        assert_problem(await client.post(f"/runs/{parent_id}/rerun", json={}), 409)
        bad = await client.post(f"/runs/{parent_id}/rerun", json={"from_step": "99-nobody"})
        assert_problem(bad, 422)
        assert bad.json()["errors"][0]["loc"] == ["body", "from_step"]
        viewer = await client.post(f"/runs/{parent_id}/rerun", json={"from_step": "3"},
                                   headers=bearer(make_token(live_settings, "viewer", user="vic")))
        assert viewer.status_code == 403

        rerun = await client.post(f"/runs/{parent_id}/rerun", json={
            "from_step": "3", "artifacts": {"implementation-notes.md": "# Notes\n\nEDITED\n"}})
        assert rerun.status_code == 201, rerun.text
        body = rerun.json()
        assert (body["parent_run_id"], body["rerun_from"]) == (parent_id, "03-qa-qa-review")
        assert body["carried"] == ["01-pm-prd", "02-dev-implementation-notes"]
        child = await wait_for_status(client, body["run_id"], {"completed", "failed"})
        assert child["status"] == "completed", child["error"]
        assert (child["parent_run_id"], child["rerun_from"]) == (parent_id, "03-qa-qa-review")
        notes = [a for a in child["artifacts"] if a["name"] == "implementation-notes.md"]
        assert [a["version"] for a in notes] == [1, 2]
        assert child["usage"]["calls"] == 1

        cached = await client.post("/runs", json={"workflow": "quick-fix", "reuse": True})
        again = await wait_for_status(client, cached.json()["run_id"], {"completed", "failed"})
        assert again["status"] == "completed" and again["usage"]["calls"] == 0
        assert all(s["reused_from"] for s in again["steps"] if s["agent"])

    rows = store.identity.list_audit(AuditFilter(action="rerun_run"))
    assert {(r.user, r.status) for r in rows} == {("olga", 409), ("olga", 422), ("vic", 403), ("olga", 201)}
