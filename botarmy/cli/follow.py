"""Follows a run while it executes: the run's event stream (the one the API serves as SSE) as lines, and a
live progress bar on a terminal from the workflow's `progress` Query."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import WorkflowHandle, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError, RPCStatusCode

from store import EventRow, RunView, Store
from store.outage import is_outage
from workflows.contracts import RunProgress
from workflows.run import BmadRunWorkflow

_DONE = {"completed", "skipped", "failed"}
OUTAGE_RETRY_S = 1.0


async def query_progress(handle: WorkflowHandle, timeout_s: float | None = None) -> RunProgress | None:
    """The running workflow's progress; None when it cannot answer now (not on a worker yet, closed, unknown).
    A server that does not answer at all raises (RPCError UNAVAILABLE), for the CLI's edge to say so."""
    try:
        return await handle.query(
            BmadRunWorkflow.progress, rpc_timeout=timedelta(seconds=timeout_s) if timeout_s else None
        )
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError):
        return None
    except RPCError as exc:
        if exc.status == RPCStatusCode.UNAVAILABLE:
            raise
        return None


async def _drawable(handle: WorkflowHandle) -> RunProgress | None:
    try:
        return await query_progress(handle)
    except RPCError:
        return None  # the bar waits for the server; the event lines still come from the store


def describe(event: EventRow, run_id: str) -> str | None:
    """One line per event a person cares about while a run goes."""
    d: dict[str, Any] = event.data or {}
    step = d.get("step", "")
    lines = {
        "step.started": f"  started   {step} [{d.get('agent') or '-'}] attempt {d.get('attempt')}"
                        + (f", revision {d['revision']}" if d.get("revision") else ""),
        "step.retrying": f"  retrying  {step}: {d.get('error')}",
        "step.failed": f"  failed    {step}: {d.get('error')}",
        "artifact.created": f"  wrote     {d.get('name')} v{d.get('version')} ({d.get('bytes', '?')} B)",
        "provider.fallback": f"  fallback  {step}: {d.get('from')} → {d.get('to')} ({d.get('error')})",
        "approval.resolved": f"  decided   {step}: {d.get('decision')} by {d.get('by')}",
    }
    if event.type == "step.completed" and d.get("jump"):  # a v6 `<goto>` the agent took
        return f"  goto      {step} → {d['jump']}"
    if event.type == "step.completed" and d.get("jump_ignored"):
        return f"  goto      {step}: NEXT STEP {d['jump_ignored']} is none of its gotos (ignored; goes on in order)"
    if event.type == "approval.requested":
        kind = d.get("kind")
        what, answers = {
            "approval": (f"{d.get('artifact')} v{d.get('version')}", "approve|reject|amend"),
            "route": (f"{d.get('question')}", f"choose --choice {'|'.join(d.get('choices') or [])}"),
            "budget": (f"{d.get('question')}", "raise --choice NEW_BUDGET | stop"),
        }.get(str(kind), (f"{d.get('question')}? (yes/no)", "yes|no"))
        return f"  waiting   {step}: {what} — botarmy decide {run_id} '{step}' {answers}"
    return lines.get(event.type)


async def stored_run(store: Store, run_id: str) -> RunView | None:
    """The stored run, waiting (quietly: `follow` has said so) while the database cannot be reached."""
    while True:
        try:
            return await asyncio.to_thread(store.get_run, run_id)
        except Exception as exc:
            if not is_outage(exc):
                raise
            await asyncio.sleep(OUTAGE_RETRY_S)


async def follow(
    handle: WorkflowHandle, store: Store, run_id: str, console: Console, live: bool, quiet: bool,
    poll_s: float = 0.3,
) -> None:
    """Returns when the workflow is closed. `quiet` (for --json) still shows what the run waits for."""
    after = 0
    waiter = asyncio.ensure_future(handle.result())
    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) if live and not quiet else None
    task = bar.add_task("starting", total=None) if bar else None

    def show(line: str) -> None:
        if bar is not None:
            bar.console.print(line, highlight=False, markup=False)
        else:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    db_down = False

    async def drain() -> bool:
        """Show the events stored since the last drain; False while the database cannot be reached (said once,
        the run goes on meanwhile)."""
        nonlocal after, db_down
        try:
            found = await asyncio.to_thread(store.list_events, run_id, after)
        except Exception as exc:
            if not is_outage(exc):
                raise
            if not db_down:
                show(f"  the database is unreachable ({type(exc).__name__}); retrying — run {run_id} goes on")
            db_down = True
            return False
        if db_down:
            show("  the database is reachable again")
            db_down = False
        for event in found:
            after = event.seq
            line = describe(event, run_id)
            if line and (not quiet or event.type == "approval.requested"):
                show(line)
        return True

    try:
        if bar:
            bar.start()
        async def redraw() -> None:
            if bar is not None and task is not None and (state := await _drawable(handle)) is not None:
                done = sum(1 for s in state.steps if s.status in _DONE)
                bar.update(task, total=len(state.steps), completed=done,
                           description=f"{state.workflow_id}: {state.current or state.status}")

        while not waiter.done():
            await drain()
            await redraw()
            await asyncio.wait([waiter], timeout=poll_s)
        while not await drain():  # the run's last events, once the database answers again
            await asyncio.sleep(OUTAGE_RETRY_S)
        await redraw()  # the finished state, not the last poll's
    finally:
        if bar:
            bar.stop()
        if not waiter.done():
            waiter.cancel()
        elif not waiter.cancelled():
            waiter.exception()  # retrieved here; the caller reads the result itself
