"""The `botarmy` command line. Errors in what the user gave are one clear line each and exit 2, never a traceback."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape

from bmad import Catalog, DefinitionError, compile_workflow
from bmad.inputs import InvalidInputs, check_run_inputs
from bmad.plan import Plan
from botarmy.cli import catalog as cli_catalog
from botarmy.cli import local as cli_local
from botarmy.cli import prune as cli_prune
from botarmy.cli import rerun as cli_rerun
from botarmy.cli import runs as cli_runs
from botarmy.cli import schedule as cli_schedule
from botarmy.cli import serve as cli_api
from botarmy.cli import tokens as cli_tokens
from botarmy.cli.common import BmadDirs, err, fail, load_catalog, out
from botarmy.cli.flags import InputError, flag_lines, parse_artifacts, parse_inputs
from botarmy.cli.tables import print_table
from botarmy.settings import get_settings

# help and usage errors in rich panels on a terminal only; a pipe or a log gets click's plain lines
_RICH: Literal["rich"] | None = "rich" if sys.stdout.isatty() and sys.stderr.isatty() else None
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=_RICH,
                  help="BotArmy: BMAD workflows as durable Temporal runs.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"botarmy {version('botarmy')}\n")
        raise typer.Exit(0)


@app.callback()
def _global(
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="show info logs on stderr")] = False,
    _show_version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version,
                                                help="print the version and exit")] = False,
) -> None:
    """BotArmy: BMAD workflows as durable Temporal runs."""
    from botarmy.logging import configure_cli_logging

    configure_cli_logging(verbose)


def compiled(workflow: str, dirs: list[Path] | None) -> Plan:
    catalog = load_catalog(dirs)
    try:
        plan = compile_workflow(catalog, workflow)
    except DefinitionError as exc:
        for d in exc.diagnostics:
            err.print(str(d), highlight=False, markup=False)
        raise typer.Exit(2) from None
    for d in catalog.diagnostics:
        if d.severity == "error":
            err.print(f"warning: {d} (in a file this workflow does not use)", highlight=False, markup=False)
    return plan


@app.command()
def validate(
    bmad_dir: BmadDirs = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="errors only, and one line counting the warnings "
                                                             "by kind")] = False,
) -> None:
    """Check every definition; one `path:line:col: message` line per problem."""
    catalog = load_catalog(bmad_dir)
    errors = [d for d in catalog.diagnostics if d.severity == "error"]
    for d in sorted(catalog.diagnostics):
        if d.severity == "error" or not quiet:
            (err if d.severity == "error" else out).print(str(d), highlight=False, markup=False)
    warnings = [d for d in catalog.diagnostics if d.severity != "error"]
    counted = f"{len(warnings)} warnings"
    if quiet and warnings:
        kinds = Counter(warning_kind(d.message) for d in warnings)
        counted += ": " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    if errors:
        if quiet:
            out.print(counted, highlight=False, markup=False)
        raise typer.Exit(2)
    out.print(
        f"ok: {len(catalog.workflows)} workflows, {len(catalog.agents)} agents, {len(catalog.templates)} templates, "
        f"{len(catalog.teams)} teams; {counted}",
        highlight=False, markup=False,
    )


def warning_kind(message: str) -> str:
    """A warning's kind: its first clause without the names in it ("'commands' is ignored: ..." and
    "'flow_diagram' is ignored: ..." are both "is ignored"), so a hundred of one kind are one count."""
    clause = re.split(r":(?=\s)", re.sub(r"'[^']*'|`[^`]*`|\s\([^)]*\)", "", message), maxsplit=1)[0]
    return " ".join(re.sub(r"\d+", "N", clause).split()) or "other"


@app.command()
def plan(
    workflow: str,
    bmad_dir: BmadDirs = None,
    format: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Show the compiled plan of WORKFLOW (its `id`)."""
    if format not in ("text", "json"):
        raise fail(f"--format {format!r}: use text or json")
    p = compiled(workflow, bmad_dir)
    if format == "json":
        sys.stdout.write(p.model_dump_json(indent=2) + "\n")
        return
    rows = []
    for s in p.steps:
        when = " ".join(x for x in [f"if {s.condition}" if s.condition else "", "optional" if s.optional else "",
                                    f"repeats {s.repeats}" if s.repeats else ""] if x)
        rows.append([str(s.index + 1), s.id, s.agent or s.kind, s.output or "", ", ".join(s.requires), when])
    print_table(out, f"{p.workflow_id} — {p.name} ({p.definition_hash[:12]})",
                ("#", "step", "agent", "output", "requires", "when"), rows)
    if p.external_inputs:
        out.print("external inputs (give with --artifact NAME=FILE): " + ", ".join(p.external_inputs))
    if p.input_defaults:
        out.print("run inputs and defaults: " + json.dumps(p.input_defaults, ensure_ascii=False))
    for agent in p.agents.values():  # exactly what each AutoGen agent is given as its system message
        out.print(f"\n--- system message of {agent.id} ---", highlight=False, markup=False)
        out.print(agent.system_message, highlight=False, markup=False)


