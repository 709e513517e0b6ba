"""What `botarmy run` does: find or start Temporal, store the plan, start the run, follow it, report it."""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError
from temporalio.worker import Worker

from bmad.plan import Plan
from botarmy import devserver
from botarmy.cli.follow import follow, stored_run
from botarmy.cli.tables import print_table
from botarmy.launch import launch
from botarmy.logging import log_to_file
from botarmy.runview import run_object
from botarmy.settings import Settings
from botarmy.temporal import (
    connect,
    ensure_search_attributes,
    has_pollers,
    new_run_id,
    web_ui_link,
)
from providers.pin import RunModel, resolve_run_model
from providers.types import ModelConfigError
from store import RunLineage, RunView, Store, get_store
from workflows.contracts import ApprovalRequest, RunProgress
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
    lineage: RunLineage | None = None,
    pinned: RunModel | None = None,
) -> tuple[int, str | None]:
    """Start and follow a run; `pinned` (a rerun: the parent's model) instead of the model set here."""
    try:  # the run is pinned to the model set here: refuse one that cannot be used before anything starts
        run_model, warnings = (pinned, []) if pinned is not None else resolve_run_model(settings)
    except ModelConfigError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        return 2, None
    try:
        if devserver.ensure_server(settings):
            err.print(f"started the embedded Temporal dev server at {settings.temporal_address} "
                      f"(data in {settings.home_dir}/; `botarmy stop` stops it)")
    except devserver.DevServerError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        return 2, None
    from worker import check_models

    client = await connect(settings.temporal_address, settings.temporal_namespace)
    await ensure_search_attributes(client)
    in_process = not await has_pollers(client, settings.task_queue)
    if in_process:
        check_models(settings)  # this process's environment is the worker's: a missing key is said now, once
    else:  # another worker runs the steps: it may have the key this process lacks
        for warning in warnings:
            err.print(f"warning: {warning}", highlight=False, markup=False)
    store = get_store(settings.database_url)
    await asyncio.to_thread(store.migrate)
    run_id, _ = new_run_id(plan)  # minted here so a worker hosted for the run logs to a file named for it
    async with AsyncExitStack() as stack:
        if in_process:
            err.print(f"no worker polls task queue {settings.task_queue!r}: running one in this process for this "
                      f"run (its log: {_host_worker_logs(settings, run_id)})", highlight=False)
            await stack.enter_async_context(_worker(client, settings, store))
        launched = await launch(client, store, settings, plan, inputs, files, approve=approve,
                                auto_approve=auto_approve, budget=budget, team=team, run_model=run_model,
                                run_id=run_id, lineage=lineage)
        handle, wid = launched.handle, launched.workflow_id
        link = web_ui_link(settings, wid, settings.temporal_namespace)
        if not json_out:
            err.print(f"run {run_id} of {plan.workflow_id} started — Web UI: {link}", highlight=False)
        try:
            # Temporal lists a worker that just exited as a poller for up to a minute: when nobody takes the run,
            # run a worker here after all
            if not in_process and not await _answered(handle, WORKER_GRACE_S):
                in_process = True
                check_models(settings)
                err.print(f"no worker took the run within {WORKER_GRACE_S:.0f} s: running one in this process "
                          f"(its log: {_host_worker_logs(settings, run_id)})", highlight=False)
                await stack.enter_async_context(_worker(client, settings, store))
            await follow(handle, store, run_id, err, live=err.is_terminal, quiet=json_out)
            try:
                await handle.result()
            except WorkflowFailureError:
                pass  # the stored run says why
        except asyncio.CancelledError:  # Ctrl-C: the run is durable; say how to get back to it
            goes_on = ("pauses until a worker runs (`botarmy dev --detach` starts one)" if in_process
                       else "goes on")
            err.print(f"interrupted: run {run_id} {goes_on}; `botarmy watch {run_id}` follows it again",
                      highlight=False, markup=False)
            return 130, run_id
    view = await stored_run(store, run_id)
    assert view is not None
    print_run(view, settings, json_out, out)
    return (0 if view.status == "completed" else 1), run_id


def _host_worker_logs(settings: Settings, run_id: str) -> Path:
    """A worker hosted here logs to a file: the terminal shows the run's progress, not the SDK's warnings."""
    return log_to_file(devserver.logs_dir(settings) / f"run-{run_id}.log", settings.log_level)


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


def print_run(view: RunView, settings: Settings, json_out: bool, out: Console,
              progress: RunProgress | None = None) -> None:
    """The run for a person (tables on a terminal, plain lines elsewhere), or its JSON object; `progress`, when
    the running workflow answered, says what a waiting step waits for."""
    link = web_ui_link(settings, view.temporal_workflow_id, settings.temporal_namespace)
    if json_out:
        sys.stdout.write(json.dumps(run_object(view, link), indent=2) + "\n")
        return
    waits = {r.step: r for r in progress.pending_approvals} if progress is not None else {}
    rows = []
    for s in view.steps:
        model = f"{s.provider}:{s.model}" if s.provider and s.provider != "offline" else (s.provider or "-")
        if s.fallbacks:
            model += " (after " + ", ".join(f["from"] for f in s.fallbacks) + ")"
        status = f"waiting: {waiting_for(waits[s.key])}" if s.key in waits else s.status
        rows.append([s.key, s.agent or "-", status, str(s.attempts), model])
    print_table(out, f"run {view.run_id} — {view.workflow_id}: {view.status}",
                ("step", "agent", "status", "attempts", "model"), rows)
    print_table(out, "artifacts", ("name", "version", "bytes", "sha256", "step"),
                [[a.name, str(a.version), str(a.bytes), a.sha256[:12], a.step] for a in view.artifacts])
    if view.usage is not None and view.usage.totals.calls:
        rows = [[f"{g.provider}:{g.model}", str(g.calls), str(g.prompt_tokens), str(g.completion_tokens),
                 f"{g.cost_usd:.6f}"] for g in view.usage.by_model]
        t = view.usage.totals
        rows.append(["total", str(t.calls), str(t.prompt_tokens), str(t.completion_tokens), f"{t.cost_usd:.6f}"])
        print_table(out, "usage", ("model", "calls", "prompt tokens", "completion tokens", "cost (USD)"), rows)
    if view.error:
        out.print(f"[red]error:[/red] {view.error}", highlight=False)
    out.print(f"Web UI: {link}", highlight=False)


def waiting_for(req: ApprovalRequest) -> str:
    """What a waiting step waits for, in a few words."""
    return {"approval": f"approval of {req.artifact} v{req.version}",
            "route": f"a choice: {' | '.join(req.choices)}",
            "budget": f"a budget decision: {req.question}"}.get(req.kind, f"an answer: {req.question}?")
