"""Schedules: scheduled runs on Temporal Schedules, through the same functions as `botarmy schedule`
(botarmy/schedules.py). Creating, pausing and deleting need an operator; reading them a viewer."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal
from api.deps import CurrentUser, Operator, StateDep
from api.problems import PROBLEM_RESPONSES, Problem, definition_problem
from bmad import DefinitionError, compile_workflow
from bmad.inputs import InvalidInputs, check_run_inputs
from botarmy.schedules import (
    ScheduleRefused,
    create_schedule,
    delete_schedule,
    list_schedules,
    pause_schedule,
    trigger_schedule,
)
from providers.pin import resolve_run_model
from providers.types import ModelConfigError

router = APIRouter(prefix="/schedules", tags=["schedules"], responses=PROBLEM_RESPONSES)
ScheduleId = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]


class ScheduleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(max_length=255, description="the workflow id to run")
    cron: str = Field(max_length=255, description="a cron expression, e.g. `0 6 * * 1-5`")
    inputs: dict[str, Any] = Field(default_factory=dict, description="the run inputs, checked as POST /runs does")
    id: str | None = Field(default=None, max_length=100, description="the schedule's id (default: the workflow id)")
    approve: str | list[str] = Field(default="none", description="all, none, or the agents whose steps wait")


class ScheduleOut(BaseModel):
    id: str
    workflow: str | None = Field(description="the workflow each action starts (`BmadScheduledLaunch`)")
    cron: list[str]
    paused: bool
    note: str
    recent_actions: list[str] = Field(description="Temporal workflow ids of the launchers it started")
    next_times: list[str]


class ScheduleCreated(BaseModel):
    id: str
    workflow: str
    cron: str


def _problem(exc: ScheduleRefused) -> Problem:
    if exc.missing:
        return Problem(404, str(exc))
    if exc.exists:
        return Problem(409, str(exc))
    field = exc.field or "cron"
    return Problem(422, str(exc), type="urn:botarmy:problem:validation",
                   errors=[{"loc": ["body", field], "msg": str(exc), "type": f"invalid_{field}"}])


@router.post("", status_code=201, response_model=ScheduleCreated, dependencies=[Operator], name="create_schedule")
async def create(body: ScheduleCreate, state: StateDep, response: Response) -> ScheduleCreated:
    """Run `workflow` on a cron schedule, pinned to its definition (and the server's model) as they are now;
    each action launches a run as POST /runs does. 422 names the field (`cron`, `inputs`, `workflow`, `id`);
    409 when a schedule has that id."""
    catalog = await asyncio.to_thread(lambda: state.catalog)
    if body.workflow not in catalog.workflows:
        detail = f"unknown workflow {body.workflow!r}; known workflows: {', '.join(sorted(catalog.workflows))}"
        raise Problem(422, detail, type="urn:botarmy:problem:validation",
                      errors=[{"loc": ["body", "workflow"], "msg": detail, "type": "unknown_workflow"}])
    try:
        plan = compile_workflow(catalog, body.workflow)
    except DefinitionError as exc:
        raise definition_problem(body.workflow, exc) from None
    try:
        checked = check_run_inputs(plan, body.inputs, {}, body.approve, state.settings.limits)
    except InvalidInputs as exc:
        errors = [{"loc": ["body", p.field, *([p.key] if p.key is not None else [])], "msg": p.message,
                   "type": f"invalid_{p.field}"} for p in exc.problems]
        raise Problem(422, "; ".join(p.message for p in exc.problems), type="urn:botarmy:problem:validation",
                      errors=errors) from None
    try:
        pin = (await asyncio.to_thread(resolve_run_model, state.settings))[0]
    except ModelConfigError as exc:
        raise Problem(422, f"the server's model setting cannot be used: {exc}", title="Unusable model setting",
                      type="urn:botarmy:problem:model") from exc
    client = await state.temporal()
    try:
        sid = await create_schedule(client, state.store, state.settings, plan, checked.inputs, body.cron, body.id,
                                    checked.approve, pin)
    except ScheduleRefused as exc:
        raise _problem(exc) from None
    response.headers["Location"] = f"/schedules/{sid}"
    return ScheduleCreated(id=sid, workflow=plan.workflow_id, cron=body.cron)


@router.get("", response_model=list[ScheduleOut], name="list_schedules")
async def list_all(state: StateDep) -> list[ScheduleOut]:
    """BotArmy's schedules, by id (Temporal lists them eventually: one just created may take a moment)."""
    return [ScheduleOut(**s.as_json()) for s in await list_schedules(await state.temporal())]


@router.post("/{schedule_id}/pause", status_code=204, dependencies=[Operator], name="pause_schedule")
async def pause(schedule_id: ScheduleId, state: StateDep, user: CurrentUser) -> Response:
    """Pause the schedule: no runs start until it is unpaused. Its note says who paused it."""
    return await _pause(schedule_id, state, user, True)


@router.post("/{schedule_id}/unpause", status_code=204, dependencies=[Operator], name="unpause_schedule")
async def unpause(schedule_id: ScheduleId, state: StateDep, user: CurrentUser) -> Response:
    """Resume a paused schedule."""
    return await _pause(schedule_id, state, user, False)


async def _pause(schedule_id: str, state: StateDep, user: Principal, paused: bool) -> Response:
    try:
        await pause_schedule(await state.temporal(), schedule_id, paused, by=user.name)
    except ScheduleRefused as exc:
        raise _problem(exc) from None
    return Response(status_code=204)


@router.post("/{schedule_id}/trigger", status_code=204, dependencies=[Operator], name="trigger_schedule")
async def trigger(schedule_id: ScheduleId, state: StateDep) -> Response:
    """Start one action of the schedule now (one run)."""
    try:
        await trigger_schedule(await state.temporal(), schedule_id)
    except ScheduleRefused as exc:
        raise _problem(exc) from None
    return Response(status_code=204)


@router.delete("/{schedule_id}", status_code=204, dependencies=[Operator], name="delete_schedule")
async def delete(schedule_id: ScheduleId, state: StateDep) -> Response:
    """Delete the schedule (the runs it started stay). 404 when there is none."""
    try:
        await delete_schedule(await state.temporal(), schedule_id)
    except ScheduleRefused as exc:
        raise _problem(exc) from None
    return Response(status_code=204)
