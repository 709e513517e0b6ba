"""`botarmy rerun RUN_ID [--from STEP]`: a new run linked to its parent that carries over the steps before STEP
without a model call (botarmy/rerun.py) and runs STEP and what follows. Registered on the main app by `register`."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.markup import escape

from botarmy.cli.common import BmadDirs, err, fail, load_catalog, out
from botarmy.cli.flags import InputError, parse_artifacts, parse_inputs
from botarmy.settings import get_settings


def rerun(
    run_id: str,
    from_step: Annotated[str | None, typer.Option("--from", help="the step to rerun from (its id or number); "
                                                  "default for a failed, cancelled or stopped run: the first "
                                                  "step that did not complete")] = None,
    artifact: Annotated[list[str] | None, typer.Option("--artifact", help="NAME=FILE: this document replaces "
                                                       "the parent's, as its next version")] = None,
    input: Annotated[list[str] | None, typer.Option("--input", help="KEY=VALUE: overrides the parent's "
                                                    "input")] = None,
    definition: Annotated[str, typer.Option("--definition", help="pinned (the parent's plan) or current (the "
                                            "definition as it is now)")] = "pinned",
    force: Annotated[bool, typer.Option("--force", help="with --definition current: carry over steps whose "
                                        "definition changed")] = False,
    bmad_dir: BmadDirs = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the run object at the end")] = False,
) -> None:
    """Rerun RUN_ID from a step, paying only for that step and what follows; exit 0 only when it completed."""
    from bmad import DefinitionError, compile_workflow
    from bmad.inputs import InvalidInputs
    from bmad.plan import Plan
    from botarmy.cli.run import execute
    from botarmy.rerun import RerunRefused, prepare_rerun
    from store import get_store

    if definition not in ("pinned", "current"):
        raise fail(f"--definition {definition!r}: use pinned or current")
    if force and definition != "current":
        raise fail("--force only applies with --definition current")
    try:
        inputs = parse_inputs(input or [])
        files = parse_artifacts(artifact or [])
    except InputError as exc:
        raise fail(str(exc)) from None
    settings = get_settings()
    store = get_store(settings.database_url)
    parent = store.get_run(run_id)
    if parent is None:
        raise fail(f"no run {run_id!r}")
    current: Plan | None = None
    if definition == "current":
        try:
            current = compile_workflow(load_catalog(bmad_dir), parent.workflow_id)
        except DefinitionError as exc:
            for d in exc.diagnostics:
                err.print(str(d), highlight=False, markup=False)
            raise typer.Exit(2) from None
    try:
        prepared = prepare_rerun(store, run_id, from_step, files, inputs, current, force)
    except RerunRefused as exc:
        raise fail(escape(str(exc))) from None
    except InvalidInputs as exc:
        for p in exc.problems:
            err.print(f"[red]error:[/red] {escape(p.message)}", highlight=False)
        raise typer.Exit(2) from None
    if current is not None and not json_out:
        said = ", ".join(prepared.changed) if prepared.changed else "none"
        out.print(f"steps changed since run {run_id}: {said}", highlight=False, markup=False)
    if not json_out:
        carried = ", ".join(prepared.carried) or "none"
        out.print(f"rerun of {run_id} from {prepared.from_step}; carried over: {carried}", highlight=False,
                  markup=False)
    code, _ = asyncio.run(execute(settings, prepared.plan, prepared.inputs, prepared.files, False, json_out, out,
                                  err, prepared.approve, team=prepared.team, lineage=prepared.lineage,
                                  pinned=prepared.run_model))
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command()(rerun)


