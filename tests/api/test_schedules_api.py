"""/schedules against the dev server: an operator creates, pauses, unpauses and deletes a schedule through the
functions `botarmy schedule` uses; a viewer reads them and is refused the rest; a bad cron is a 422 naming the
field; every change is audited."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from botarmy.settings import Settings
from botarmy.temporal import connect
from store import Store
from store.identity import AuditFilter
from tests.api.conftest import api_client, assert_problem, bearer, make_token


async def test_schedules_over_the_api_are_operator_actions_audited_and_visible_to_viewers(
        live_settings: Settings, bmad_dir: Path, sqlite_url: str):
    sid = f"qf-{uuid.uuid4().hex[:6]}"
    temporal = await connect(live_settings.temporal_address)
    async with api_client(live_settings, [bmad_dir], "operator", user="olga") as (_, client):
        viewer = bearer(make_token(live_settings, "viewer", user="vic"))
        bad = await client.post("/schedules", json={"workflow": "quick-fix", "cron": "every day", "id": sid})
        body = assert_problem(bad, 422)
        assert body["errors"][0]["loc"] == ["body", "cron"] and "every day" in body["detail"]
        unknown = assert_problem(await client.post("/schedules", json={"workflow": "nope", "cron": "0 3 1 1 *"}), 422)
        assert unknown["errors"][0]["loc"] == ["body", "workflow"]
        assert (await client.post("/schedules", json={"workflow": "quick-fix", "cron": "0 3 1 1 *"},
                                  headers=viewer)).status_code == 403

        created = await client.post("/schedules", json={"workflow": "quick-fix", "cron": "0 3 1 1 *", "id": sid})
        assert created.status_code == 201, created.text
        assert created.json() == {"id": sid, "workflow": "quick-fix", "cron": "0 3 1 1 *"}
        assert created.headers["Location"] == f"/schedules/{sid}"
        again = await client.post("/schedules", json={"workflow": "quick-fix", "cron": "0 3 1 1 *", "id": sid})
        assert_problem(again, 409)

        handle = temporal.get_schedule_handle(f"botarmy-schedule-{sid}")
        assert (await client.post(f"/schedules/{sid}/pause", headers=viewer)).status_code == 403
        assert (await client.post(f"/schedules/{sid}/pause")).status_code == 204
        state = (await handle.describe()).schedule.state
        assert (state.paused, state.note) == (True, "paused by olga")
        assert (await client.post(f"/schedules/{sid}/unpause")).status_code == 204
        assert not (await handle.describe()).schedule.state.paused

        listed: list = []
        for _ in range(100):  # Temporal's schedule list is eventually consistent
            listed = [s for s in (await client.get("/schedules", headers=viewer)).json() if s["id"] == sid]
            if listed and not listed[0]["paused"]:
                break
            await asyncio.sleep(0.1)
        assert [(s["workflow"], s["cron"], s["paused"]) for s in listed] == [
            ("BmadScheduledLaunch", ["0 3 1 1 *"], False)]

        assert (await client.delete(f"/schedules/{sid}", headers=viewer)).status_code == 403
        assert (await client.delete(f"/schedules/{sid}")).status_code == 204
        assert_problem(await client.delete(f"/schedules/{sid}"), 404)
        assert_problem(await client.post(f"/schedules/{sid}/pause"), 404)

    store = Store(sqlite_url)
    rows = store.identity.list_audit(AuditFilter(action="create_schedule"))
    assert {(r.user, r.status) for r in rows} >= {("olga", 422), ("vic", 403), ("olga", 201), ("olga", 409)}
    done = {(r.action, r.user, r.status, r.target) for r in store.identity.list_audit(AuditFilter())
            if r.target == sid}
    assert {("pause_schedule", "olga", 204, sid), ("unpause_schedule", "olga", 204, sid),
            ("delete_schedule", "olga", 204, sid), ("pause_schedule", "vic", 403, sid),
            ("delete_schedule", "olga", 404, sid)} <= done
