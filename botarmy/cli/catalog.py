"""CLI commands over the BMAD catalog (render, teams). Registered on the main app by `register`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from bmad import DefinitionError
from bmad.models import TemplateDef
from bmad.teams import check_team, team_agents, workflow_agents
from bmad.templates import FORMATS, TemplateError, load_template, render_template
from bmad.yamlsrc import MAX_BYTES, MAX_DEPTH, Located, YamlLoadError, load_yaml_text, to_plain
from botarmy.cli.common import BmadDirs, fail, load_catalog, out


def _definition_error(exc: DefinitionError) -> typer.Exit:
    return fail("; ".join(str(d) if d.line else f"{d.path}: {d.message}" for d in exc.diagnostics))


def _too_deep(data: Any, limit: int) -> bool:
    """Whether plain JSON data nests deeper than `limit` (walked without recursion)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            pending.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return False


def _parse_variables(path: Path, text: str) -> Any:
    """The --vars file's data; untrusted, so bounded like every definition: size, nesting, aliases."""
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except RecursionError:  # nested past the interpreter's own limit
            raise _deep_json(path) from None
        except ValueError as exc:
            raise fail(f"--vars {path}: not valid JSON: {' '.join(str(exc).split())}") from None
        if _too_deep(data, MAX_DEPTH):
            raise _deep_json(path)
        return data
    try:
        return to_plain(load_yaml_text(text, Located(str(path))))
    except YamlLoadError as exc:
        found = exc.diagnostic
        shown = str(found) if found.line else f"{path}: {found.message}"
        raise fail(f"--vars {shown}") from None


def _deep_json(path: Path) -> typer.Exit:
    return fail(f"--vars {path}: JSON nesting is deeper than {MAX_DEPTH} levels; refusing it")


def _variables(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise fail(f"--vars {path}: file is {size} bytes, over the {MAX_BYTES}-byte limit")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"--vars {path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    data = _parse_variables(path, text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise fail(f"--vars {path}: must be a mapping of variable names to values, not a {type(data).__name__}")
    return data


def _template(name: str, dirs: list[Path] | None) -> TemplateDef:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and (path.is_file() or "/" in name):
        if not path.is_file():
            raise fail(f"template file {name}: no such file")
        try:
            return load_template(path)
        except DefinitionError as exc:
            raise _definition_error(exc) from None
    catalog = load_catalog(dirs)
    found = catalog.template(name)
    if found is None:
        known = ", ".join(sorted(catalog.templates)) or "none"
        raise fail(f"unknown template {name!r}; available templates: {known}")
    return found


def render(
    template: Annotated[str, typer.Argument(help="A template id (prd-template-v2), file stem (prd-tmpl) or path.")],
    vars_file: Annotated[Path | None, typer.Option("--vars", help="Variables: a YAML or JSON file.")] = None,
    format: Annotated[str, typer.Option("--format", help="md, html, json or yaml")] = "md",
    bmad_dir: BmadDirs = None,
    strict: Annotated[bool, typer.Option("--strict", help="an unknown variable is an error")] = False,
) -> None:
    """Render a document template with variables."""
    if format not in FORMATS:
        raise fail(f"--format {format!r}: use one of {', '.join(FORMATS)}")
    variables = _variables(vars_file)
    loaded = _template(template, bmad_dir)
    try:
        text = render_template(loaded, variables, format=format, strict=strict)
    except TemplateError as exc:
        raise fail(str(exc)) from None
    sys.stdout.write(text)


teams_app = typer.Typer(no_args_is_help=True, help="Agent teams: which workflows they can run.")


@teams_app.command("list")
def teams_list(bmad_dir: BmadDirs = None) -> None:
    """List the teams with their agents."""
    catalog = load_catalog(bmad_dir)
    if not catalog.teams:
        out.print("no teams", highlight=False)
    for team_id in sorted(catalog.teams):
        team = catalog.teams[team_id]
        agents = team_agents(catalog, team_id)
        out.print(f"{team_id}  {team.name}  agents: {', '.join(agents) or '-'}", highlight=False, markup=False)


@teams_app.command("check")
def teams_check(team: str, workflow: str, bmad_dir: BmadDirs = None) -> None:
    """Whether TEAM has every agent WORKFLOW needs; exit 0 when it has, 1 when not."""
    catalog = load_catalog(bmad_dir)
    try:
        ok, missing = check_team(catalog, team, workflow)
        needed = workflow_agents(catalog, workflow)
    except DefinitionError as exc:
        raise _definition_error(exc) from None
    covered = [a for a in needed if a not in missing]
    out.print(f"covered: {', '.join(covered) or '-'}", highlight=False, markup=False)
    out.print(f"missing: {', '.join(missing) or '-'}", highlight=False, markup=False)
    verdict = "can run" if ok else "cannot run"
    out.print(f"{team} {verdict} {workflow}", highlight=False, markup=False)
    raise typer.Exit(0 if ok else 1)


def providers(
    config: Annotated[Path | None, typer.Option("--config", help="A providers file (default: "
                                                "BOTARMY_PROVIDERS_FILE, .botarmy/providers.yaml, else BOTARMY_MODEL).")
                      ] = None,
) -> None:
    """The model providers in use: models, whether each key is set, whether each endpoint answers, and health.
    Exit 0 when every provider in use is usable, 1 when one is not, 2 when the config cannot be read."""
    from botarmy.cli.providers import providers_command
    from botarmy.settings import get_settings

    settings = get_settings()
    code = providers_command(config or settings.providers_file, health_path=settings.provider_health_file,
                             console=out)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `botarmy` app."""
    app.command("render")(render)
    app.add_typer(teams_app, name="teams")
    app.command("providers")(providers)