@app.command()
def run(
    workflow: str,
    bmad_dir: BmadDirs = None,
    input: Annotated[list[str] | None, typer.Option("--input", help="KEY=VALUE (JSON when it parses)")] = None,
    artifact: Annotated[list[str] | None, typer.Option("--artifact", help="NAME=FILE: an external input")] = None,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="decide without asking a person")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print one JSON object at the end")] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="write the artifacts here at the end")] = None,
    approve: Annotated[str, typer.Option("--approve", help="who approves outputs: all, none, or AGENT,AGENT")] = "none",
    budget_usd: Annotated[float | None, typer.Option("--budget-usd", min=1e-6, help="pause before exceeding")] = None,
    budget_tokens: Annotated[int | None, typer.Option("--budget-tokens", min=1, help="pause before exceeding")] = None,
    team: Annotated[str | None, typer.Option("--team", help="an agent team with every agent WORKFLOW needs "
                                             "(default: the first such team)")] = None,
    reuse: Annotated[bool, typer.Option("--reuse", help="a step whose full input equals an earlier run's stored "
                                        "step takes its output over, without a model call")] = False,
) -> None:
    """Run WORKFLOW to the end; exit 0 only when it completed."""
    try:
        inputs = parse_inputs(input or [])
        files = parse_artifacts(artifact or [])
    except InputError as exc:
        raise fail(str(exc)) from None
    p = compiled(workflow, bmad_dir)
    try:
        checked = check_run_inputs(p, inputs, {name: len(data) for name, data in files.items()}, approve,
                                   get_settings().limits)
    except InvalidInputs as exc:
        for line in flag_lines(exc.problems, input or [], artifact or [], approve):
            err.print(f"[red]error:[/red] {escape(line)}", highlight=False)
        raise typer.Exit(2) from None
    run_team_id = run_team(load_catalog(bmad_dir), team, p.workflow_id)
    if not json_out and run_team_id is not None:
        out.print(f"team: {run_team_id}", highlight=False, markup=False)
    from botarmy.cli.run import execute
    from store import ReusePlan, RunLineage

    settings = get_settings()
    lineage = RunLineage(reuse=ReusePlan(cache=True)) if reuse else None
    code, run_id = asyncio.run(execute(settings, p, checked.inputs, files, auto_approve, json_out, out, err,
                                       checked.approve, (budget_usd, budget_tokens), run_team_id, lineage))
    if out_dir is not None and run_id and code != 130:
        write_artifacts(run_id, out_dir)
    raise typer.Exit(code)


def run_team(catalog: Catalog, team: str | None, workflow_id: str) -> str | None:
    """The team a run records as `_team`: the one given when it has every agent the workflow needs (else exit 2),
    or the first compatible team; None, said on stderr, when no team is compatible."""
    from bmad.teams import pick_team, team_refusal

    if team is None:
        picked = pick_team(catalog, workflow_id)
        if picked is None:
            err.print(f"warning: no agent team has every agent {workflow_id} needs; running without a team "
                      "(_team: null)", highlight=False, markup=False)
        return picked
    if (why := team_refusal(catalog, team, workflow_id)) is not None:
        raise fail(why)
    return team


