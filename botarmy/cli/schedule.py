"""`botarmy schedule create|list|pause|delete`: scheduled runs on Temporal Schedules (botarmy/schedules.py).
Registered on the main app by `register`."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from botarmy.cli.common import BmadDirs, err, fail, load_catalog, out
from botarmy.cli.flags import InputError, parse_inputs
from botarmy.cli.tables import print_table
from botarmy.settings import get_settings

if TYPE_CHECKING:
    from temporalio.client import Client

schedule_app = typer.Typer(no_args_is_help=True, help="Scheduled runs (Temporal Schedules).")


async def _client() -> Client:
    from botarmy.temporal import connect, ensure_search_attributes

    settings = get_settings()
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    await ensure_search_attributes(client)
    return client


@schedule_app.command("create")
def create(
    workflow: str,
    cron: Annotated[str, typer.Option("--cron", help="a cron expression, e.g. '0 6 * * 1-5'")],
    input: Annotated[list[str] | None, typer.Option("--input", help="KEY=VALUE (JSON when it parses)")] = None,
    schedule_id: Annotated[str | None, typer.Option("--id", help="the schedule's id (default: WORKFLOW)")] = None,
    approve: Annotated[str, typer.Option("--approve", help="all, none, or AGENT,AGENT")] = "none",
    bmad_dir: BmadDirs = None,
) -> None:
    """Run WORKFLOW on a cron schedule; each run starts through `launch`, pinned to the definition as it is now."""
    from bmad import DefinitionError, compile_workflow
    from bmad.inputs import InvalidInputs, check_run_inputs
    from botarmy.schedules import ScheduleRefused, create_schedule
    from providers.pin import resolve_run_model
    from store import get_store

    try:
        inputs = parse_inputs(input or [])
    except InputError as exc:
        raise fail(str(exc)) from None
    try:
        plan = compile_workflow(load_catalog(bmad_dir), workflow)
    except DefinitionError as exc:
        for d in exc.diagnostics:
            err.print(str(d), highlight=False, markup=False)
        raise typer.Exit(2) from None
    try:
        checked = check_run_inputs(plan, inputs, [], approve)
    except InvalidInputs as exc:
        for p in exc.problems:
            err.print(f"[red]error:[/red] {escape(p.message)}", highlight=False)
        raise typer.Exit(2) from None
    settings = get_settings()
    pin = resolve_run_model(settings)[0]

    async def go() -> str:
        return await create_schedule(await _client(), get_store(settings.database_url), settings, plan,
                                     checked.inputs, cron, schedule_id, checked.approve, pin)

    try:
        sid = asyncio.run(go())
    except ScheduleRefused as exc:  # "cron '...': ..." names the flag here
        raise fail(escape(f"--{exc}" if exc.field else str(exc))) from None
    out.print(f"schedule {sid}: {plan.workflow_id} at '{cron}' (a worker must poll {settings.task_queue!r})",
              highlight=False, markup=False)


@schedule_app.command("list")
def list_(json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """The schedules: id, cron, paused, next run."""
    from botarmy.schedules import ScheduleInfo, list_schedules

    async def go() -> list[ScheduleInfo]:
        return await list_schedules(await _client())

    found = asyncio.run(go())
    if json_out:
        sys.stdout.write(json.dumps([s.as_json() for s in found], indent=2) + "\n")
        return
    if not found:
        out.print("no schedules", highlight=False)
        return
    print_table(out, None, ("id", "cron", "paused", "next", "note"),
                [[s.id, " ".join(s.cron), "yes" if s.paused else "no", (s.next_times or ["-"])[0], s.note]
                 for s in found])


def _act(what: str, schedule_id: str, paused: bool = True) -> None:
    from botarmy.schedules import ScheduleRefused, delete_schedule, pause_schedule, trigger_schedule

    async def go() -> None:
        client = await _client()
        if what == "pause":
            await pause_schedule(client, schedule_id, paused)
        elif what == "delete":
            await delete_schedule(client, schedule_id)
        else:
            await trigger_schedule(client, schedule_id)

    try:
        asyncio.run(go())
    except ScheduleRefused as exc:
        raise fail(escape(str(exc))) from None


@schedule_app.command("pause")
def pause(schedule_id: str,
          resume: Annotated[bool, typer.Option("--resume", help="unpause it instead")] = False) -> None:
    """Pause a schedule (no runs start until it is resumed with --resume)."""
    _act("pause", schedule_id, not resume)
    out.print(f"schedule {schedule_id} {'resumed' if resume else 'paused'}", highlight=False, markup=False)


@schedule_app.command("delete")
def delete(schedule_id: str) -> None:
    """Delete a schedule (runs it started stay)."""
    _act("delete", schedule_id)
    out.print(f"schedule {schedule_id} deleted", highlight=False, markup=False)


@schedule_app.command("trigger")
def trigger(schedule_id: str) -> None:
    """Start one run of the schedule now."""
    _act("trigger", schedule_id)
    out.print(f"schedule {schedule_id} triggered", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(schedule_app, name="schedule")
