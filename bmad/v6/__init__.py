"""BMAD v6 installs (`_bmad/`: 6.0 workflow.yaml / step-file style, and 6.2+ skills) loaded into the Catalog,
each workflow compiled into the same Plan the v4 workflows compile to (see bmad/v6/plans.py)."""

from __future__ import annotations

from pathlib import Path

from bmad.diagnostics import Diagnostic
from bmad.models import AgentDef, Catalog, WorkflowDef
from bmad.plan import AgentSpec, SourceRef
from bmad.v6 import install as installs
from bmad.v6.install import SKILL_FOLDERS, Install, read_csv
from bmad.v6.personas import skill_agent, skill_table, xml_agent
from bmad.v6.plans import compile_v6
from bmad.v6.tracks import track_workflows
from bmad.v6.workflows import V6Workflow, from_markdown, from_skill, from_yaml, help_rows

__all__ = ["Install", "find_install", "load_v6"]

find_install = installs.find
_MENU_TARGET = __import__("re").compile(r"(?:workflow|exec)=\"([^\"]+)\"")


def load_v6(install: Install, catalog: Catalog) -> None:
    """Every agent and workflow of `install` into `catalog`; every problem into its diagnostics."""
    problems = list(install.diagnostics)
    if install.style == "skills":
        agents, workflows = _skills(install, problems)
    else:
        agents, workflows = _workflows(install, problems)
    by_path = {w.path: w for w in workflows}
    for wf in workflows:
        try:
            plan = compile_v6(install, wf, agents, by_path, problems)
        except RecursionError:
            problems.append(Diagnostic(wf.path, 0, 0, f"workflow '{wf.id}' invokes itself: not compiled"))
            continue
        _keep(catalog, wf.id, wf.name, wf.description, wf.kind, wf.path, plan, problems)
    for track in track_workflows(install, workflows, agents, problems):
        _keep(catalog, track.workflow_id, track.name, track.description, "track",
              track.source.path if track.source else install.shown(install.config_dir), track, problems)
    for spec in agents.values():
        catalog.agents.setdefault(spec.id, AgentDef(id=spec.id, name=spec.name, title=spec.title,
                                                    source=spec.source or SourceRef(path=str(install.root))))
    catalog.diagnostics.extend(problems)


def _keep(catalog: Catalog, wid: str, name: str, description: str, kind: str, path: str, plan: object,
          problems: list[Diagnostic]) -> None:
    from bmad.plan import Plan

    assert isinstance(plan, Plan)
    if wid in catalog.workflows:
        problems.append(Diagnostic(path, 0, 0, f"workflow id '{wid}' is already used by "
                                   f"{catalog.workflows[wid].source.path}; this one is not loaded"))
        return
    catalog.workflows[wid] = WorkflowDef(id=wid, name=name, description=description, type=kind,
                                         form=f"v6-{kind}", source=SourceRef(path=path))
    catalog.plans[wid] = plan


def _workflows(install: Install, problems: list[Diagnostic]) -> tuple[dict[str, AgentSpec], list[V6Workflow]]:
    """6.0: agents are `<module>/agents/**.md`; workflows are listed in `_config/workflow-manifest.csv`."""
    agents: dict[str, AgentSpec] = {}
    runs_by_agent: dict[Path, str] = {}
    for module in install.modules:
        for file in sorted((install.root / module / "agents").rglob("*.md")):
            spec = xml_agent(install, file, module, problems)
            if spec is None:
                continue
            agents.setdefault(spec.id, spec)
            for target in _MENU_TARGET.findall(file.read_text(encoding="utf-8")):
                runs_by_agent.setdefault(_on_disk(install, target), spec.id)
    rows = read_csv(install.config_dir / "workflow-manifest.csv", problems)
    files = [(r.get("module", ""), _on_disk(install, r.get("path", ""))) for r in rows if r.get("path")]
    if not rows:
        files = [(p.relative_to(install.root).parts[0], p) for p in sorted(install.root.glob("*/workflows/**/*"))
                 if p.name in ("workflow.yaml", "workflow.md")]
    helpers = {_on_disk(install, r.get("workflow-file", "")): r for r in help_rows(install, problems)
               if r.get("workflow-file")}
    workflows = []
    for module, file in files:
        if not file.is_file():
            problems.append(Diagnostic(install.shown(install.config_dir / "workflow-manifest.csv"), 0, 0,
                                       f"workflow file {file} listed by the manifest does not exist"))
            continue
        wf = from_yaml(install, file, module, problems) if file.suffix in (".yaml", ".yml") else \
            from_markdown(install, file, module, problems)
        if wf is None:
            continue
        helper = helpers.get(file, {})
        named = helper.get("agent-name") or helper.get("agent")
        wf.agent = runs_by_agent.get(file) or (named if named in agents else None) or \
            ("bmad-master" if "bmad-master" in agents else next(iter(agents), None))
        workflows.append(wf)
    return agents, workflows


def _on_disk(install: Install, path: str) -> Path:
    rel = path.replace("{project-root}", "").lstrip("/")
    top, _, rest = rel.partition("/")
    return install.root / rest if top in ("_bmad", ".bmad", "bmad") else install.project / rel


def skill_dirs(install: Install, problems: list[Diagnostic]) -> list[tuple[str, Path]]:
    """(module, folder) of every skill in `_config/skill-manifest.csv`: at its path when it is there (6.2), else in
    the project's IDE skill folders (6.3+: `.claude/skills`, `.agents/skills`, `.github/skills`)."""
    found = []
    manifest = install.config_dir / "skill-manifest.csv"
    for row in read_csv(manifest, problems):
        name = row.get("canonicalId") or row.get("name") or ""
        listed = _on_disk(install, row.get("path", "")).parent if row.get("path") else None
        places = ([listed] if listed else []) + [install.project / f / name for f in SKILL_FOLDERS]
        folder = next((p for p in places if (p / "SKILL.md").is_file()), None)
        if folder is None:
            problems.append(Diagnostic(install.shown(manifest), 0, 0, f"skill '{name}' is listed but its SKILL.md is "
                                       f"in none of {row.get('path')}, {', '.join(SKILL_FOLDERS)}"))
            continue
        found.append((row.get("module", ""), folder))
    return found


def _skills(install: Install, problems: list[Diagnostic]) -> tuple[dict[str, AgentSpec], list[V6Workflow]]:
    agents: dict[str, AgentSpec] = {}
    menus: dict[str, str] = {}
    dirs = skill_dirs(install, problems)
    rows = {r.get("skill", ""): r for r in help_rows(install, problems) if r.get("skill")}
    others = []
    for module, folder in dirs:
        table = skill_table(install, folder, "agent", problems)
        if folder.name.startswith("bmad-agent-") or table.get("role"):
            spec = skill_agent(install, folder, problems)
            agents[spec.id] = spec
            for item in table.get("menu") or []:
                if isinstance(item, dict) and item.get("skill"):
                    menus.setdefault(str(item["skill"]), spec.id)
        else:
            others.append((module, folder))
    workflows = []
    for module, folder in others:
        wf = from_skill(install, folder, module, rows, skill_table(install, folder, "workflow", problems), problems)
        wf.agent = menus.get(wf.id)
        if wf.agent is None:  # no agent offers it: the skill's own instructions are its persona
            spec = skill_agent(install, folder, problems)
            agents.setdefault(spec.id, spec)
            wf.agent = spec.id
        workflows.append(wf)
    return agents, workflows