@app.command()
def decide(
    run_id: str,
    step: str,
    decision: Annotated[str, typer.Argument(
        help="approve | reject | amend | yes | no | choose | raise | stop | answer (the text in --comment)")],
    comment: Annotated[str, typer.Option("--comment", "-m", help="feedback (reject) or a note")] = "",
    comment_file: Annotated[Path | None, typer.Option("--comment-file", help="the comment, from a file")] = None,
    content_file: Annotated[Path | None, typer.Option("--content-file", help="amend: the edited artifact")] = None,
    by: Annotated[str, typer.Option("--by", help="who decides")] = "cli",
    role: Annotated[str | None, typer.Option("--role", help="the role you decide as")] = None,
    choice: Annotated[str | None, typer.Option("--choice", help="choose: the branch; raise: the new budget")] = None,
) -> None:
    """Decide on a step that waits for a person."""
    from botarmy.cli.decide import send_decision

    if decision not in ("approve", "reject", "amend", "yes", "no", "choose", "raise", "stop", "answer"):
        raise fail(f"decision {decision!r}: use approve, reject, amend, yes, no, choose, raise, stop or answer")
    if decision == "answer" and not comment.strip():
        raise fail("decision answer needs the answer's text in --comment (or use `botarmy answer RUN STEP TEXT`)")
    if decision in ("choose", "raise") and not choice:
        raise fail(f"decision {decision} needs --choice (the branch, or the new budget)")
    if content_file is not None and not content_file.is_file():
        raise fail(f"--content-file {content_file}: no such file")
    if comment_file is not None:
        if comment or not comment_file.is_file():
            raise fail(f"--comment-file {comment_file}: " + ("give -m or --comment-file, not both" if comment
                                                             else "no such file"))
        comment = comment_file.read_text()
    content = content_file.read_text() if content_file else None
    code = asyncio.run(
        send_decision(get_settings(), run_id, step, decision, comment, content, by, role, out, err, choice)
    )
    raise typer.Exit(code)


@app.command()
def answer(
    run_id: str,
    step: str,
    text: Annotated[str, typer.Argument(help="the answer to the step's question")],
    by: Annotated[str, typer.Option("--by", help="who answers")] = "cli",
    role: Annotated[str | None, typer.Option("--role", help="the role you answer as")] = None,
) -> None:
    """Answer the question a step asks (a v6 `<ask>`); the step then runs with the answer in its prompt."""
    from botarmy.cli.decide import send_decision

    if not text.strip():
        raise fail("the answer is empty: give its text")
    raise typer.Exit(asyncio.run(send_decision(get_settings(), run_id, step, "answer", text, None, by, role, out,
                                               err)))


@app.command()
def approvals() -> None:
    """List every step that waits for a person, across running runs."""
    from botarmy.cli.decide import list_pending

    raise typer.Exit(asyncio.run(list_pending(get_settings(), out)))


@app.command()
def artifacts(
    run_id: str,
    out_dir: Annotated[Path | None, typer.Option("--out", help="write the latest version of each here")] = None,
) -> None:
    """List a run's artifacts, or write them to a folder."""
    from store import get_store

    run_view = get_store(get_settings().database_url).get_run(run_id)
    if run_view is None:
        raise fail(f"no run {run_id!r}")
    if out_dir is not None:
        write_artifacts(run_id, out_dir)
        return
    for a in run_view.artifacts:
        out.print(f"{a.name} v{a.version}  {a.bytes} B  sha256:{a.sha256[:12]}  ({a.step})", highlight=False)


def write_artifacts(run_id: str, out_dir: Path) -> None:
    """Write the latest version of each artifact under out_dir (names never escape it)."""
    from store import get_store

    store = get_store(get_settings().database_url)
    run_view = store.get_run(run_id)
    assert run_view is not None
    root = out_dir.resolve()
    latest = {a.name: a for a in run_view.artifacts}
    for a in latest.values():
        target = (root / a.name).resolve()
        if root not in target.parents:
            raise fail(f"artifact name {a.name!r} would leave {root}; not written")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(store.read_artifact(a.id, a.sha256))
        out.print(f"wrote {target} (v{a.version}, {a.bytes} B)", highlight=False)


@app.command()
def worker() -> None:
    """Run a worker (as `python worker.py` does)."""
    from worker import run_worker

    asyncio.run(run_worker())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (they also run on first use)."""
    from sqlalchemy.engine import make_url

    from store import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    out.print(f"database at {shown} is up to date", highlight=False)


cli_catalog.register(app)
cli_local.register(app)
cli_runs.register(app)
cli_rerun.register(app)
cli_prune.register(app)
cli_schedule.register(app)
cli_api.register(app)
cli_tokens.register(app)


def main() -> None:
    """The `botarmy` process: the app, with the world's known failures mapped once here to one line and exit 2
    (anything else is a bug and shows its traceback). It ends the process itself once its output is flushed:
    the Temporal SDK's native threads can abort an interpreter that finalizes after a client was used
    ("Fatal Python error: PyGILState_Release", exit 134), which would replace the command's own exit code."""
    code = _exit_code(_run)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    logging.shutdown()
    os._exit(code)


def _exit_code(fn: Callable[[], object]) -> int:
    try:
        fn()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def _run() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        from botarmy.cli.errors import explain  # here: what it imports to recognise failures costs every command

        line = explain(exc)
        if line is None:
            raise
        err.print(f"error: {line}", highlight=False, markup=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
