"""What `botarmy run` does: find or start Temporal, store the plan, start the run, follow it, report it."""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError
from temporalio.worker import Worker

from bmad.plan import Plan
from botarmy import devserver
from botarmy.follow import follow
from botarmy.launch import launch
from botarmy.logging import configure_logging
from botarmy.runview import run_object
from botarmy.settings import Settings
from botarmy.temporal import (
    connect,
    ensure_search_attributes,
    has_pollers,
    web_ui_link,
)
from providers.pin import resolve_run_model
from providers.types import ModelConfigError
from store import RunView, Store, get_store
from workflows.run import BmadRunWorkflow


async def execute(
    settings: Settings,
    plan: Plan,
    inputs: dict[str, Any],
    files: dict[str, bytes],
    auto_approve: bool,
    json_out: bool,
    out: Console,
    err: Console,
    approve: str | list[str] = "none",
    budget: tuple[float | None, int | None] = (None, None),
    team: str | None = None,
) -> tuple[int, str | None]:
    configure_logging("WARNING")  # the CLI shows progress; worker logs stay quiet here
    try:  # the run is pinned to the model set here: refuse one that cannot be used before anything starts
        run_model, warnings = resolve_run_model(settings)
    except ModelConfigError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2, None
    for warning in warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    try:
        if devserver.ensure_server(settings):
            err.print(f"started the embedded Temporal dev server at {settings.temporal_address} "
                      f"(data in {settings.home_dir}/; `make stop` stops it)")
    except devserver.DevServerError as exc:
        err.print(f"[red]error:[/red] {exc}")
        return 2, None
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    await ensure_search_attributes(client)
    store = get_store(settings.database_url)
    await asyncio.to_thread(store.migrate)
    async with AsyncExitStack() as stack:
        in_process = not await has_pollers(client, settings.task_queue)
        if in_process:
            err.print(f"no worker polls task queue {settings.task_queue!r}: running one in this process for this run")
            await stack.enter_async_context(_worker(client, settings, store))
        launched = await launch(client, store, settings, plan, inputs, files, approve=approve,
                                auto_approve=auto_approve, budget=budget, team=team, run_model=run_model)
        handle, run_id, wid = launched.handle, launched.run_id, launched.workflow_id
        link = web_ui_link(settings, wid, settings.temporal_namespace)
        if not json_out:
            err.print(f"run {run_id} of {plan.workflow_id} started — Web UI: {link}", highlight=False)
        # Temporal lists a worker that just exited as a poller for up to a minute: when nobody takes the run,
        # run a worker here after all
        if not in_process and not await _answered(handle, WORKER_GRACE_S):
            err.print(f"no worker took the run within {WORKER_GRACE_S:.0f} s: running one in this process")
            await stack.enter_async_context(_worker(client, settings, store))
        await follow(handle, store, run_id, err, live=err.is_terminal, quiet=json_out)
        try:
            await handle.result()
        except WorkflowFailureError:
            pass  # the stored run says why
    view = await asyncio.to_thread(store.get_run, run_id)
    assert view is not None
    print_run(view, settings, json_out, out)
    return (0 if view.status == "completed" else 1), run_id


WORKER_GRACE_S = 5.0


def _worker(client: Client, settings: Settings, store: Store) -> Worker:
    from worker import build_worker

    return build_worker(client, settings, store)


async def _answered(handle: WorkflowHandle, within_s: float) -> bool:
    """Whether a worker answers the run's progress query (it has taken the run) within `within_s`."""
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        try:
            await handle.query(BmadRunWorkflow.progress, rpc_timeout=timedelta(seconds=2))
            return True
        except (RPCError, WorkflowQueryFailedError):
            await asyncio.sleep(0.3)
    return False


def print_run(view: RunView, settings: Settings, json_out: bool, out: Console) -> None:
    link = web_ui_link(settings, view.temporal_workflow_id, settings.temporal_namespace)
    if json_out:
        sys.stdout.write(json.dumps(run_object(view, link), indent=2) + "\n")
        return
    table = Table(title=f"run {view.run_id} — {view.workflow_id}: {view.status}")
    for col in ("step", "agent", "status", "attempts", "model"):
        table.add_column(col)
    for s in view.steps:
        model = f"{s.provider}:{s.model}" if s.provider and s.provider != "offline" else (s.provider or "-")
        if s.fallbacks:
            model += " (after " + ", ".join(f["from"] for f in s.fallbacks) + ")"
        table.add_row(s.key, s.agent or "-", s.status, str(s.attempts), model)
    out.print(table)
    arts = Table(title="artifacts")
    for col in ("name", "version", "bytes", "sha256", "step"):
        arts.add_column(col)
    for a in view.artifacts:
        arts.add_row(a.name, str(a.version), str(a.bytes), a.sha256[:12], a.step)
    out.print(arts)
    if view.usage is not None and view.usage.totals.calls:
        usage = Table(title="usage")
        for col in ("model", "calls", "prompt tokens", "completion tokens", "cost (USD)"):
            usage.add_column(col)
        for g in view.usage.by_model:
            usage.add_row(f"{g.provider}:{g.model}", str(g.calls), str(g.prompt_tokens), str(g.completion_tokens),
                          f"{g.cost_usd:.6f}")
        t = view.usage.totals
        usage.add_row("total", str(t.calls), str(t.prompt_tokens), str(t.completion_tokens), f"{t.cost_usd:.6f}")
        out.print(usage)
    if view.error:
        out.print(f"[red]error:[/red] {view.error}", highlight=False)
    out.print(f"Web UI: {link}", highlight=False)
