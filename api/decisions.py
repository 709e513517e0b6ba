"""One decision on a waiting step, as the signed-in person: who may decide it (the step's approver role, from the
run request's `approve: {agent: role}` or the definition's `approval: role`), and the `decide` Update. Used by
POST /runs/{id}/approvals/{step} and POST /approvals/bulk alike."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError

from api.auth import Principal, forbidden
from api.deps import AppState, get_view
from api.problems import Problem, limit_problem
from api.progress import pending_approvals, query_progress
from api.schemas import ApprovalDecision as DecisionBody
from api.schemas import DecisionResult
from bmad.limits import LimitExceeded
from botarmy.decisions import check_decision_limits
from store import RunView
from workflows.contracts import DECISION_REFUSED, ApprovalDecision, DecisionRecord

UPDATE_TIMEOUT = timedelta(seconds=10)


def _refusal(err: WorkflowUpdateFailedError) -> tuple[str | None, str]:
    """(the failure type, its message without the type) of a refused decision."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return cause.type, cause.message
    return None, str(getattr(cause, "message", None) or cause or err)


async def decider_role(state: AppState, client: Client, view: RunView, step: str, user: Principal) -> str | None:
    """The role the decision is recorded with; 403 naming the role when the step needs one `user` lacks.

    A step that names no role may be decided by any approver (the route requires that role)."""
    roles_by_agent = await asyncio.to_thread(state.store.identity.approver_roles, view.run_id)
    progress = await query_progress(client, view.temporal_workflow_id)
    if progress is None:
        if roles_by_agent:  # cannot tell which agent waits, so cannot tell who may decide
            raise Problem(503, f"run {view.run_id!r} did not answer; its approver roles cannot be checked now",
                          headers={"Retry-After": "5"})
        return None
    waiting = next((p for p in pending_approvals(progress) if p.step == step), None)
    if waiting is None:
        return None  # the Update says why nothing waits there (409)
    needed = roles_by_agent.get(waiting.agent or "") or waiting.role
    if needed is None:
        return "approver" if user.may("approver") and "admin" not in user.roles else "admin"
    if not user.may(needed):
        held = ", ".join(user.roles) or "none"
        raise forbidden(f"step {step!r} of run {view.run_id!r} must be decided by role {needed!r}; "
                        f"{user.name} has {held}")
    return waiting.role or needed  # the definition's role, when it names one, is what the workflow checks


def within_limits(state: AppState, run_id: str, body: DecisionBody) -> None:
    """413 naming the comment or content over its limit (the same check `botarmy decide` makes)."""
    try:
        check_decision_limits(state.store, state.settings.limits, run_id, body.comment, body.content)
    except LimitExceeded as exc:
        raise limit_problem(exc) from None


async def decide_one(state: AppState, user: Principal, run_id: str, step: str, body: DecisionBody) -> DecisionResult:
    """Send the decision; 409 when nothing waits there or the run is not running, 422 when it does not fit what
    waits, 403 when `user` may not decide this step. The record names `user`, whatever the body's `by` says."""
    view = await asyncio.to_thread(get_view, state.store, run_id)
    await asyncio.to_thread(within_limits, state, run_id, body)
    if view.status != "running":
        raise Problem(409, f"run {run_id!r} is {view.status}; nothing waits for a decision")
    client = await state.temporal()
    role = await decider_role(state, client, view, step, user)
    handle = client.get_workflow_handle(view.temporal_workflow_id)
    arg = ApprovalDecision(step=step, decision=body.decision, comment=body.comment, content=body.content,
                           by=user.name, role=role, choice=body.choice)
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
