"""Follows a run while it executes: a live progress bar on a terminal, one line per step change otherwise."""

from __future__ import annotations

import asyncio
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from workflows.contracts import RunProgress
from workflows.run import BmadRunWorkflow

_DONE = {"completed", "skipped", "failed"}


async def _progress(handle: WorkflowHandle) -> RunProgress | None:
    try:
        return await handle.query(BmadRunWorkflow.progress)
    except RPCError:
        return None  # not started on a worker yet


async def follow(handle: WorkflowHandle, console: Console, live: bool, quiet: bool, poll_s: float = 0.3) -> None:
    """Returns when the run has left the `running` state (or the workflow is closed)."""
    seen: dict[str, str] = {}
    waiter = asyncio.ensure_future(handle.result())
    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) if live and not quiet else None
    task = bar.add_task("starting", total=None) if bar else None
    try:
        if bar:
            bar.start()
        while not waiter.done():
            state = await _progress(handle)
            if state is not None:
                _report(state, seen, console, bar, task, quiet)
            await asyncio.wait([waiter], timeout=poll_s)
        state = await _progress(handle)
        if state is not None:
            _report(state, seen, console, bar, task, quiet)
    finally:
        if bar:
            bar.stop()
        if not waiter.done():
            waiter.cancel()
        elif not waiter.cancelled():
            waiter.exception()  # retrieved here; the caller reads the result itself


def _report(state: RunProgress, seen: dict[str, str], console: Console, bar, task, quiet: bool) -> None:
    done = sum(1 for s in state.steps if s.status in _DONE)
    for req in state.pending_approvals:
        marker = f"ask:{req.step}:{req.revision}"
        if marker in seen:
            continue
        seen[marker] = "shown"
        what, answers = {
            "approval": (f"{req.artifact} v{req.version}", "approve|reject|amend"),
            "route": (f"{req.question}", f"choose --choice {'|'.join(req.choices)}"),
            "budget": (f"{req.question}", "raise --choice NEW_BUDGET | stop"),
        }.get(req.kind, (f"{req.question}? (yes/no)", "yes|no"))
        line = f"  waiting   {req.step}: {what} — botarmy decide {state.run_id} '{req.step}' {answers}"
        (bar.console.print(line) if bar is not None else print(line, file=sys.stderr, flush=True))
    if bar is not None:
        current = state.current or state.status
        bar.update(task, total=len(state.steps), completed=done, description=f"{state.workflow_id}: {current}")
    for s in state.steps:
        if seen.get(s.key) == s.status:
            continue
        seen[s.key] = s.status
        if quiet or s.status == "pending":
            continue
        what = f" → {s.artifact.name} v{s.artifact.version}" if s.artifact else (f" ({s.reason})" if s.reason else "")
        line = f"  {s.status:<9} {s.key} [{s.agent or '-'}]{what}"
        if bar is not None:
            bar.console.print(line)
        else:
            print(line, file=sys.stderr, flush=True)
