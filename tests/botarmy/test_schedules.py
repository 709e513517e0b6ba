"""Scheduled runs on the dev server: a schedule's action launches a run through `launch` (a run row, pinned plan,
completed by the worker); list, pause and delete; a bad cron expression is one line."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bmad import compile_workflow, load_bmad
from botarmy.schedules import (
    ScheduleRefused,
    create_schedule,
    delete_schedule,
    list_schedules,
    pause_schedule,
    trigger_schedule,
)
from botarmy.temporal import connect, ensure_search_attributes
from providers.pin import resolve_run_model
from tests.conftest import OWN_BMAD, running_worker


async def test_a_schedule_starts_runs_through_launch_and_can_be_paused_and_deleted(dev_server, settings, store):
    client = await connect(dev_server)
    await ensure_search_attributes(client)
    plan = compile_workflow(load_bmad([OWN_BMAD]), "quick-fix")
    sid = f"qf-{uuid.uuid4().hex[:6]}"
    pin = resolve_run_model(settings)[0]
    with pytest.raises(ScheduleRefused, match="^cron 'every day'"):
        await create_schedule(client, store, settings, plan, {}, "every day", sid)
    assert await create_schedule(client, store, settings, plan, {}, "0 3 1 1 *", sid, "none", pin) == sid
    async with running_worker(client, settings, store):
        await trigger_schedule(client, sid)  # as the cron would: one action, one launcher, one run
        for _ in range(300):
            runs = [r for r in store.list_runs(workflow_id="quick-fix") if r.status != "running"]
            if runs:
                break
            await asyncio.sleep(0.2)
    assert [r.status for r in runs] == ["completed"]
    assert {r.definition_hash for r in runs} == {plan.definition_hash}
    assert all(r.model_sha256 == pin.sha256 for r in runs)

    mine = next(s for s in await list_schedules(client) if s.id == sid)
    assert (mine.paused, len(mine.recent_runs), mine.workflow) == (False, 1, "BmadScheduledLaunch")
    assert "0 3 1 1 *" in mine.note
    await pause_schedule(client, sid)
    described = await client.get_schedule_handle(f"botarmy-schedule-{sid}").describe()  # list: eventually
    assert described.schedule.state.paused
    await delete_schedule(client, sid)
    with pytest.raises(ScheduleRefused, match="no schedule"):
        await delete_schedule(client, sid)
