"""The launcher activity a schedule's workflow runs: one run of the schedule's stored plan, through `launch`.

The run id is derived from the launcher's workflow id (Temporal gives each scheduled action its own), so a retried
attempt finds the run it started instead of starting a second one."""

from __future__ import annotations

import asyncio
import hashlib

import structlog
from temporalio import activity

from bmad.plan import Plan
from botarmy.launch import launch
from botarmy.settings import Settings
from providers.pin import RunModel
from store import Store
from workflows.contracts import ACTIVITY_LAUNCH_SCHEDULED, ScheduledLaunchInput

log = structlog.get_logger(__name__)


class ScheduleActivities:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    @activity.defn(name=ACTIVITY_LAUNCH_SCHEDULED)
    async def launch_scheduled(self, inp: ScheduledLaunchInput) -> str:
        info = activity.info()
        run_id = hashlib.sha256((info.workflow_id or info.activity_id).encode()).hexdigest()[:10]
        if await asyncio.to_thread(self.store.get_run, run_id) is not None:
            return run_id  # a retry after the run was launched
        plan = Plan.model_validate_json(await asyncio.to_thread(self.store.load_plan, inp.definition_hash))
        pin = None
        if inp.model_ref is not None:
            pin = RunModel.load(inp.model_ref, await asyncio.to_thread(self.store.load_run_model, inp.model_ref))
        launched = await launch(activity.client(), self.store, self.settings, plan, inp.inputs, approve=inp.approve,
                                run_id=run_id, run_model=pin, task_queue=info.task_queue)
        log.info("schedule.launched", schedule=inp.schedule_id, run_id=launched.run_id)
        return launched.run_id
