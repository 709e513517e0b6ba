"""CLI commands over runs and what can be run: `runs`, `status`, `watch`, `cancel`, `workflows`. Registered on
the main app by `register`."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from botarmy.cli.common import BmadDirs, err, fail, load_catalog, out
from botarmy.cli.tables import print_table
from botarmy.settings import Settings, get_settings

if TYPE_CHECKING:
    from store import RunView, Store

JsonOut = Annotated[bool, typer.Option("--json", help="print JSON instead of lines")]


def _duration_s(view: RunView) -> float:
    end = view.finished_at or datetime.now(UTC)
    start = view.created_at if view.created_at.tzinfo else view.created_at.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    return max(0.0, (end - start).total_seconds())


def _short(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def runs(
    status: Annotated[str | None, typer.Option("--status", help="only runs in this state: running, completed, "
                                                                 "failed, cancelled or stopped")] = None,
    workflow: Annotated[str | None, typer.Option("--workflow", help="only runs of this workflow id")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="at most this many, newest first")] = 20,
    json_out: JsonOut = False,
) -> None:
    """List runs, newest first: id, workflow, status, started, duration."""
    from store.types import RUN_STATUSES

    if status is not None and status not in RUN_STATUSES:
        raise fail(f"--status {status!r}: use one of {', '.join(RUN_STATUSES)}")
    views = get_store(get_settings().database_url).list_runs(status, workflow, limit, 0)
    if json_out:
        sys.stdout.write(json.dumps([
            {"id": v.run_id, "workflow": v.workflow_id, "status": v.status, "started": v.created_at.isoformat(),
             "finished": v.finished_at.isoformat() if v.finished_at else None,
             "duration_s": round(_duration_s(v), 3), "temporal_workflow_id": v.temporal_workflow_id}
            for v in views
        ], indent=2) + "\n")
        return
    if not views:
        out.print("no runs", highlight=False)
        return
    print_table(out, None, ("id", "workflow", "status", "started", "duration"), [
        [v.run_id, v.workflow_id, v.status, v.created_at.strftime("%Y-%m-%d %H:%M:%S"), _short(_duration_s(v))]
        for v in views
    ])


def get_store(database_url: str) -> Store:
    from store import get_store as store_for  # here: the database layer costs commands that never reach it

    return store_for(database_url)


def _stored(settings: Settings, run_id: str) -> RunView:
    view = get_store(settings.database_url).get_run(run_id)
    if view is None:
        raise fail(f"no run {run_id!r} in the store (`botarmy runs` lists them)")
    return view


async def _live_progress(settings: Settings, view: RunView) -> tuple[RunView, Any]:
    """The run (reconciled with Temporal: botarmy/reconcile.py) and the running workflow's progress, or None
    (with a note) when Temporal does not answer."""
    from temporalio.service import RPCError

    from botarmy.cli.follow import query_progress
    from botarmy.reconcile import reconcile_run
    from botarmy.temporal import TemporalUnreachable, connect

    try:
        client = await connect(settings.temporal_address, settings.temporal_namespace)
        if await reconcile_run(client, get_store(settings.database_url), view) is not None:
            return _stored(settings, view.run_id), None  # closed outside our code (it would still answer queries)
        return view, await query_progress(client.get_workflow_handle(view.temporal_workflow_id), timeout_s=3)
    except (TemporalUnreachable, RPCError):
        err.print(f"note: Temporal at {settings.temporal_address} does not answer; showing the stored status",
                  highlight=False, markup=False)
        return view, None


def status(run_id: str, json_out: JsonOut = False) -> None:
    """Show a run: status, steps (a waiting step with what it waits for), artifacts."""
    from botarmy.cli.run import print_run

    settings = get_settings()
    view = _stored(settings, run_id)
    progress = None
    if view.status == "running":
        view, progress = asyncio.run(_live_progress(settings, view))
    print_run(view, settings, json_out, out, None if json_out else progress)


async def _watch(settings: Settings, view: RunView) -> RunView:
    from temporalio.client import WorkflowFailureError
    from temporalio.service import RPCError, RPCStatusCode

    from botarmy.cli.follow import follow, stored_run
    from botarmy.temporal import connect

    store = get_store(settings.database_url)
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    handle = client.get_workflow_handle(view.temporal_workflow_id)
    await follow(handle, store, view.run_id, err, live=err.is_terminal, quiet=False)
    try:
        await handle.result()
    except WorkflowFailureError:
        pass  # the stored run says why
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        raise fail(f"run {view.run_id} is stored as {view.status}, but Temporal at {settings.temporal_address} "
                   f"has no workflow {view.temporal_workflow_id}", code=1) from None
    final = await stored_run(store, view.run_id)
    assert final is not None
    return final


def watch(run_id: str, json_out: JsonOut = False) -> None:
    """Follow a run's progress until it ends; exit 0 when it completed, 1 otherwise."""
    from botarmy.cli.run import print_run

    settings = get_settings()
    view = _stored(settings, run_id)
    if view.status == "running":
        try:
            view = asyncio.run(_watch(settings, view))
        except KeyboardInterrupt:
            err.print(f"stopped watching; run {run_id} goes on (`botarmy watch {run_id}` again)",
                      highlight=False, markup=False)
            raise typer.Exit(130) from None
    print_run(view, settings, json_out, out)
    raise typer.Exit(0 if view.status == "completed" else 1)


