"""Pause and resume a running run between steps (operator role), through botarmy.pause, as `botarmy pause`."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import CurrentUser, Operator, RunDep, StateDep
from api.problems import PROBLEM_RESPONSES, Problem
from botarmy.pause import PauseRefused, set_paused

router = APIRouter(prefix="/runs", tags=["runs"], responses=PROBLEM_RESPONSES)


class Paused(BaseModel):
    run_id: str
    paused: bool
    by: str
    before: str | None = Field(description="the step the run holds before (pause: null while the step running "
                               "now has not finished)")


async def _set(view: RunDep, state: StateDep, user: CurrentUser, paused: bool) -> Paused:
    try:
        done = await set_paused(await state.temporal(), state.store, view, paused, user.name)
    except PauseRefused as exc:
        raise Problem(409, str(exc)) from None
    return Paused(run_id=view.run_id, paused=done.paused, by=done.by, before=done.before)


@router.post("/{run_id}/pause", response_model=Paused, dependencies=[Operator])
async def pause_run(view: RunDep, state: StateDep, user: CurrentUser) -> Paused:
    """Pause the run between steps: the step running now finishes, no next step starts until it is resumed
    (across worker restarts). The Web UI's current details say who paused it. 409 when it is not running or is
    paused already."""
    return await _set(view, state, user, True)


@router.post("/{run_id}/resume", response_model=Paused, dependencies=[Operator])
async def resume_run(view: RunDep, state: StateDep, user: CurrentUser) -> Paused:
    """Resume a paused run: its next step starts. 409 when it is not paused."""
    return await _set(view, state, user, False)
