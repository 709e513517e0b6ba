"""CLI side of human decisions: send one to a waiting run, list what waits."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.markup import escape
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from bmad.limits import LimitExceeded
from botarmy.decisions import check_decision_limits
from botarmy.settings import Settings
from botarmy.temporal import connect
from store import get_store
from workflows.contracts import ApprovalDecision
from workflows.run import BmadRunWorkflow

_FLAGS = {"comment": "--comment/--comment-file", "content": "--content-file"}  # the flag that gives each decision field


async def send_decision(
    settings: Settings, run_id: str, step: str, decision: str, comment: str, content: str | None,
    by: str, role: str | None, out: Console, err: Console, choice: str | None = None,
) -> int:
    store = get_store(settings.database_url)
    view = await asyncio.to_thread(store.get_run, run_id)
    if view is None:
        err.print(f"[red]error:[/red] no run {run_id!r}")
        return 2
    try:
        await asyncio.to_thread(check_decision_limits, store, settings.limits, run_id, comment, content)
    except LimitExceeded as exc:
        for p in exc.problems:
            err.print(f"error: {_FLAGS.get(p.field, p.field)}: {p.message}", highlight=False, markup=False)
        return 2
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    handle = client.get_workflow_handle(view.temporal_workflow_id)
    try:
        record = await handle.execute_update(
            BmadRunWorkflow.decide,
            ApprovalDecision(step=step, decision=decision, comment=comment, content=content,
                             by=by, role=role, choice=choice),
        )
    except WorkflowUpdateFailedError as exc:  # the workflow refused it: what was asked does not fit what waits
        cause = exc.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
        err.print(f"[red]refused:[/red] {escape(message)}", highlight=False)
        return 2
    except RPCError as exc:
        err.print(f"[red]error:[/red] run {run_id} cannot take decisions now: {exc.message}", highlight=False)
        return 1
    out.print(f"{record.decision} recorded for {record.step} by {record.by} at {record.at.isoformat()}")
    return 0


async def list_pending(settings: Settings, out: Console) -> int:
    store = get_store(settings.database_url)
    runs = await asyncio.to_thread(store.list_runs, "running", None, 200, 0)
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    count = 0
    for run in runs:
        try:
            progress = await client.get_workflow_handle(run.temporal_workflow_id).query(BmadRunWorkflow.progress)
        except RPCError:
            continue
        for req in progress.pending_approvals:
            count += 1
            what = {"approval": f"{req.artifact} v{req.version}",
                    "route": f"{req.question}: {' | '.join(req.choices)}",
                    "answer": f"{req.question} (answer with `botarmy answer {run.run_id} {req.step} TEXT`)"}.get(
                req.kind, f"{req.question}?")
            out.print(f"{run.run_id}  {req.step}  {req.kind}: {what}  since {req.requested_at.isoformat()}",
                      highlight=False)
    if not count:
        out.print("nothing is waiting for a decision")
    return 0
