"""Approvals: decide a step that waits for a person (workflow Update `decide`), list what waits."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam

from api.decisions import decide_one
from api.deps import Approver, CurrentUser, RunId, StateDep
from api.problems import PROBLEM_RESPONSES
from api.progress import pending_approvals, query_progress
from api.schemas import ApprovalDecision as DecisionBody
from api.schemas import ApprovalList, DecisionResult, RunApproval
from store import RunView

router = APIRouter(tags=["approvals"], responses=PROBLEM_RESPONSES)
LIST_PAGE = 200
LIST_CONCURRENCY = 16
StepKey = Annotated[str, PathParam(min_length=1, max_length=300)]


@router.post("/runs/{run_id}/approvals/{step}", response_model=DecisionResult, dependencies=[Approver])
async def decide(
    run_id: RunId, step: StepKey, body: DecisionBody, state: StateDep, user: CurrentUser
) -> DecisionResult:
    """Approve, reject (with a comment) or amend (with new content) the output of a step that waits.

    The decision records the signed-in identity (the body's `by` and `role` are ignored). 403 when the step needs
    an approver role the caller lacks; 409 when the run does not wait for that step or is not running; 422 when
    the decision does not fit what waits (a verb for another kind of question, a choice that is not a branch, a
    raise below what is spent)."""
    # the body is validated before the run is looked up: a malformed decision is 422 whatever the run
    return await decide_one(state, user, run_id, step, body)


def running_runs(state: StateDep) -> list[RunView]:
    found: list[RunView] = []
    while True:
        page = state.store.list_runs(status="running", limit=LIST_PAGE, offset=len(found))
        found.extend(page)
        if len(page) < LIST_PAGE:
            return found


@router.get("/approvals", response_model=ApprovalList)
async def list_approvals(state: StateDep) -> ApprovalList:
    """Every approval that running runs wait for, oldest run first."""
    runs = await asyncio.to_thread(running_runs, state)
    client = await state.temporal()
    gate = asyncio.Semaphore(LIST_CONCURRENCY)

    async def ask(view: RunView):  # noqa: ANN202 - a (view, progress) pair
        async with gate:
            return view, await query_progress(client, view.temporal_workflow_id)

    answers = await asyncio.gather(*(ask(v) for v in reversed(runs)))
    items: list[RunApproval] = []
    unreachable: list[str] = []
    for view, progress in answers:
        if progress is None:
            unreachable.append(view.run_id)
            continue
        items.extend(
            RunApproval(run_id=view.run_id, workflow_id=view.workflow_id, **p.model_dump())
            for p in pending_approvals(progress)
        )
    return ApprovalList(items=items, unreachable=unreachable)
