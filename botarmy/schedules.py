"""Scheduled runs on Temporal Schedules: create, list, pause, delete; the one set of functions the CLI and the API
call. A schedule's action starts `BmadScheduledLaunch` (workflows/scheduled.py), whose activity calls `launch`, so
every scheduled run starts the way any run does. The plan and model pin are stored when the schedule is created:
a schedule runs the definition as it was then, as every run is pinned to its definition."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleListDescription,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.service import RPCError, RPCStatusCode

from bmad.plan import Plan
from botarmy.settings import Settings
from providers.pin import RunModel
from store import Store
from workflows.contracts import WORKFLOW_SCHEDULED_LAUNCH, ScheduledLaunchInput

PREFIX = "botarmy-schedule-"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class ScheduleRefused(ValueError):
    """One line: what is wrong with the schedule asked for (`field`: "cron" or "id"), that it exists already
    (`exists`), or that there is no such schedule (`missing`). The CLI says `--cron ...`, the API `errors[].loc`."""

    def __init__(self, message: str, field: str | None = None, *, missing: bool = False,
                 exists: bool = False) -> None:
        super().__init__(message)
        self.field, self.missing, self.exists = field, missing, exists


@dataclass(frozen=True)
class ScheduleInfo:
    id: str
    workflow: str | None
    cron: list[str]
    paused: bool
    note: str
    recent_runs: list[str]  # Temporal workflow ids of the launchers it started
    next_times: list[str]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "workflow": self.workflow, "cron": self.cron, "paused": self.paused,
                "note": self.note, "recent_actions": self.recent_runs, "next_times": self.next_times}


async def create_schedule(client: Client, store: Store, settings: Settings, plan: Plan, inputs: dict[str, Any],
                          cron: str, schedule_id: str | None = None, approve: str | list[str] = "none",
                          run_model: RunModel | None = None) -> str:
    """Store the plan (and the model pin) and create the schedule; its id. Inputs already checked."""
    sid = schedule_id or plan.workflow_id
    if not _ID.match(sid):
        raise ScheduleRefused(f"id {sid!r}: use letters, digits, '.', '_' or '-' (at most 100)", "id")
    await asyncio.to_thread(store.save_plan, plan.definition_hash, plan.workflow_id, plan.model_dump_json())
    if run_model is not None:
        await asyncio.to_thread(store.pin_model, "", run_model.sha256, run_model.spec, run_model.body())
    action = ScheduleActionStartWorkflow(
        WORKFLOW_SCHEDULED_LAUNCH,
        ScheduledLaunchInput(schedule_id=sid, definition_hash=plan.definition_hash, inputs=inputs, approve=approve,
                             model_ref=run_model.sha256 if run_model else None),
        id=f"{PREFIX}{sid}", task_queue=settings.task_queue,
    )
    try:
        await client.create_schedule(f"{PREFIX}{sid}", Schedule(
            action=action, spec=ScheduleSpec(cron_expressions=[cron]),
            # the launcher ends once its run started; runs are independent, so one never holds the next back
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
            state=ScheduleState(note=f"BMAD {plan.workflow_id} at cron {cron}")),
            # the server keeps a cron expression as calendars: the memo keeps it as it was written, for `list`
            memo={"cron": cron, "bmad_workflow": plan.workflow_id})
    except RPCError as err:
        if err.status == RPCStatusCode.INVALID_ARGUMENT:
            raise ScheduleRefused(f"cron {cron!r}: {err.message}", "cron") from None
        raise
    except Exception as exc:  # the SDK says "already exists" with its own error type
        if "already" in str(exc).lower():
            raise ScheduleRefused(f"schedule {sid!r} exists; delete it first or give another id", exists=True) from None
        raise
    return sid


async def list_schedules(client: Client) -> list[ScheduleInfo]:
    found = []
    async for entry in await client.list_schedules():
        if entry.id.startswith(PREFIX):
            found.append(_info(entry, await entry.memo_value("cron", None)))
    return sorted(found, key=lambda s: s.id)


def _info(entry: ScheduleListDescription, cron: str | None) -> ScheduleInfo:
    sched, info = entry.schedule, entry.info
    action = sched.action if sched is not None else None
    workflow = getattr(action, "workflow", None) if action is not None else None
    return ScheduleInfo(
        id=entry.id.removeprefix(PREFIX), workflow=workflow,
        cron=[cron] if cron else list(sched.spec.cron_expressions) if sched is not None else [],
        paused=bool(sched.state.paused) if sched is not None else False,
        note=(sched.state.note or "") if sched is not None else "",
        recent_runs=[str(getattr(a.action, "workflow_id", "")) for a in info.recent_actions] if info else [],
        next_times=[t.isoformat() for t in info.next_action_times[:3]] if info is not None else [],
    )


async def pause_schedule(client: Client, schedule_id: str, paused: bool = True, by: str = "botarmy") -> None:
    """Pause (or unpause) a schedule; its note says who did (the Web UI shows it)."""
    handle = client.get_schedule_handle(f"{PREFIX}{schedule_id}")
    try:
        await (handle.pause(note=f"paused by {by}") if paused else handle.unpause(note=f"unpaused by {by}"))
    except RPCError as err:
        raise _missing(err, schedule_id) from None


async def delete_schedule(client: Client, schedule_id: str) -> None:
    try:
        await client.get_schedule_handle(f"{PREFIX}{schedule_id}").delete()
    except RPCError as err:
        raise _missing(err, schedule_id) from None


async def trigger_schedule(client: Client, schedule_id: str) -> None:
    """Start the schedule's action now (as the Web UI's "Trigger" does)."""
    try:
        await client.get_schedule_handle(f"{PREFIX}{schedule_id}").trigger()
    except RPCError as err:
        raise _missing(err, schedule_id) from None


def _missing(err: RPCError, schedule_id: str) -> Exception:
    if err.status == RPCStatusCode.NOT_FOUND:
        return ScheduleRefused(f"no schedule {schedule_id!r}; `botarmy schedule list` shows them", missing=True)
    return err
