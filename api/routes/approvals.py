"""Approvals: decide a step that waits for a person (workflow Update `decide`), list what waits."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError

from api.deps import RunId, StateDep, get_view
from api.problems import PROBLEM_RESPONSES, Problem, limit_problem
from api.progress import pending_approvals, query_progress
from api.schemas import ApprovalDecision as DecisionBody
from api.schemas import ApprovalList, DecisionResult, RunApproval
from bmad.limits import LimitExceeded
from botarmy.decisions import check_decision_limits
from store import RunView
from workflows.contracts import DECISION_REFUSED, ApprovalDecision, DecisionRecord

router = APIRouter(tags=["approvals"], responses=PROBLEM_RESPONSES)
UPDATE_TIMEOUT = timedelta(seconds=10)
LIST_PAGE = 200
LIST_CONCURRENCY = 16
StepKey = Annotated[str, PathParam(min_length=1, max_length=300)]


def _refusal(err: WorkflowUpdateFailedError) -> tuple[str | None, str]:
    """(the failure type, its message without the type) of a refused decision."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return cause.type, cause.message
    return None, str(getattr(cause, "message", None) or cause or err)


def within_limits(state: StateDep, run_id: str, body: DecisionBody) -> None:
    """413 naming the comment or content over its limit (the same check `botarmy decide` makes)."""
    try:
        check_decision_limits(state.store, state.settings.limits, run_id, body.comment, body.content)
    except LimitExceeded as exc:
        raise limit_problem(exc) from None


@router.post("/runs/{run_id}/approvals/{step}", response_model=DecisionResult)
async def decide(run_id: RunId, step: StepKey, body: DecisionBody, state: StateDep) -> DecisionResult:
    """Approve, reject (with a comment) or amend (with new content) the output of a step that waits.

    409 when the run does not wait for that step or is not running; 422 when the decision does not fit what
    waits (a verb for another kind of question, a choice that is not a branch, a raise below what is spent)."""
    # the body is validated before the run is looked up: a malformed decision is 422 whatever the run
    view = await asyncio.to_thread(get_view, state.store, run_id)
    await asyncio.to_thread(within_limits, state, run_id, body)
    if view.status != "running":
        raise Problem(409, f"run {run_id!r} is {view.status}; nothing waits for a decision")
    client = await state.temporal()
    handle = client.get_workflow_handle(view.temporal_workflow_id)
    arg = ApprovalDecision(step=step, decision=body.decision, comment=body.comment, content=body.content,
                           by=body.by, role=body.role, choice=body.choice)
    try:
        record = await handle.execute_update("decide", arg, result_type=DecisionRecord, rpc_timeout=UPDATE_TIMEOUT)
    except WorkflowUpdateFailedError as err:
        kind, message = _refusal(err)
        detail = f"step {step!r} of run {run_id!r} cannot be decided: {message}"
        if kind == DECISION_REFUSED:  # the decision does not fit what waits: fix the request
            raise Problem(422, detail, type="urn:botarmy:problem:validation",
                          errors=[{"loc": ["body", "decision"], "msg": message, "type": "decision_refused"}]) from None
        raise Problem(409, detail) from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise Problem(504, f"run {run_id!r} did not answer within {UPDATE_TIMEOUT.seconds} s "
                           "(is a worker polling its task queue?)") from None
    return DecisionResult(run_id=run_id, step=step, result=record.model_dump(mode="json"))


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