async def _cancel(settings: Settings, view: RunView) -> str | None:
    """None when the cancel was sent; else what the run is instead of running (reconciled with Temporal when
    its workflow was closed outside our code)."""
    from temporalio.client import WorkflowExecutionStatus

    from botarmy.reconcile import reconcile_run
    from botarmy.temporal import connect

    client = await connect(settings.temporal_address, settings.temporal_namespace)
    handle = client.get_workflow_handle(view.temporal_workflow_id)
    described = await handle.describe()
    if described.status != WorkflowExecutionStatus.RUNNING:
        found = await reconcile_run(client, get_store(settings.database_url), view)
        if found is not None:
            return f"{found.status}: {found.reason}"
        return "Temporal has it " + (described.status.name.lower() if described.status else "unknown")
    await handle.cancel()
    return None


def cancel(run_id: str) -> None:
    """Ask a running run to stop (through Temporal); it records itself as cancelled. Exit 1 when it is not
    running."""
    settings = get_settings()
    view = _stored(settings, run_id)
    if view.status != "running":
        raise fail(f"run {run_id} is not running: it is {view.status}", code=1)
    current = asyncio.run(_cancel(settings, view))
    if current is not None:
        raise fail(f"run {run_id} has already ended: {current}", code=1)
    out.print(f"cancel requested for run {run_id}; it records itself as cancelled (`botarmy watch {run_id}`)",
              highlight=False)


def _set_paused(run_id: str, paused: bool, by: str) -> None:
    from botarmy.pause import PauseRefused, set_paused
    from botarmy.temporal import connect

    settings = get_settings()
    view = _stored(settings, run_id)

    async def go() -> str | None:
        client = await connect(settings.temporal_address, settings.temporal_namespace)
        return (await set_paused(client, get_store(settings.database_url), view, paused, by)).before

    try:
        before = asyncio.run(go())
    except PauseRefused as exc:
        raise fail(str(exc), code=1) from None
    if paused:
        where = f"before {before}" if before else "once the step running now finishes"
        out.print(f"run {run_id} paused {where}; no step starts until `botarmy resume {run_id}`",
                  highlight=False, markup=False)
    else:
        out.print(f"run {run_id} resumed" + (f": {before} starts" if before else ""), highlight=False, markup=False)


def pause(run_id: str, by: Annotated[str, typer.Option("--by", help="who pauses it")] = "cli") -> None:
    """Pause a running run between steps: the step running now finishes, the next waits for `resume`. Durable:
    it stays paused across worker restarts. Exit 1 when it is not running or paused already."""
    _set_paused(run_id, True, by)


def resume(run_id: str, by: Annotated[str, typer.Option("--by", help="who resumes it")] = "cli") -> None:
    """Resume a paused run: its next step starts. Exit 1 when it is not paused."""
    _set_paused(run_id, False, by)


def workflows(bmad_dir: BmadDirs = None, json_out: JsonOut = False) -> None:
    """Every runnable workflow (its definition compiles): id, name, kind, source file."""
    from bmad import DefinitionError, compile_workflow

    catalog = load_catalog(bmad_dir)
    found = []
    for w in sorted(catalog.workflows.values(), key=lambda w: w.id):
        try:
            compile_workflow(catalog, w.id)
        except DefinitionError as exc:
            first = exc.diagnostics[0] if exc.diagnostics else None
            err.print(f"not runnable: {w.id}: {first or 'does not compile'}", highlight=False, markup=False)
            continue
        found.append({"id": w.id, "name": w.name, "kind": w.type or "workflow", "source": w.source.path})
    if json_out:
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
        return
    if not found:
        out.print("no runnable workflows", highlight=False)
        return
    print_table(out, None, ("id", "name", "kind", "source"),
                [[w["id"], w["name"], w["kind"], w["source"]] for w in found])


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `botarmy` app."""
    for command in (runs, status, watch, cancel, pause, resume, workflows):
        app.command(command.__name__)(command)
